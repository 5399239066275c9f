"""A province head on PP-OCRv4's output: a linear probe (softmax regression) trained on class-balanced
renders (``models/plates/train_province_probe.py``).

PP-OCRv4 learned its features from a great deal of real text, but on rendered plates it pulls rare
provinces to common ones (皖, 豫, 冀) at high confidence: a frequency prior in its last layer.  Its
per-step output is a softmax of a linear map of its penultimate features, so the log-probabilities at the
province step are a linear image of those features, and a softmax regression on them is a linear probe
on PP-OCR's features, with its own (balanced) prior.  No graph surgery: the probe reads the same output
that :meth:`edge.plates.second_opinion.PaddleRecogniser.read_chars` decodes.

The province step is the step of the highest probability in the segment of the first character PP-OCR
emits that the plate alphabet holds (what the cleaned reading's first place comes from).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import ALPHABET, PROVINCES

__all__ = ["PROBE_FILE", "ProvinceProbe", "province_step", "step_features"]

PROBE_FILE = "paddle_province_probe.npz"
#: Log-probabilities are floored here, so that a column PP-OCR gives nothing does not dominate.
LOG_FLOOR = -20.0
_PLATE_CHARS = set(ALPHABET[1:]) - set("IO")  # GA 36 has no I or O in its first two places


def province_step(probs: npt.NDArray[np.float32], characters: list[str]) -> int | None:
    """The step of PP-OCR's output ``probs`` (steps x characters, blank first) where it is surest of the
    first character it emits that is in the plate alphabet (upper case), or None when it emits none."""
    index = probs.argmax(axis=1)
    steps = len(index)
    t = 0
    while t < steps:
        k = int(index[t])
        end = t
        while end + 1 < steps and index[end + 1] == k:
            end += 1
        if k != 0 and str(characters[k]).upper() in _PLATE_CHARS:
            return t + int(probs[t : end + 1, k].argmax())
        t = end + 1
    return None


def step_features(probs: npt.NDArray[np.float32], step: int) -> npt.NDArray[np.float32]:
    """Every column's log-probability at ``step``, floored at ``LOG_FLOOR``."""
    features: npt.NDArray[np.float32] = np.maximum(np.log(np.maximum(probs[step], 1e-30)), LOG_FLOOR).astype(
        np.float32
    )
    return features


class ProvinceGuess(NamedTuple):
    """The probe's province and its probability."""

    province: str
    probability: float


class ProvinceProbe:
    """The trained head: standardised log-probabilities of some of PP-OCR's columns, then a softmax
    over the 31 provinces.  Raises FileNotFoundError when the file is missing."""

    def __init__(self, path: Path) -> None:
        with np.load(path) as head:
            self.columns = head["columns"].astype(np.int64)
            self.mean = head["mean"].astype(np.float32)
            self.scale = head["scale"].astype(np.float32)
            self.weights = head["weights"].astype(np.float32)
            self.bias = head["bias"].astype(np.float32)
            self.provinces = str(head["provinces"])
        if self.provinces != PROVINCES or self.weights.shape != (len(self.columns), len(PROVINCES)):
            raise ValueError(f"{path} is not a province probe for this reader's provinces")

    def probabilities(self, features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Province probabilities (rows: samples) from :func:`step_features` rows (all columns)."""
        x = (np.atleast_2d(features)[:, self.columns] - self.mean) / self.scale
        logits = x @ self.weights + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        probabilities: npt.NDArray[np.float32] = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return probabilities

    def guess(self, probs: npt.NDArray[np.float32], characters: list[str]) -> ProvinceGuess | None:
        """The probe's province for one PP-OCR output, None when PP-OCR emits no plate character."""
        step = province_step(probs, characters)
        if step is None:
            return None
        p = self.probabilities(step_features(probs, step))[0]
        k = int(p.argmax())
        return ProvinceGuess(PROVINCES[k], float(p[k]))
