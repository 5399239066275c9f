"""CTC decoding with per-character confidences and plate-grammar repair.

The recogniser emits, for each of its time steps, a probability over ``ALPHABET`` (index 0 = blank).
Greedy decoding takes the best class per step and collapses repeats and blanks.  Each character's
confidence is the highest probability it reached over the steps that produced it.

Grammar repair: when greedy decoding gives the right number of characters but breaks the GA 36 grammar
(a digit where the province must be, an O for a 0), every position is re-chosen among the characters
that position may hold, from the same time steps.  It never adds or drops characters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import ALPHABET, ALPHANUMERIC, DIGITS, LETTERS, PROVINCES, SUFFIXES, validate

__all__ = ["Reading", "decode"]


@dataclass(frozen=True)
class Reading:
    text: str
    char_confidences: tuple[float, ...]
    repaired: bool  # grammar repair changed at least one character

    @property
    def confidence(self) -> float:
        """The weakest character's confidence: a plate is only as sure as its least sure character."""
        return min(self.char_confidences) if self.char_confidences else 0.0


_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}


def _allowed(chars: str) -> npt.NDArray[np.int64]:
    return np.array([_INDEX[ch] for ch in chars], dtype=np.int64)


# Allowed characters per position, for 7- and 8-character plates (union over the plate types).
_POSITION_SETS: dict[int, list[npt.NDArray[np.int64]]] = {
    7: [_allowed(PROVINCES), _allowed(LETTERS)]
    + [_allowed(ALPHANUMERIC)] * 4
    + [_allowed(ALPHANUMERIC + SUFFIXES)],
    8: [_allowed(PROVINCES), _allowed(LETTERS), _allowed(ALPHANUMERIC)]
    + [_allowed(DIGITS)] * 4
    + [_allowed(ALPHANUMERIC)],
}


def decode(probabilities: npt.NDArray[np.float32], layout: str | None = None) -> Reading:
    """Decode one (T, classes) probability matrix."""
    best = probabilities.argmax(axis=1)
    segments: list[tuple[int, int]] = []  # (first step, last step) of each emitted character
    previous = 0
    for step, cls in enumerate(best):
        if cls not in (0, previous):
            segments.append((step, step))
        elif cls != 0:
            segments[-1] = (segments[-1][0], step)
        previous = int(cls)
    chars = [ALPHABET[best[a]] for a, _ in segments]
    confidences = [float(probabilities[a : b + 1, best[a]].max()) for a, b in segments]
    text = "".join(chars)
    if not validate(text, layout) or len(segments) not in _POSITION_SETS:
        return Reading(text, tuple(confidences), repaired=False)
    repaired_chars, repaired_conf = [], []
    for (a, b), allowed in zip(segments, _POSITION_SETS[len(segments)], strict=True):
        window = probabilities[a : b + 1][:, allowed]
        row, pick = np.unravel_index(int(window.argmax()), window.shape)
        repaired_chars.append(ALPHABET[allowed[pick]])
        repaired_conf.append(float(window[row, pick]))
    repaired = "".join(repaired_chars)
    if repaired != text and not validate(repaired, layout):
        return Reading(repaired, tuple(repaired_conf), repaired=True)
    return Reading(text, tuple(confidences), repaired=False)
