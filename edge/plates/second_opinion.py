"""A second opinion on uncertain readings: the PP-OCRv4 text recogniser shipped in the PyPI package
``rapidocr-onnxruntime`` (Apache-2.0; its ONNX models are inside the wheel, so it runs offline).

The project's own networks read a confident crop in 1-3 ms; PP-OCRv4, trained on a great deal of real
text, takes 20-70 ms a crop on one core but reads real single-row plates more often right (97.5 % of the
323 real crops in ``../shared`` against 93.2 %).  So it is asked only about readings the reader is not
sure of (:func:`edge.plates.reader.PlateReader.read_crops`).  It reads text lines, so a double-row
plate is handed to it as its two rows side by side (:func:`edge.plates.preprocess.rows_side_by_side`).

Its text is cleaned to the plate alphabet (the separator dot, spaces and colons dropped, letters upper
case) and repaired like the reader's own: in the serial, where GA 36 has no I or O, an I is a 1 and an O
a 0.
"""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from typing import Any, NamedTuple
from unittest import mock

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import ALPHABET
from edge.plates.probe import PROBE_FILE, ProvinceGuess, ProvinceProbe

__all__ = ["Opinion", "PaddleRecogniser", "available", "clean", "clean_chars"]

log = logging.getLogger(__name__)

PACKAGE = "rapidocr_onnxruntime"
MODEL = "ch_PP-OCRv4_rec_infer.onnx"
_ALPHABET = set(ALPHABET)
_SERIAL_LOOKALIKES = str.maketrans("IO", "10")


def available() -> bool:
    """True when the package and its recogniser model are installed."""
    try:
        return (files(PACKAGE) / "models" / MODEL).is_file()
    except ModuleNotFoundError:
        return False


class Opinion(NamedTuple):
    """PP-OCR's reading of one crop: the cleaned text, its mean character score, each kept character's
    own score (the CTC frame probability of that character, as rapidocr computes the mean), and the
    province probe's guess from the same output (:mod:`edge.plates.probe`; None without the probe or
    when PP-OCR emits no plate character)."""

    text: str
    score: float
    chars: tuple[float, ...]
    province: ProvinceGuess | None = None


def clean_chars(text: str, probs: tuple[float, ...] | None = None) -> tuple[str, tuple[float, ...]]:
    """``text`` in the plate alphabet with each kept character's probability: letters upper case, other
    characters dropped; I and O dropped from the first two places (province and office letter) and read
    as 1 and 0 in the serial, where GA 36 has none."""
    probs = probs if probs is not None else (1.0,) * len(text)
    kept = [(c, p) for c, p in zip(text.upper(), probs, strict=False) if c in _ALPHABET or c in "IO"]
    head = [(c, p) for c, p in kept[:2] if c not in "IO"]  # province (or 使) and office letter
    serial = [(c.translate(_SERIAL_LOOKALIKES), p) for c, p in kept[2:]]
    out = head + serial
    return "".join(c for c, _ in out), tuple(p for _, p in out)


def clean(text: str) -> str:
    """PP-OCR's reading in the plate alphabet, I and O in the serial read as 1 and 0."""
    return clean_chars(text)[0]


class PaddleRecogniser:
    """PP-OCRv4's recogniser through rapidocr's own pre- and post-processing, loaded from the installed
    package (never downloaded).  Raises ModuleNotFoundError when the package is not installed."""

    def __init__(self, threads: int = 1, probe: Path | bool = True) -> None:
        """``probe``: the province probe's file, True for the packaged one (``models/plates``), False for
        none; without one (or a missing file) :attr:`Opinion.province` is None."""
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer, text_recognize
        from rapidocr_onnxruntime.utils import OrtInferSession

        class Session(OrtInferSession):  # type: ignore[misc]
            """rapidocr's session (no CPU arena, full graph optimisation) without memory patterns:
            onnxruntime's default plans and keeps a pattern for every input shape it sees, and each crop
            brings a new width (issue 19, docs/benchmarks.md)."""

            @staticmethod
            def _init_sess_opts(config: dict[str, Any]) -> Any:
                options = OrtInferSession._init_sess_opts(config)
                options.enable_mem_pattern = False
                return options

        path = files(PACKAGE) / "models" / MODEL
        if not path.is_file():
            raise ModuleNotFoundError(f"{PACKAGE} is installed without {MODEL}: reinstall it")
        config: dict[str, Any] = {
            "model_path": str(path),
            "rec_batch_num": 6,
            "rec_img_shape": [3, 48, 320],
            "intra_op_num_threads": threads,
            "inter_op_num_threads": 1,
        }
        with mock.patch.object(text_recognize, "OrtInferSession", Session):  # built once, at load
            self._recogniser = TextRecognizer(config)
        self._probe: ProvinceProbe | None = None
        if probe is not False:
            path = Path(str(files("models.plates") / PROBE_FILE)) if probe is True else Path(probe)
            if path.is_file():
                self._probe = ProvinceProbe(path)
            else:
                log.warning("no province probe at %s: disputed provinces stay uncertain", path)
        self.read([np.zeros((24, 94, 3), np.uint8)])  # warm up: the first truck pays nothing

    def read(self, crops: list[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """(cleaned text, PP-OCR's mean character score) per crop."""
        if not crops:
            return []
        results, _ = self._recogniser(crops)
        return [(clean(str(text)), float(score)) for text, score in results]

    @property
    def characters(self) -> list[str]:
        """The network's output columns: the CTC blank first, then its dictionary."""
        return list(self._recogniser.postprocess_op.character)

    def outputs(self, crop: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """The network's per-step character probabilities for one crop (steps x :attr:`characters`),
        with rapidocr's own input scaling (``resize_norm_img``) and no padding to another crop's width."""
        recogniser = self._recogniser
        h, w = crop.shape[:2]
        _, height, width = recogniser.rec_image_shape
        image = recogniser.resize_norm_img(crop, max(width / height, w / max(h, 1)))
        return np.asarray(recogniser.session(image[None].astype(np.float32))[0][0], dtype=np.float32)

    def read_chars(self, crops: list[npt.NDArray[np.uint8]]) -> list[Opinion]:
        """An :class:`Opinion` per crop, with a probability for every character.  Same network and
        input scaling as :meth:`read` (rapidocr's own ``resize_norm_img``), one crop at a time so that no
        crop is padded to another's width; a greedy CTC decode that keeps each character's probability."""
        characters = self.characters
        out = []
        for crop in crops:
            probs = self.outputs(crop)
            index = probs.argmax(axis=1)
            best = probs.max(axis=1)
            chars, scores = [], []
            for t, k in enumerate(index):
                if k == 0 or (t > 0 and index[t - 1] == k):
                    continue  # the CTC blank, or the same character held over several frames
                chars.append(str(characters[k]))
                scores.append(float(best[t]))
            text, kept = clean_chars("".join(chars), tuple(scores))
            if len("".join(chars)) != len(chars):  # a multi-character token: no per-character alignment
                text = clean("".join(chars))
                kept = (float(np.mean(scores)),) * len(text) if scores else ()
            guess = self._probe.guess(probs, characters) if self._probe is not None else None
            out.append(Opinion(text, float(np.mean(scores)) if scores else 0.0, kept, guess))
        return out
