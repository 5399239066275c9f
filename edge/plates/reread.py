"""Test-time re-reads of a plate the two readers could not settle (issue 15, third sitting).

A reading that stays ``uncertain`` after the second opinion (:meth:`edge.plates.reader.PlateReader.settle`)
is read again from a few variants of its crop: the same plate framed a little tighter and looser,
turned and sheared by a degree or two, and under a brighter and a darker tone curve.  These are the
nuisances a real crop differs by (the detector's corners, the camera's tilt, exposure), and a reader
whose answer flips between them was not reading the glyph but the nuisance.

Our reader reads every variant (one batch, a few ms), PP-OCR the first
(:data:`edge.plates.reader.REREAD_PADDLE`; 25-50 ms each).  Each reader's readings are then pooled per
character place (:func:`consensus`): a character's pooled confidence is the mean, over the original and
the variants,
of the confidence with which that reader read it there (0 where it read another character, or a
reading of another length).  That is the reader's confidence averaged over the nuisances, which is
lower than one read's whenever the reader is unstable.  The two pooled readings are then settled by
the same character-level fusion and thresholds as a single read (:func:`edge.plates.reader.fuse`): a
place both agree on, or one the sure reader wins; anything else stays uncertain.

Every variant keeps the crop's own size, so no reader sees the plate at another scale than it would.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["VARIANTS", "consensus", "variants"]

UInt8Image = npt.NDArray[np.uint8]

#: The variants, as (zoom, rotation in degrees, horizontal shear, gamma).  Zoom > 1 frames the plate
#: tighter (the detector's corners a little inside it), < 1 looser; the rotations and shear are those of
#: a camera a degree or two off the plate's axis; the gammas brighten a dark plate and darken a washed-out
#: one.  Round figures chosen before any measurement, not fitted.
VARIANTS: tuple[tuple[float, float, float, float], ...] = (
    (1.06, 0.0, 0.0, 1.0),
    (0.92, 0.0, 0.0, 1.0),
    (1.0, 2.0, 0.0, 1.0),
    (1.0, -2.0, 0.0, 1.0),
    (1.0, 0.0, 0.08, 0.7),
    (1.0, 0.0, -0.08, 1.4),
)


def _gamma_lut(gamma: float) -> UInt8Image:
    return np.asarray(np.clip(255.0 * (np.arange(256) / 255.0) ** gamma + 0.5, 0, 255), dtype=np.uint8)


def variants(
    crop: UInt8Image, which: Sequence[tuple[float, float, float, float]] = VARIANTS
) -> list[UInt8Image]:
    """The crop re-framed and re-toned as ``which`` says, each at the crop's own size (edges replicated)."""
    h, w = crop.shape[:2]
    centre = (w / 2.0, h / 2.0)
    out = []
    for zoom, degrees, shear, gamma in which:
        matrix = cv2.getRotationMatrix2D(centre, degrees, zoom)
        # Shear about the centre: x += shear * (y - cy).
        matrix[0, 1] += shear * zoom
        matrix[0, 2] -= shear * zoom * centre[1]
        image = cv2.warpAffine(crop, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if gamma != 1.0:
            image = cv2.LUT(image, _gamma_lut(gamma))
        out.append(np.asarray(image, dtype=np.uint8))
    return out


def consensus(
    readings: Sequence[tuple[str, Sequence[float]]], length: int
) -> tuple[str, tuple[float, ...]] | None:
    """One reader's readings of the same plate pooled per place: at each of ``length`` places the
    character with the highest mean confidence over all ``readings`` (text, per-character confidences),
    and that mean.  A reading of another length counts, at every place, as a read of nothing (it lowers
    the means).  None when no reading has ``length`` characters."""
    if not readings or length < 1:
        return None
    totals: list[dict[str, float]] = [{} for _ in range(length)]
    counted = 0
    for text, confidences in readings:
        if len(text) != length or len(confidences) != length:
            continue
        counted += 1
        for k, (ch, p) in enumerate(zip(text, confidences, strict=True)):
            totals[k][ch] = totals[k].get(ch, 0.0) + float(p)
    if not counted:
        return None
    n = len(readings)
    chars, means = [], []
    for place in totals:
        ch = max(place, key=lambda c: place[c])
        chars.append(ch)
        means.append(place[ch] / n)
    return "".join(chars), tuple(means)
