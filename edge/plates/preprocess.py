"""Image preparation for the plate models: one module shared by the training scripts and the runtime.

Training (``models/plates/train_*.py``) and inference (:mod:`edge.plates.reader`) call the same
functions, so the models always see at run time exactly what they saw in training.

- The **classifier** takes the whole crop resized to ``CLASSIFIER_SIZE``.
- The **province classifier** takes the region of the crop around the province character, resized to
  ``PROVINCE_SIZE``: a second, closer look at the plate's most complex glyph.  The **suffix classifier**
  takes the region around the last character (where 挂, 学, 警, 港, 澳 and 领 stand) at the same size.
- The **recogniser** takes one text line of ``RECOGNISER_SIZE``.  A double-row plate is cut into its top
  row (province and office letter) and its bottom row, which are put side by side: the usual trick that
  lets one CTC reader handle both layouts (DOMAIN.md section 6).
- The **detector** takes the frame letter-boxed into ``DETECTOR_SIZE``.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "CLASSIFIER_SIZE",
    "DETECTOR_SIZE",
    "DETECTOR_STRIDE",
    "PROVINCE_SIZE",
    "RECOGNISER_SIZE",
    "Letterbox",
    "classifier_input",
    "detector_input",
    "order_corners",
    "province_input",
    "recogniser_input",
    "rectify",
    "rows_side_by_side",
    "suffix_input",
    "to_chw_float",
]

#: (height, width) of the model inputs.
RECOGNISER_SIZE = (32, 128)
CLASSIFIER_SIZE = (32, 64)
PROVINCE_SIZE = (40, 32)
DETECTOR_SIZE = (288, 512)
DETECTOR_STRIDE = 4

#: Double-row split, as fractions of the crop height.  GA 36: the top row's 60 mm characters sit in the
#: upper ~40 % of the 220 mm plate, the bottom row's 110 mm characters in the lower ~55 %; the two cuts
#: overlap so a loose crop still keeps every character whole.
_TOP_ROW = (0.0, 0.45)
_BOTTOM_ROW = (0.33, 1.0)
#: Width shares of the two rows in the recogniser's line (2 and 5 characters).
_TOP_SHARE = 0.32
#: Where the province character is, as (top, bottom) and (left, right) fractions of the crop, by rows.
#: GA 36: a single-row plate starts with it (15.5-60.5 mm of 440; new energy: of 480), a double-row one
#: has it on the left of the top row (110-190 mm of 440, 15-75 mm of 220).  The cuts leave room for the
#: crop margins of the detector and of third-party crops (a few per cent of the width either way).
_PROVINCE_REGION = {1: ((0.0, 1.0), (0.0, 0.24)), 2: ((0.0, 0.45), (0.15, 0.52))}
#: Where the last character is, likewise: the right end of a single-row plate (379.5-424.5 mm of 440), or
#: of a double-row plate's bottom row (its fifth 65 mm character ends 15 mm from the right edge, 95-205 mm
#: of 220).
_SUFFIX_REGION = {1: ((0.0, 1.0), (0.76, 1.0)), 2: ((0.33, 1.0), (0.78, 1.0))}

UInt8Image = npt.NDArray[np.uint8]


def _resize(image: UInt8Image, height: int, width: int) -> UInt8Image:
    shrinking = image.shape[0] > height or image.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(image, (width, height), interpolation=interpolation), dtype=np.uint8)


def _as_bgr(image: npt.NDArray[np.uint8]) -> UInt8Image:
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if image.shape[2] == 4:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    return image


def recogniser_input(crop_bgr: UInt8Image, rows: int) -> UInt8Image:
    """The text line the recogniser reads (BGR uint8, ``RECOGNISER_SIZE``)."""
    crop = _as_bgr(crop_bgr)
    height, width = RECOGNISER_SIZE
    if rows == 1:
        return _resize(crop, height, width)
    h = crop.shape[0]
    top = crop[int(_TOP_ROW[0] * h) : max(int(_TOP_ROW[1] * h), 1)]
    # The top row's two characters sit in the middle 60 % of the plate's width.
    w = crop.shape[1]
    top = top[:, int(0.18 * w) : max(int(0.82 * w), 1)]
    bottom = crop[int(_BOTTOM_ROW[0] * h) :]
    top_width = round(width * _TOP_SHARE)
    return np.hstack([_resize(top, height, top_width), _resize(bottom, height, width - top_width)])


def rows_side_by_side(crop_bgr: UInt8Image, height: int = 48) -> UInt8Image:
    """A double-row plate as one text line ``height`` px high, its rows at their own aspect: the top row's
    middle (where its two characters are), then the bottom row.  For a reader of text lines that takes
    any width (PP-OCR's recogniser, :mod:`edge.plates.second_opinion`)."""
    crop = _as_bgr(crop_bgr)
    h, w = crop.shape[:2]
    top = crop[int(_TOP_ROW[0] * h) : max(int(_TOP_ROW[1] * h), 1), int(0.18 * w) : max(int(0.82 * w), 1)]
    bottom = crop[int(_BOTTOM_ROW[0] * h) :]
    parts = [
        _resize(part, height, max(round(part.shape[1] * height / max(part.shape[0], 1)), 1))
        for part in (top, bottom)
    ]
    return np.hstack(parts)


def province_input(crop_bgr: UInt8Image, rows: int) -> UInt8Image:
    """The region around the province character (BGR uint8, ``PROVINCE_SIZE``)."""
    return _region(crop_bgr, _PROVINCE_REGION[2 if rows == 2 else 1])


def suffix_input(crop_bgr: UInt8Image, rows: int) -> UInt8Image:
    """The region around the last character (BGR uint8, ``PROVINCE_SIZE``)."""
    return _region(crop_bgr, _SUFFIX_REGION[2 if rows == 2 else 1])


def _region(crop_bgr: UInt8Image, where: tuple[tuple[float, float], tuple[float, float]]) -> UInt8Image:
    crop = _as_bgr(crop_bgr)
    (top, bottom), (left, right) = where
    h, w = crop.shape[:2]
    region = crop[int(top * h) : max(int(bottom * h), 1), int(left * w) : max(int(right * w), 1)]
    return _resize(region, *PROVINCE_SIZE)


def classifier_input(crop_bgr: UInt8Image) -> UInt8Image:
    """The whole crop at ``CLASSIFIER_SIZE`` (BGR uint8)."""
    return _resize(_as_bgr(crop_bgr), *CLASSIFIER_SIZE)


def to_chw_float(images: UInt8Image) -> npt.NDArray[np.float32]:
    """uint8 HWC (or NHWC) BGR -> float32 CHW (NCHW) in [-1, 1], the models' input convention."""
    # Transposed as it is converted (one copy), then scaled in place: the same float32 operations as
    # ``x.astype(np.float32) * (2 / 255) - 1``, 5-10 us a crop's image sooner than that and np.moveaxis.
    n = images.ndim
    x = images.transpose(*range(n - 3), n - 1, n - 3, n - 2).astype(np.float32, order="C")
    x *= 2.0 / 255.0
    x -= 1.0
    return x


class Letterbox:
    """Scale and padding that fit a frame into ``DETECTOR_SIZE`` without distortion."""

    def __init__(self, frame_height: int, frame_width: int) -> None:
        out_h, out_w = DETECTOR_SIZE
        self.scale = min(out_h / frame_height, out_w / frame_width)
        # At least one pixel either way: a 2 x 3000 px image would otherwise round to a height of 0.
        self.new_h = max(round(frame_height * self.scale), 1)
        self.new_w = max(round(frame_width * self.scale), 1)
        self.pad_y = (out_h - self.new_h) // 2
        self.pad_x = (out_w - self.new_w) // 2

    def to_frame(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Detector-input coordinates (x, y) -> frame pixels."""
        out = points.astype(np.float32).copy()
        out[..., 0] = (out[..., 0] - self.pad_x) / self.scale
        out[..., 1] = (out[..., 1] - self.pad_y) / self.scale
        return out

    def to_input(self, points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Frame pixels -> detector-input coordinates."""
        out = points.astype(np.float32).copy()
        out[..., 0] = out[..., 0] * self.scale + self.pad_x
        out[..., 1] = out[..., 1] * self.scale + self.pad_y
        return out


def detector_input(frame_bgr: UInt8Image) -> tuple[UInt8Image, Letterbox]:
    """The frame letter-boxed into ``DETECTOR_SIZE`` (grey padding), and the mapping back.

    Raises ValueError for an image with no pixels."""
    frame = _as_bgr(frame_bgr)
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"an image of {frame.shape[1]} x {frame.shape[0]} px has no pixels to search")
    box = Letterbox(frame.shape[0], frame.shape[1])
    canvas = np.full((*DETECTOR_SIZE, 3), 114, dtype=np.uint8)
    canvas[box.pad_y : box.pad_y + box.new_h, box.pad_x : box.pad_x + box.new_w] = cv2.resize(
        frame, (box.new_w, box.new_h), interpolation=cv2.INTER_AREA
    )
    return canvas, box


def order_corners(points: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Four points in the order top-left, top-right, bottom-right, bottom-left."""
    pts = np.asarray(points, dtype=np.float32).reshape(4, 2)
    centre = pts.mean(axis=0)
    angles = np.arctan2(pts[:, 1] - centre[1], pts[:, 0] - centre[0])
    pts = pts[np.argsort(angles)]  # counter-clockwise from the left in image coordinates: TL first-ish
    start = int(np.argmin(pts.sum(axis=1)))
    return np.roll(pts, -start, axis=0)


def rectify(frame_bgr: UInt8Image, corners: npt.NDArray[np.float32], margin: float = 0.06) -> UInt8Image:
    """Warp the plate quadrilateral to an upright crop of its own size, with a small margin around it."""
    tl, tr, br, bl = order_corners(corners)
    width = max(float(np.linalg.norm(tr - tl)), float(np.linalg.norm(br - bl)), 8.0)
    height = max(float(np.linalg.norm(bl - tl)), float(np.linalg.norm(br - tr)), 4.0)
    mx, my = margin * height, margin * height
    out_w, out_h = round(width + 2 * mx), round(height + 2 * my)
    target = np.array(
        [[mx, my], [mx + width, my], [mx + width, my + height], [mx, my + height]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(np.stack([tl, tr, br, bl]), target)
    warped = cv2.warpPerspective(
        frame_bgr, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return np.asarray(warped, dtype=np.uint8)
