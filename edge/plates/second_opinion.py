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
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.plates.grammar import ALPHABET

__all__ = ["PaddleRecogniser", "available", "clean"]

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


def clean(text: str) -> str:
    """PP-OCR's reading in the plate alphabet, I and O in the serial read as 1 and 0."""
    kept = "".join(c for c in text.upper() if c in _ALPHABET or c in "IO")
    head, serial = kept[:2], kept[2:]  # province (or 使) and office letter, then the serial
    return head.replace("I", "").replace("O", "") + serial.translate(_SERIAL_LOOKALIKES)


class PaddleRecogniser:
    """PP-OCRv4's recogniser through rapidocr's own pre- and post-processing, loaded from the installed
    package (never downloaded).  Raises ModuleNotFoundError when the package is not installed."""

    def __init__(self, threads: int = 1) -> None:
        from rapidocr_onnxruntime.ch_ppocr_rec import TextRecognizer

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
        self._recogniser = TextRecognizer(config)
        self.read([np.zeros((24, 94, 3), np.uint8)])  # warm up: the first truck pays nothing

    def read(self, crops: list[npt.NDArray[np.uint8]]) -> list[tuple[str, float]]:
        """(cleaned text, PP-OCR's mean character score) per crop."""
        if not crops:
            return []
        results, _ = self._recogniser(crops)
        return [(clean(str(text)), float(score)) for text, score in results]
