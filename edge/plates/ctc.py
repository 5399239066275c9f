"""CTC decoding with per-character confidences and plate-grammar repair.

The recogniser emits, for each of its time steps, a probability over ``ALPHABET`` (index 0 = blank).
Greedy decoding takes the best class per step and collapses repeats and blanks.  Each character's
confidence is the highest probability it reached over the steps that produced it.

Grammar repair: when greedy decoding gives the right number of characters but breaks the GA 36 grammar
(a digit where the province must be, an O for a 0, three letters in the serial), every position is
re-chosen among the characters that position may hold, from the same time steps; when that still leaves
more letters after the office letter than GA 36 allows (two), the letters least ahead of their
position's best digit become that digit.  It never adds or drops characters.

Home-province prior: most traffic at a station carries its own province's plates, and the province
character is the hardest one to read at plate resolution.  ``province_prior`` (see :func:`province_prior`)
turns the station's expected share of home plates into Bayes weights over the provinces; only the choice
*among provinces* for the first character changes, never the characters or their number.

Province classifier: ``province`` is a second opinion on the first character, from a network that reads
only the region around it.  The choice among provinces is then the product of the two readings (the
recogniser's best step over the segment, renormalised over the provinces, raised to
``RECOGNISER_PROVINCE_WEIGHT``) and the prior, again without changing the characters' number.

Suffix classifier: ``suffix`` is the same kind of second opinion on the last character.  When the
recogniser reads a suffix there, the choice among the suffixes a plate may end in (挂学警港澳领) is the
product of the two readings, the recogniser's at the same power (not tuned separately).  It is asked
only then: ``suffix`` may be a function that runs it, called at most once, so that a plate read with no
suffix (nearly all) does not pay for the classifier (0.5 ms a crop on one core, issue 15).

Embassy plates (``使014578``, GA 36-2014 figure 2) begin with 使 instead of a province: when the recogniser
reads 使 first, neither the province classifier nor the prior applies, and repair re-chooses the other six
characters among the digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import (
    ALPHABET,
    ALPHANUMERIC,
    DIGITS,
    EMBASSY_MARK,
    LAST_SUFFIXES,
    LETTERS,
    MAX_SERIAL_LETTERS,
    PROVINCES,
    SUFFIXES,
    validate,
)

__all__ = ["RECOGNISER_PROVINCE_WEIGHT", "Reading", "decode", "greedy_segments", "province_prior"]

#: Exponent of the recogniser's province probabilities in the product with the province classifier's.
#: The recogniser is over-confident on the province character.  On 3,000 synthetic tuning crops (seed
#: 555,001, used by no training run and not by bench/plates.py), with the shipped models, the province is
#: right in 96.57 % at 1 (the plain product), 96.40 % at 0 (the classifier alone), 96.53-96.67 % at 0.25-0.7
#: and 96.73 % at 0.5 (`python bench/province_weight.py`; docs/benchmarks.md).  The suffix classifier's
#: product uses it too.
RECOGNISER_PROVINCE_WEIGHT = 0.5


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
    + [_allowed(ALPHANUMERIC + LAST_SUFFIXES)],
    8: [_allowed(PROVINCES), _allowed(LETTERS), _allowed(ALPHANUMERIC)]
    + [_allowed(DIGITS)] * 4
    + [_allowed(ALPHANUMERIC)],
}


#: An embassy plate's positions: 使, then six digits.
_EMBASSY_SETS = [_allowed(EMBASSY_MARK)] + [_allowed(DIGITS)] * 6

_PROVINCE_INDEX = _allowed(PROVINCES)
_SUFFIX_INDEX = _allowed(LAST_SUFFIXES)
#: The suffix classifier's columns (over ``SUFFIXES`` and "none") for ``LAST_SUFFIXES``, in that order.
_SUFFIX_COLUMNS = np.array([SUFFIXES.index(ch) for ch in LAST_SUFFIXES], dtype=np.int64)
_DIGIT_INDEX = _allowed(DIGITS)


def _best(window: npt.NDArray[np.float32], allowed: npt.NDArray[np.int64]) -> tuple[str, float]:
    """The most probable of ``allowed`` over a segment's steps, and its probability."""
    sub = window[:, allowed]
    row, pick = np.unravel_index(int(sub.argmax()), sub.shape)
    return ALPHABET[allowed[pick]], float(sub[row, pick])


def _cap_serial_letters(
    chars: list[str], confidences: list[float], windows: list[npt.NDArray[np.float32]]
) -> None:
    """In place: with more than ``MAX_SERIAL_LETTERS`` letters after the office letter, turn the letters
    whose probability is least above their segment's best digit's into that digit."""
    serial = [i for i in range(2, len(chars)) if chars[i] in LETTERS]
    excess = len(serial) - MAX_SERIAL_LETTERS
    if excess <= 0:
        return
    digits = {i: _best(windows[i], _DIGIT_INDEX) for i in serial}
    for i in sorted(serial, key=lambda i: confidences[i] / max(digits[i][1], 1e-12))[:excess]:
        chars[i], confidences[i] = digits[i]


def province_prior(home: str, share: float) -> npt.NDArray[np.float64] | None:
    """Weights over ``ALPHABET`` for a station that expects ``share`` of its plates from ``home``.

    The other provinces share the rest evenly, so the home province is weighted
    ``share / ((1 - share) / (n - 1))`` relative to each of them (30x for a share of 0.5).  None when
    there is no home province or its share is no more than a uniform draw's.
    """
    if not home:
        return None
    if home not in PROVINCES:
        raise ValueError(f"home province {home!r} is not a GA 36 province character; use one of {PROVINCES}")
    if not 0.0 <= share < 1.0:
        raise ValueError(f"home province share must be in [0, 1), got {share}")
    uniform = 1.0 / len(PROVINCES)
    if share <= uniform:
        return None
    weights = np.ones(len(ALPHABET))
    weights[_INDEX[home]] = share / ((1.0 - share) / (len(PROVINCES) - 1))
    return weights


def _second_look(
    window: npt.NDArray[np.float32],
    index: npt.NDArray[np.int64],
    classifier: npt.NDArray[np.float32],
    weights: npt.NDArray[np.float64] | None = None,
) -> tuple[str, float]:
    """Among the characters ``index``: the one with the highest product of the recogniser's probability
    (its best step over the segment, renormalised over them, to the power ``RECOGNISER_PROVINCE_WEIGHT``),
    a classifier's (``classifier``, over the same characters in the same order) and ``weights``; and that
    product renormalised."""
    recogniser = window[:, index].astype(np.float64).max(axis=0)
    recogniser = (recogniser / max(float(recogniser.sum()), 1e-12)) ** RECOGNISER_PROVINCE_WEIGHT
    combined = recogniser * classifier.astype(np.float64)
    if weights is not None:
        combined = combined * weights[index]
    combined /= max(float(combined.sum()), 1e-300)
    best = int(combined.argmax())
    return ALPHABET[index[best]], float(combined[best])


def _pick_province(
    window: npt.NDArray[np.float32],
    prior: npt.NDArray[np.float64] | None,
    province: npt.NDArray[np.float32] | None = None,
) -> tuple[str, float]:
    """The province with the highest prior-weighted probability over a segment's steps, and its
    posterior (the weighted probability renormalised over the whole step).

    With ``province`` (the province classifier's probabilities over ``PROVINCES``): :func:`_second_look`
    with the prior as weights."""
    if province is not None:
        return _second_look(window, _PROVINCE_INDEX, province, prior)
    weighted = window.astype(np.float64) * (1.0 if prior is None else prior)  # steps x classes
    weighted /= weighted.sum(axis=1, keepdims=True)
    provinces = weighted[:, _PROVINCE_INDEX]
    row, pick = np.unravel_index(int(provinces.argmax()), provinces.shape)
    return ALPHABET[_PROVINCE_INDEX[pick]], float(provinces[row, pick])


def _pick_suffix(window: npt.NDArray[np.float32], suffix: npt.NDArray[np.float32]) -> tuple[str, float]:
    """The suffix character by :func:`_second_look` among ``LAST_SUFFIXES``, from the suffix classifier's
    probabilities over ``SUFFIXES`` and "none" (使, which never ends a plate, and "none" are dropped: the
    recogniser has already read a suffix here)."""
    return _second_look(window, _SUFFIX_INDEX, suffix[_SUFFIX_COLUMNS])


def greedy_segments(best: npt.NDArray[np.intp]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The first and the last step of each character greedy decoding emits, from the best class of each
    step (0: blank): a run of one class other than the blank is one character (repeats collapse; a blank
    between two of the same class makes them two)."""
    previous = np.concatenate(([0], best[:-1]))
    following = np.concatenate((best[1:], [0]))
    emitting = best != 0
    return np.flatnonzero(emitting & (best != previous)), np.flatnonzero(emitting & (best != following))


def _segment_maxima(
    probabilities: npt.NDArray[np.float32], best: npt.NDArray[np.intp], starts: npt.NDArray[np.intp]
) -> list[float]:
    """Each segment's highest probability of its own class.  From a segment's first step to the next
    one's, only blanks follow its run, so the blanks masked out, a maximum from each start is the run's."""
    if not len(starts):
        return []
    own = probabilities[np.arange(len(best)), best]
    maxima: list[float] = np.maximum.reduceat(np.where(best != 0, own, -np.inf), starts).tolist()
    return maxima


def decode(
    probabilities: npt.NDArray[np.float32],
    layout: str | None = None,
    prior: npt.NDArray[np.float64] | None = None,
    province: npt.NDArray[np.float32] | None = None,
    suffix: npt.NDArray[np.float32] | Callable[[], npt.NDArray[np.float32]] | None = None,
) -> Reading:
    """Decode one (T, classes) probability matrix; ``prior`` from :func:`province_prior` or None;
    ``province``: the province classifier's probabilities over ``PROVINCES``, or None; ``suffix``: the
    suffix classifier's over ``SUFFIXES`` and "none" (or a function returning them, called only when the
    recogniser reads a suffix last), or None.  With it, a suffix that the recogniser reads as the last
    character is re-chosen among the suffixes; a letter or digit there is left alone."""
    second_opinion = prior is not None or province is not None
    suffix_probs: list[npt.NDArray[np.float32]] = []

    def suffix_look(window: npt.NDArray[np.float32]) -> tuple[str, float]:
        assert suffix is not None
        if not suffix_probs:
            suffix_probs.append(suffix() if callable(suffix) else suffix)
        return _pick_suffix(window, suffix_probs[0])

    best = probabilities.argmax(axis=1)
    starts, ends = greedy_segments(best)
    segments = list(zip(starts.tolist(), ends.tolist(), strict=True))
    chars = [ALPHABET[k] for k in best[starts].tolist()]
    confidences = _segment_maxima(probabilities, best, starts)
    if second_opinion and segments and chars[0] in PROVINCES:
        a, b = segments[0]
        chars[0], confidences[0] = _pick_province(probabilities[a : b + 1], prior, province)
    if suffix is not None and len(segments) > 2 and chars[-1] in SUFFIXES:
        a, b = segments[-1]
        chars[-1], confidences[-1] = suffix_look(probabilities[a : b + 1])
    text = "".join(chars)
    embassy = text.startswith(EMBASSY_MARK)
    if embassy:
        position_sets = _EMBASSY_SETS if len(segments) == len(_EMBASSY_SETS) else None
    else:
        position_sets = _POSITION_SETS.get(len(segments))
    if not validate(text, layout) or position_sets is None:
        return Reading(text, tuple(confidences), repaired=False)
    windows = [probabilities[a : b + 1] for a, b in segments]
    repaired_chars, repaired_conf = [], []
    for position, (window, allowed) in enumerate(zip(windows, position_sets, strict=True)):
        if position == 0 and second_opinion and not embassy:
            ch, conf = _pick_province(window, prior, province)
        else:
            ch, conf = _best(window, allowed)
            if suffix is not None and position == len(segments) - 1 and ch in SUFFIXES:
                ch, conf = suffix_look(window)
        repaired_chars.append(ch)
        repaired_conf.append(conf)
    _cap_serial_letters(repaired_chars, repaired_conf, windows)
    repaired = "".join(repaired_chars)
    if repaired != text and not validate(repaired, layout):
        return Reading(repaired, tuple(repaired_conf), repaired=True)
    return Reading(text, tuple(confidences), repaired=False)
