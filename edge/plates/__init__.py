"""Licence plates: the GA 36 alphabet and grammar, the ONNX readers, lane cameras and plate evidence.

Heavy parts (OpenCV, onnxruntime) load only when a reader or camera is created; see
:mod:`edge.plates.reader`, :mod:`edge.plates.camera` and :mod:`edge.plates.lane`.
"""

from edge.plates.grammar import LAYOUTS, PlateColor, PlateType, plate_type, validate

__all__ = ["LAYOUTS", "PlateColor", "PlateType", "plate_type", "validate"]
