"""``edge plate``: read licence plates from image files with the shipped ONNX models."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["plate"]


def _decode_image(path: Path) -> Any:
    """The image as BGR uint8, or a string saying why it cannot be read."""
    import cv2
    import numpy as np

    try:
        data = np.fromfile(
            path, dtype=np.uint8
        )  # not cv2.imread: it cannot open non-ASCII (plate-text) names
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    if data.size == 0:
        return "the file is empty"
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        return "not a decodable image (corrupt, truncated or not JPEG/PNG/BMP)"
    return image


@click.group()
def plate() -> None:
    """Licence plates: read them from images."""


@plate.command("read")
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--crop", is_flag=True, help="Each image is already a plate crop: skip detection.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image (the default output too).")
@click.option(
    "--threads", type=click.IntRange(min=1), default=1, show_default=True, help="onnxruntime threads."
)
@click.option(
    "--home-province",
    default="",
    help="The station's own province character (e.g. 皖): a weak reading of the province leans to it.",
)
@click.option(
    "--home-share",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of traffic expected from --home-province.",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Ask PP-OCR only about readings the reader is unsure of (1-3 ms a sure crop), not cross-check"
    " every single-row reading (15-40 ms a crop; the default, as the lane reads).",
)
def read(
    images: tuple[Path, ...],
    crop: bool,
    as_json: bool,
    threads: int,
    home_province: str,
    home_share: float,
    fast: bool = False,
) -> None:
    """Read the plates in IMAGE files: one JSON line per file, in order.

    A file that cannot be read gets {"file": ..., "error": ...} and the others are still read; the exit
    status is 1 when any file failed.
    """
    import cv2

    from edge.plates.reader import MIN_CROP_PX, PlateModelError, PlateReader

    try:
        reader = PlateReader(
            threads=threads,
            detector=not crop,
            home_province=home_province,
            home_share=home_share,
            cross_check=not fast,
            reread_frames=True,  # one image, no frame budget: re-read what stays uncertain (issue 15)
        )
    except (PlateModelError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    failed = False
    del as_json  # JSON lines are the only output format; the flag is accepted for scripts that pass it
    for path in images:
        image = _decode_image(path)
        if isinstance(image, str):
            failed = True
            click.echo(json.dumps({"file": str(path), "error": image}, ensure_ascii=False))
            continue
        h, w = image.shape[:2]
        if not crop and (h < MIN_CROP_PX[0] or w < MIN_CROP_PX[1]):
            failed = True
            message = f"the image is {w} x {h} px: too small or too thin to hold a plate"
            click.echo(json.dumps({"file": str(path), "error": message}, ensure_ascii=False))
            continue
        try:
            results = [reader.read_crop(image)] if crop else reader.read_frame(image)
        except (cv2.error, ValueError) as exc:  # an odd image costs its own line, never the batch
            failed = True
            message = f"cannot read plates in this image: {exc}"
            click.echo(json.dumps({"file": str(path), "error": message}, ensure_ascii=False))
            continue
        if crop:
            results = [dataclasses.replace(r, box=(0.0, 0.0, float(w), float(h))) for r in results]
        entry = {"file": str(path), "plates": [r.as_dict() for r in results]}
        click.echo(json.dumps(entry, ensure_ascii=False))
    sys.exit(1 if failed else 0)
