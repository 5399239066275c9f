"""Colour proposals: plate-coloured rectangles in a frame, a second proposal stage beside the detector.

The project's detector was trained on synthetic frames and scores many real plates far below its
threshold.  Chinese plates have a few fixed background colours (GA 36: blue, yellow, new-energy green;
white and black plates are left to the detector), so a plate in a real photograph is, nearly always, a
compact rectangle of one of those colours with an aspect ratio between a double-row plate's (2:1) and a
new-energy plate's (3.4:1), seen at an angle.  This module finds such rectangles with an HSV threshold,
a morphological close (the characters punch holes in the colour) and a rotated bounding rectangle.

A proposal is only a place to look: :meth:`edge.plates.reader.PlateReader.read_frame` keeps it when the
recogniser reads a plate there that the grammar accepts, with confidence, or (a plate too small to read)
when the rectangle holds the strong contrast of characters on a plate colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.plates.preprocess import order_corners

__all__ = ["PLATE_COLOURS", "Proposal", "colour_proposals"]

#: HSV ranges (OpenCV: hue 0-180) of plate backgrounds.  Blue allows dark values: a blue plate in shade
#: or under-exposed reads at V 40-60; its saturation stays high, unlike grey tarmac or shadow.
PLATE_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    "blue": ((100, 90, 30), (125, 255, 255)),
    "yellow": ((12, 90, 90), (35, 255, 255)),
    "green": ((35, 40, 90), (85, 255, 255)),
}
#: Long side / short side of the rotated rectangle: a double-row plate is 2:1 (440 x 220 mm), a
#: new-energy plate 3.4:1, a single-row one 3.1:1; perspective and a loose colour fit widen the range.
ASPECT_RANGE = (1.3, 6.0)
#: The colour region's area over its rotated rectangle's: a plate is a filled rectangle.
MIN_FILL = 0.6
#: Frames are searched at most this wide (a 1080p frame at half size); plates stay 40+ px wide.
SEARCH_WIDTH_PX = 960
#: A proposal is grown about its centre by these factors (width, height) before it is read: the colour
#: often covers less than the plate (a new-energy plate fades to white; the rivets and frame are grey).
GROW = (1.08, 1.2)
#: Smallest rectangle searched, (long, short) side in frame pixels.
MIN_SIDES_PX = (14.0, 6.0)


@dataclass(frozen=True)
class Proposal:
    corners: npt.NDArray[np.float32]  # 4 x 2 frame pixels, TL TR BR BL
    colour: str
    contrast: float  # grey-level standard deviation inside the upright box (characters on a background)

    @property
    def short_side(self) -> float:
        tl, tr, _, bl = self.corners
        return float(min(np.linalg.norm(tr - tl), np.linalg.norm(bl - tl)))


def colour_proposals(frame: npt.NDArray[np.uint8], max_proposals: int = 8) -> list[Proposal]:
    """Plate-coloured rectangles of plate shape in a BGR frame, largest first."""
    h, w = frame.shape[:2]
    scale = min(1.0, SEARCH_WIDTH_PX / w) if w else 1.0
    small = (
        frame
        if scale == 1.0
        else cv2.resize(frame, (round(w * scale), max(round(h * scale), 1)), interpolation=cv2.INTER_AREA)
    )
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    sh, sw = small.shape[:2]
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, sw // 200), max(3, sh // 300)))
    found: list[tuple[float, Proposal]] = []
    for colour, (low, high) in PLATE_COLOURS.items():
        mask = cv2.morphologyEx(cv2.inRange(hsv, low, high), cv2.MORPH_CLOSE, kernel)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            (cx, cy), (rw, rh), angle = cv2.minAreaRect(contour)
            long_side, short_side = max(rw, rh) / scale, min(rw, rh) / scale
            if long_side < MIN_SIDES_PX[0] or short_side < MIN_SIDES_PX[1] or long_side > w / 2:
                continue
            if not ASPECT_RANGE[0] <= long_side / short_side <= ASPECT_RANGE[1]:
                continue
            if cv2.contourArea(contour) < MIN_FILL * rw * rh:
                continue
            points = _quadrilateral(contour)
            if points is None:
                points = cv2.boxPoints(((cx, cy), (rw, rh), angle)).astype(np.float32)
            corners = _grown(order_corners(points / scale))
            x0, y0 = np.clip(corners.min(axis=0), 0, None).astype(int)
            x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
            patch = frame[y0 : max(y1, y0 + 1), x0 : max(x1, x0 + 1)]
            # Only the patch is turned grey: the whole 1080p frame took 1-2 ms, for a few small boxes.
            contrast = float(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY).std()) if patch.size else 0.0
            found.append((long_side * short_side, Proposal(corners, colour, contrast)))
    found.sort(key=lambda item: -item[0])
    return [p for _, p in found[:max_proposals]]


def _grown(corners: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The quadrilateral (TL TR BR BL) grown about its centre by ``GROW``."""
    tl, tr, br, bl = corners
    across = ((tr - tl) + (br - bl)) / 2  # the plate's width direction
    down = ((bl - tl) + (br - tr)) / 2
    grown = corners + np.array([-1, 1, 1, -1])[:, None] * ((GROW[0] - 1) / 2 * across)
    grown = grown + np.array([-1, -1, 1, 1])[:, None] * ((GROW[1] - 1) / 2 * down)
    out: npt.NDArray[np.float32] = grown.astype(np.float32)
    return out


def _quadrilateral(contour: npt.NDArray[Any]) -> npt.NDArray[np.float32] | None:
    """The contour's convex hull simplified to four corners (a plate seen in perspective is no
    rectangle: its vertical edges stay vertical while its top and bottom slope), or None."""
    hull = cv2.convexHull(contour)
    perimeter = cv2.arcLength(hull, True)
    for share in (0.02, 0.04, 0.06, 0.08, 0.1):
        approx = cv2.approxPolyDP(hull, share * perimeter, True)
        if len(approx) == 4:
            return np.asarray(approx, dtype=np.float32).reshape(4, 2)
        if len(approx) < 4:
            return None
    return None
