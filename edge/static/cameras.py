"""The plate cameras of a static weighbridge: LPR cameras that push a picture per truck into a folder
(FTP push), the plate they recognised in the file name, as Hikvision and Dahua cameras do:
``20261203094501123_京A12345.jpg``.  The site takes the newest picture written since a moment and
stores the image with the record, by its sha256."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PlateShot", "latest_shot", "store_shot"]

_PLATE = re.compile(r"_(?P<plate>[\u4e00-\u9fffA-Z0-9]{6,9})(?:_[^_]*)?$")


@dataclass(frozen=True)
class PlateShot:
    camera: str
    plate: str | None  # None: the camera pushed a picture but read no plate ("无车牌")
    path: Path
    mtime_s: float  # wall clock (time.time()) the file was written
    read_by: str = "camera"  # "camera" (its file name) or "reader" (the station's plate models)


def latest_shot(camera: str, folder: str | Path, since_wall_s: float) -> PlateShot | None:
    """The newest ``.jpg`` in ``folder`` written at or after ``since_wall_s`` (wall clock), or None."""
    best: tuple[float, Path] | None = None
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.endswith(".jpg") or entry.name.startswith("."):
            continue
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        if mtime >= since_wall_s and (best is None or mtime > best[0]):
            best = (mtime, Path(entry.path))
    if best is None:
        return None
    match = _PLATE.search(best[1].stem)
    return PlateShot(camera, match.group("plate") if match else None, best[1], best[0])


def store_shot(folder: Path, record_id: str, shot: PlateShot) -> dict[str, Any]:
    """Copy the picture under ``folder/record_id/`` and describe it for the record's attachments."""
    data = shot.path.read_bytes()
    target = folder / record_id
    target.mkdir(parents=True, exist_ok=True)
    name = f"{shot.camera}.jpg"
    (target / name).write_bytes(data)
    return {
        "name": name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "media_type": "image/jpeg",
        "camera": shot.camera,
        "plate": shot.plate,
    }
