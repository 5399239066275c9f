"""Synthetic Chinese licence plates: clean plates, augmented crops and lane-camera frames.

Everything is drawn from local assets (the templates and the plate font in ``models/plates/assets``, installed
with the package, and the system's CJK fonts), so training data for the project's own plate models needs no
download.  Character geometry follows GA 36-2014 figures 1, 3 and 5
(single row, police, double row); the new-energy layout follows the template generator the templates come
from.  Alphabet, plate types and layouts come from :mod:`edge.plates.grammar`, never from here.

Speed matters (training draws millions of samples on CPU): glyph masks are rendered once per character and
font variant with PIL, then only resized and alpha-blended with numpy/cv2; templates are cached per scale.

Coordinates: corners are in pixel-edge coordinates ((0, 0) is the outer corner of the top-left pixel), in the
order top-left, top-right, bottom-right, bottom-left of the plate's outer edge.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from edge.plates.grammar import (
    CHARSET,
    DIGITS,
    EMBASSY_MARK,
    GRAMMAR,
    LAYOUT_BY_NAME,
    LAYOUTS,
    LETTERS,
    MAX_SERIAL_LETTERS,
    PROVINCES,
    SUFFIXES,
    TYPE_LAYOUTS,
    PlateType,
    plate_type,
    validate,
)

__all__ = [
    "CJK_FONT_PACKAGES",
    "PlateAssetsMissing",
    "PlateRenderer",
    "assets_dir",
    "locate_shared_dir",
    "require_assets",
]

_ALNUM = LETTERS + DIGITS
_CJK_FONTS = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    # Heavy sans strokes, the closest to the plate lettering's province characters (fonts-noto-cjk).
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    # Lighter strokes of the same design, and a third sans (fonts-droid-fallback): no UI font is the
    # plate typeface, so the recogniser sees several and learns what they share.
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
)
#: More designs, only with ``PlateRenderer(extra_fonts=True)`` (re-training; without it the font draws are
#: as before): Noto's heaviest and a middle weight (fonts-noto-cjk-extra), and a condensed design drawn
#: upright (fonts-smiley-sans).  Each has every province and suffix character.
EXTRA_CJK_FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Black.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Medium.ttc"),
    Path("/usr/share/fonts/truetype/smiley-sans/SmileySans-Oblique.ttf"),
)
EXTRA_FONT_PACKAGES = "fonts-noto-cjk-extra fonts-smiley-sans"
#: The Debian packages that provide :data:`_CJK_FONTS` (scripts/install.sh installs them).
CJK_FONT_PACKAGES = "fonts-wqy-microhei fonts-wqy-zenhei fonts-noto-cjk fonts-droid-fallback"
#: Face index inside each collection: Noto's collection starts with the Japanese face; 2 is Simplified Chinese.
_CJK_FACE = {
    "NotoSansCJK-Bold.ttc": 2,
    "NotoSansCJK-Regular.ttc": 2,
    "NotoSansCJK-Black.ttc": 2,
    "NotoSansCJK-Medium.ttc": 2,
}
#: Fonts whose strokes are already as heavy as plate lettering: weights as the plate font's (as drawn,
#: heavier, lighter) instead of the UI fonts' (heavier, heaviest, as drawn).
_CJK_HEAVY = {"NotoSansCJK-Black.ttc"}
#: Slant (horizontal shift per unit of height) of oblique fonts, undone so their characters stand upright.
_CJK_SLANT = {"SmileySans-Oblique.ttf": 0.141}
#: Pixels per millimetre of :meth:`PlateRenderer.render` (the templates are drawn at about 2.95).
RENDER_PX_PER_MM = 3.0
#: Scales (px/mm) at which plates are composed for crops and frames; templates are cached per scale.
_LEVELS = (0.2, 0.28, 0.4, 0.55, 0.75, 1.0, 1.4, 2.0, 3.0)
_GLYPH_HEIGHT_PX = 240  # master glyph masks, cropped to ink
_RED_INK = (40, 30, 205)  # GB/T 3181 R03 "大红" as a camera sees it (BGR)


class PlateAssetsMissing(FileNotFoundError):
    """Raised when the plate assets (templates, plate font) or a CJK font for the province characters cannot
    be found; the message is one line that says what to install."""


def assets_dir() -> Path:
    """The templates, the plate font and their MIT licence, installed with the package (package data)."""
    folder = resources.files("models.plates") / "assets"
    if not isinstance(folder, Path):  # a zip import: cv2 and PIL need real files
        raise PlateAssetsMissing(
            f"plate assets are not on the file system ({folder}); install the package unzipped"
        )
    return folder


def require_assets(assets: Path | None = None) -> tuple[Path, Path, Path, list[Path]]:
    """The asset folder, its templates folder, the plate font and the installed CJK fonts; raises
    :class:`PlateAssetsMissing` (one line saying what to install) when any is missing.  Cheap: the demo
    asks before it starts the simulated camera."""
    root = assets_dir() if assets is None else Path(assets)
    template_dir = root / "templates"
    plate_font = root / "fonts" / "platechar.ttf"
    if not template_dir.is_dir() or not plate_font.is_file():
        raise PlateAssetsMissing(
            f"plate assets not found under {root} (need {template_dir} and {plate_font}); reinstall the package"
        )
    cjk_fonts = [path for path in _CJK_FONTS if path.is_file()]
    if not cjk_fonts:
        raise PlateAssetsMissing(
            "no CJK font for the province characters of plates; install one of the Debian packages "
            f"{CJK_FONT_PACKAGES} (scripts/install.sh does)"
        )
    return root, template_dir, plate_font, cjk_fonts


def locate_shared_dir(explicit: Path | None = None) -> Path:
    """The project's shared folder of validation data (real crops and scenes; benches and tests only, never at
    run time): ``explicit``, else ``$WEIGHLANE_SHARED``, else ``<repo root>/../shared``."""
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get("WEIGHLANE_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared"


@dataclass(frozen=True)
class _Box:
    """A character cell in millimetres from the plate's top-left outer corner."""

    x: float
    y: float
    w: float
    h: float


def _row(x0: float, y: float, w: float, h: float, gaps: list[float]) -> list[_Box]:
    boxes = [_Box(x0, y, w, h)]
    for gap in gaps:
        prev = boxes[-1]
        boxes.append(_Box(prev.x + prev.w + gap, y, w, h))
    return boxes


# GA 36-2014 figure 1: 15.5 mm margin, 45 x 90 cells, 12 mm gaps, 34 mm (12 + 10 dot + 12) after the 2nd.
_SINGLE = _row(15.5, 25, 45, 90, [12, 34, 12, 12, 12, 12])
_SINGLE_DOT = (134.5, 70.0)
# Figure 3 (police, front): the dot sits after the province, 警 last.
_POLICE = [_SINGLE[0], _Box(94.5, 25, 45, 90), *_SINGLE[2:]]
_POLICE_DOT = (77.5, 70.0)
# Figure 2 (embassy): 使 and the embassy's three digits, the dot, the three-digit serial.
_EMBASSY = _row(15.5, 25, 45, 90, [12, 12, 12, 34, 12, 12])
_EMBASSY_DOT = (248.5, 70.0)
# Figure 5 (440 x 220): top row 2 cells 80 x 60 at x 110 and 250, bottom row 5 cells 65 x 110.
_DOUBLE = [_Box(110, 15, 80, 60), _Box(250, 15, 80, 60), *_row(27.5, 90, 65, 110, [15, 15, 15, 15])]
_DOUBLE_DOT = (220.0, 45.0)
# New energy 480 x 140 (template generator): 45 mm first cell, then 43 mm cells 9 mm apart, 49 mm after
# the 2nd cell where the emblem is printed; no dot.
_NEW_ENERGY = [_Box(15.5, 25, 45, 90), *_row(69.5, 25, 43, 90, [49, 9, 9, 9, 9, 9])]


@dataclass(frozen=True)
class _Style:
    templates: tuple[str, ...]
    background_bgr: tuple[int, int, int]  # flat colour of the template where characters go
    ink_bgr: tuple[int, int, int]


_STYLES: dict[str, _Style] = {
    "blue_single": _Style(("single_blue1", "single_blue2"), (134, 0, 6), (245, 245, 245)),
    "yellow_single": _Style(("single_yellow1", "single_yellow2"), (0, 204, 255), (25, 25, 25)),
    "yellow_double": _Style(("double_yellow1", "double_yellow2"), (0, 204, 255), (25, 25, 25)),
    "white_single": _Style(("police1", "police2"), (255, 255, 255), (25, 25, 25)),
    "white_double": _Style(("double_white1", "double_white2"), (255, 255, 255), (25, 25, 25)),
    "black_single": _Style(("single_black1", "single_black2"), (0, 0, 0), (240, 240, 240)),
    "green_small": _Style(("small_new_energy",), (156, 248, 83), (25, 25, 25)),
    "green_large": _Style(("big_new_energy",), (108, 213, 18), (25, 25, 25)),
}


def _cells(text: str, layout: str) -> tuple[list[_Box], tuple[float, float] | None]:
    spec = LAYOUT_BY_NAME[layout]
    if spec.rows == 2:
        return _DOUBLE, _DOUBLE_DOT
    if len(text) == 8:
        return _NEW_ENERGY, None
    if text.endswith("警"):
        return _POLICE, _POLICE_DOT
    if text.startswith(EMBASSY_MARK):
        return _EMBASSY, _EMBASSY_DOT
    return _SINGLE, _SINGLE_DOT


def _ink(ch: str, layout: str) -> tuple[int, int, int]:
    """GA 36-2014 table 1: 警 red on white, 使/领 red on black; 学, 挂, 港, 澳 in the plate's ink."""
    if ch == "警" or ch in "使领":
        return _RED_INK
    return _STYLES[layout].ink_bgr


# ----------------------------------------------------------------------------------------- the renderer


class PlateRenderer:
    """Fast synthetic plate renderer (see the module docstring); deterministic given a numpy Generator."""

    def __init__(self, assets: Path | None = None, *, extra_fonts: bool = False) -> None:
        """``assets``: a folder laid out as :func:`assets_dir` (``templates/``, ``fonts/platechar.ttf``);
        the installed one by default.  ``extra_fonts``: draw Chinese characters from :data:`EXTRA_CJK_FONTS`
        too (re-training only; the fonts must be installed)."""
        root, template_dir, plate_font, cjk_fonts = require_assets(assets)
        if extra_fonts:
            missing = [str(path) for path in EXTRA_CJK_FONTS if not path.is_file()]
            if missing:
                raise PlateAssetsMissing(
                    f"extra CJK fonts missing: {', '.join(missing)}; "
                    f"install the Debian packages {EXTRA_FONT_PACKAGES}, or train without --extra-fonts"
                )
            cjk_fonts += EXTRA_CJK_FONTS
        self.assets = root
        self._templates = self._load_templates(template_dir)
        self._stains = self._load_stains(template_dir)
        from models.plates import scene

        self._glyphs = self._render_glyphs(plate_font, cjk_fonts, extra=scene.DECOR_CHARS)
        self._cjk_count = len(cjk_fonts)
        self._template_cache: dict[tuple[str, int, int], np.ndarray] = {}
        self._glyph_cache: dict[tuple[str, int, int, int, int], np.ndarray] = {}
        self._glyph_pyramid = {key: _pyramid(mask) for key, mask in self._glyphs.items()}
        self._scene = scene.SceneKit(np.random.default_rng(20240501))

    # ----------------------------------------------------------------------------------- assets

    @staticmethod
    def _load_templates(template_dir: Path) -> dict[str, np.ndarray]:
        templates: dict[str, np.ndarray] = {}
        for style in _STYLES.values():
            for name in style.templates:
                path = template_dir / f"{name}.png"
                image = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if image is None:
                    raise PlateAssetsMissing(f"plate template {path} is missing or unreadable")
                templates[name] = _erase_dot(image)
        return templates

    @staticmethod
    def _load_stains(template_dir: Path) -> list[tuple[np.ndarray, np.ndarray]]:
        """Dirt textures at 600 x 600 and 150 x 150 px."""
        images = [
            cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in sorted(template_dir.glob("stain_*.jpg"))
        ]
        stains = [
            cv2.resize(image, (600, 600), interpolation=cv2.INTER_AREA)
            for image in images
            if image is not None
        ]
        if not stains:  # a plain texture keeps augmentation working without the files
            stains.append(np.full((600, 600), 255, np.uint8))
        return [(stain, cv2.resize(stain, (150, 150), interpolation=cv2.INTER_AREA)) for stain in stains]

    @staticmethod
    def _render_glyphs(
        plate_font: Path, cjk_fonts: list[Path], extra: str = ""
    ) -> dict[tuple[str, int, int], np.ndarray]:
        """Ink-cropped master masks keyed by (char, font index, weight in -1/0/1)."""
        from PIL import Image, ImageDraw, ImageFont

        size = 300
        fonts = [ImageFont.truetype(str(plate_font), size)]
        fonts += [
            ImageFont.truetype(str(path), size, index=_CJK_FACE.get(path.name, 0)) for path in cjk_fonts
        ]
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
        bold = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (11, 11))
        glyphs: dict[tuple[str, int, int], np.ndarray] = {}
        charset = PROVINCES + _ALNUM + SUFFIXES + "".join(ch for ch in extra if ch not in CHARSET)
        for ch in charset:
            font_ids = [0] if ch in _ALNUM else list(range(1, len(fonts)))
            for font_id in font_ids:
                canvas = Image.new("L", (size * 2, size * 2), 0)
                ImageDraw.Draw(canvas).text((size // 2, size // 2), ch, font=fonts[font_id], fill=255)
                mask = np.asarray(canvas)
                slant = _CJK_SLANT.get(cjk_fonts[font_id - 1].name, 0.0) if font_id else 0.0
                if slant:  # shift each row left by its height above the baseline times the slant
                    shear = np.float32([[1, slant, -slant * size * 1.5], [0, 1, 0]])
                    mask = cv2.warpAffine(mask, shear, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_AREA)
                ys, xs = np.nonzero(mask > 20)
                mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
                scale = _GLYPH_HEIGHT_PX / mask.shape[0]
                width = max(4, round(mask.shape[1] * scale))
                mask = cv2.resize(mask, (width, _GLYPH_HEIGHT_PX), interpolation=cv2.INTER_AREA)
                mask = cv2.copyMakeBorder(mask, 6, 6, 6, 6, cv2.BORDER_CONSTANT, value=0)
                if font_id == 0 or cjk_fonts[font_id - 1].name in _CJK_HEAVY:  # regular, bold, light
                    variants = (mask, cv2.dilate(mask, kernel), cv2.erode(mask, kernel))
                else:  # CJK UI fonts are lighter than plate lettering and their strokes break when eroded
                    variants = (cv2.dilate(mask, kernel), cv2.dilate(mask, bold), mask)
                for weight, variant in zip((0, 1, -1), variants, strict=True):
                    glyphs[ch, font_id, weight] = variant[6:-6, 6:-6].copy()
        return glyphs

    def _template(self, name: str, width: int, height: int) -> np.ndarray:
        key = (name, width, height)
        cached = self._template_cache.get(key)
        if cached is None:
            source = self._templates[name]
            interp = cv2.INTER_AREA if width < source.shape[1] else cv2.INTER_CUBIC
            cached = cv2.resize(source, (width, height), interpolation=interp)
            if len(self._template_cache) > 256:
                self._template_cache.clear()
            self._template_cache[key] = cached
        return cached

    def _glyph(self, ch: str, font_id: int, weight: int, width: int, height: int) -> np.ndarray:
        key = (ch, font_id, weight, width, height)
        cached = self._glyph_cache.get(key)
        if cached is None:
            # Area-resample from the smallest pyramid level at least twice the target: same look, less work.
            levels = self._glyph_pyramid[ch, font_id, weight]
            master = next((level for level in reversed(levels) if level.shape[0] >= 2 * height), levels[0])
            cached = cv2.resize(master, (width, height), interpolation=cv2.INTER_AREA)
            if height <= 96:  # small masks are reused a lot; large ones would only fill memory
                if len(self._glyph_cache) > 30000:
                    self._glyph_cache.clear()
                self._glyph_cache[key] = cached
        return cached

    # ----------------------------------------------------------------------------------- text

    def random_text(self, rng: np.random.Generator, layout: str | None = None) -> tuple[str, str]:
        """A random plate text valid under edge.plates.grammar for ``layout`` (sampled when None)."""
        if layout is None:
            layout = str(rng.choice(_LAYOUT_NAMES, p=_LAYOUT_P))
        if layout not in LAYOUT_BY_NAME:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(_LAYOUT_NAMES)}")
        kinds, weights = _TYPES_ON_LAYOUT[layout]
        kind = kinds[int(rng.choice(len(kinds), p=weights))]
        text = _random_text_of_type(rng, kind)
        return text, layout

    # ----------------------------------------------------------------------------------- plate

    def render(
        self, text: str, layout: str, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Clean frontal plate at 3 px/mm and its outer corners (TL, TR, BR, BL), float32 (4, 2)."""
        image = self._compose(text, layout, RENDER_PX_PER_MM, rng)
        height, width = image.shape[:2]
        corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
        return image, corners

    def _compose(
        self,
        text: str,
        layout: str,
        px_per_mm: float,
        rng: np.random.Generator | None,
        *,
        ir: bool = False,
        mild: bool = False,
        warp: bool = False,
    ) -> np.ndarray:
        if layout not in _STYLES:
            raise ValueError(f"unknown layout {layout!r}; known: {', '.join(_LAYOUT_NAMES)}")
        spec = LAYOUT_BY_NAME[layout]
        style = _STYLES[layout]
        cells, dot = _cells(text, layout)
        if len(text) != len(cells):
            raise ValueError(f"{text!r} has {len(text)} characters; layout {layout} has {len(cells)} cells")
        width = round(spec.width_mm * px_per_mm)
        height = round(spec.height_mm * px_per_mm)
        name = (
            style.templates[int(rng.integers(len(style.templates)))]
            if rng is not None
            else style.templates[0]
        )
        template = self._template(name, width, height)

        if rng is None:
            image = template.copy()
            background = np.array(style.background_bgr, np.float32)
            ink_jitter = np.zeros(3, np.float32)
            weight, cjk_font = 0, 1
            offset_mm = np.zeros(2)
            size_scale = np.ones(2)
        else:
            new_background, new_white = _plate_colours(rng, layout)
            image = cv2.LUT(template, _recolour_lut(style.background_bgr, new_background, new_white))
            background = new_background
            ink_jitter = rng.normal(0, 8, 3).astype(np.float32)
            weight = int(rng.choice((-1, 0, 0, 1, 1)))
            cjk_font = 1 + int(rng.integers(self._cjk_count))
            offset_mm = rng.uniform(-1.2, 1.2, 2)
            size_scale = np.array([rng.uniform(0.94, 1.04), rng.uniform(0.95, 1.03)])

        emboss = rng is not None and px_per_mm >= 0.7 and rng.random() < 0.6
        for ch, cell in zip(text, cells, strict=True):
            ink = np.clip(np.array(_ink(ch, layout), np.float32) + ink_jitter, 0, 255)
            is_cjk = ch not in _ALNUM
            font_id = cjk_font if is_cjk else 0
            if (ch, font_id, 0) not in self._glyphs:
                font_id = 1
            master = self._glyphs[ch, font_id, weight]
            box_w = cell.w * size_scale[0]
            box_h = cell.h * size_scale[1]
            if is_cjk:
                glyph_w = box_w
            else:  # the plate font's cells are 1:2; narrow glyphs (1) stay narrow, wide ones fill the cell
                aspect = master.shape[1] / master.shape[0]
                glyph_w = box_w * min(1.0, aspect / 0.5)
            jitter = rng.normal(0, 0.35, 2) if rng is not None else np.zeros(2)
            cx = (cell.x + cell.w / 2 + offset_mm[0] + jitter[0]) * px_per_mm
            cy = (cell.y + cell.h / 2 + offset_mm[1] + jitter[1]) * px_per_mm
            gw = max(1, round(glyph_w * px_per_mm))
            gh = max(2, round(box_h * px_per_mm))
            mask = self._glyph(ch, font_id, weight, gw, gh)
            if warp and is_cjk and rng is not None:
                mask = _warp_glyph(mask, rng)
            x0 = round(cx - gw / 2)
            y0 = round(cy - gh / 2)
            if emboss:
                shift = max(1, round(0.8 * px_per_mm))
                _blend(image, mask, x0 + shift, y0 + shift, background * 0.55, 0.5)
            _blend(image, mask, x0, y0, ink, 1.0)
        if dot is not None:
            ink = np.clip(np.array(style.ink_bgr, np.float32) + ink_jitter, 0, 255)
            centre = ((dot[0] + offset_mm[0]) * px_per_mm, (dot[1] + offset_mm[1]) * px_per_mm)
            radius = 5.0 * px_per_mm * size_scale[1]
            cv2.circle(
                image,
                (round(centre[0] * 16), round(centre[1] * 16)),
                max(1, round(radius * 16)),
                tuple(float(v) for v in ink),
                -1,
                cv2.LINE_AA,
                4,
            )
        if rng is not None:
            ink = np.clip(np.array(style.ink_bgr, np.float32) + ink_jitter, 0, 255)
            image = self._weather_plate(image, rng, ir=ir, background=background, ink=ink, mild=mild)
        elif ir:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return image

    def _weather_plate(
        self,
        image: np.ndarray,
        rng: np.random.Generator,
        *,
        ir: bool,
        background: np.ndarray,
        ink: np.ndarray,
        mild: bool = False,
    ) -> np.ndarray:
        """Dirt, fading and the infrared look on the plate itself (before it is placed in a scene)."""
        height, width = image.shape[:2]
        if rng.random() < 0.35:
            full_size, quarter_size = self._stains[int(rng.integers(len(self._stains)))]
            fraction = rng.uniform(0.25, 1.0)
            stain = quarter_size if width < 200 else full_size  # small plates need no fine dirt
            full = stain.shape[0]
            side = max(4, round(full * fraction))
            x = int(rng.integers(0, full - side + 1))
            y = int(rng.integers(0, full - side + 1))
            patch = cv2.resize(
                stain[y : y + side, x : x + side], (width, height), interpolation=cv2.INTER_AREA
            )
            strength = rng.uniform(0.3, 1.0)
            if mild:
                strength = min(strength, 0.6)
            factor = 1.0 - strength * (1.0 - patch.astype(np.float32) / 255.0)
            image = (image * factor[:, :, None]).astype(np.uint8)
        if rng.random() < 0.25:  # faded / sun-bleached paint: less saturation, lighter
            fade = rng.uniform(0.1, 0.45)
            grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            image = cv2.addWeighted(image, 1 - fade, grey, fade, rng.uniform(0, 25))
        if ir:  # retro-reflective sheeting lit by the camera's IR flash: grey, bright, still legible
            weights = rng.dirichlet((2, 2, 2)).astype(np.float32)
            grey = cv2.transform(image, weights[None, :])
            grey_background = float(weights @ background)
            grey_ink = float(weights @ ink)
            if grey_ink > grey_background:  # light characters on a darker ground (blue, black plates)
                target_background, target_ink = rng.uniform(50, 150), rng.uniform(200, 255)
            else:
                target_background, target_ink = rng.uniform(170, 250), rng.uniform(10, 90)
            gain = (target_ink - target_background) / (grey_ink - grey_background or 1.0)
            grey = cv2.convertScaleAbs(grey, alpha=gain, beta=target_background - gain * grey_background)
            image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
        return image

    # ----------------------------------------------------------------------------------- crops

    def crop_sample(
        self,
        rng: np.random.Generator,
        text: str | None = None,
        layout: str | None = None,
        *,
        mild: bool = False,
        warp: bool = False,
    ) -> tuple[np.ndarray, str, str]:
        """A heavily augmented plate crop at its natural (small) size: (BGR uint8, text, layout).

        ``mild`` starts from the same draws (text, size, geometry) but caps every degradation at a level
        where a person still reads the plate without doubt: at least 90 px wide (or the fixed 94 x 24 / 70 x 35), captured at
        0.85 of that or more, no occluding bar or glare, at most half the blur, dusk no darker than 0.6,
        sensor noise sigma 5 or less and JPEG quality 50 or more. The capped sizes change later draws, so
        only a crop drawn from a saved random state is the same plate both ways. The full augmentation
        also makes crops that nobody can read, which caps any reader's exact match on them well below
        100 %.

        ``warp`` draws each Chinese character (province, suffix) as a font nobody installed would: narrower
        or wider, slanted, with wobbling strokes that are thinner or heavier (:func:`_warp_glyph`). The
        plate typeface's Chinese characters are not among the project's fonts, so this teaches the
        recogniser what the UI fonts share rather than how they differ. It draws extra random numbers,
        so a warped crop differs from the unwarped one after its first Chinese character.
        """
        text, layout = self._text_and_layout(rng, text, layout)
        spec = LAYOUT_BY_NAME[layout]
        double = spec.rows == 2

        # Output size: often the 94 x 24 / 70 x 35 a third-party reader squashes crops to.
        fixed = rng.random() < 0.4
        if fixed:
            out_w, out_h = (70, 35) if double else (94, 24)
        else:
            out_w = round(math.exp(rng.uniform(math.log(60), math.log(200))))
            out_h = 0
            if mild:
                out_w = max(out_w, 90)

        corners, canvas_w, canvas_h = _crop_geometry(rng, spec.width_mm, spec.height_mm)
        if not fixed:
            out_h = max(12, round(out_w * canvas_h / canvas_w))
        # The camera's real resolution may be below the output size (then it was upsampled).
        capture = rng.uniform(0.55, 1.25) if rng.random() < 0.6 else 1.0
        if mild:
            capture = max(capture, 0.85)
        cap_w = max(28, round(out_w * capture))
        cap_h = max(10, round(cap_w * canvas_h / canvas_w))
        px_per_unit = cap_w / canvas_w
        corners = corners * px_per_unit
        plate_px = px_per_unit  # plate width is one unit
        level = _level_for(plate_px * 1.15 / spec.width_mm)

        ir = rng.random() < 0.12
        plate = self._compose(text, layout, level, rng, ir=ir, mild=mild, warp=warp)
        if rng.random() < 0.3:
            plate = _bolts(plate, rng, level)

        canvas = self._scene.background(rng, cap_w, cap_h)
        if ir:
            canvas = cv2.cvtColor(cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            canvas = cv2.convertScaleAbs(canvas, alpha=rng.uniform(0.2, 0.7))
        if rng.random() < 0.35:
            _plate_frame(canvas, corners, rng)
        _paste(plate, canvas, corners)

        canvas = _degrade_scene(canvas, corners, rng, mild=mild)
        interp = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_AREA, cv2.INTER_NEAREST)[
            int(rng.choice(4, p=(0.45, 0.25, 0.25, 0.05)))
        ]
        if (cap_w, cap_h) != (out_w, out_h):
            canvas = cv2.resize(canvas, (out_w, out_h), interpolation=interp)
        canvas = _degrade_sensor(canvas, rng, gray=ir, mild=mild)
        return canvas, text, layout

    def _text_and_layout(
        self, rng: np.random.Generator, text: str | None, layout: str | None
    ) -> tuple[str, str]:
        if text is None:
            return self.random_text(rng, layout)
        if layout is None:
            kind = plate_type(text)
            if kind is None:
                raise ValueError(f"{text!r} is not a GA 36 plate; pass its layout explicitly")
            layout = TYPE_LAYOUTS[kind][0]
        return text, layout

    # ----------------------------------------------------------------------------------- frames

    def frame_sample(
        self,
        rng: np.random.Generator,
        size: tuple[int, int] = (1280, 720),
        plates: list[tuple[str, str]] | None = None,
    ) -> tuple[np.ndarray, list[dict]]:
        """A lane-camera-like frame and its plates: [{"text", "layout", "corners" (4, 2) float32}]."""
        from models.plates.scene import compose_frame

        return compose_frame(self, rng, size, plates)


# -------------------------------------------------------------------------------------- text sampling

_LAYOUT_WEIGHTS = {
    "blue_single": 0.20,
    "yellow_single": 0.20,
    "yellow_double": 0.22,
    "white_single": 0.06,
    "white_double": 0.05,
    "black_single": 0.07,
    "green_small": 0.11,
    "green_large": 0.09,
}
_LAYOUT_NAMES = [layout.name for layout in LAYOUTS]
_LAYOUT_P = np.array([_LAYOUT_WEIGHTS[name] for name in _LAYOUT_NAMES])
_LAYOUT_P = _LAYOUT_P / _LAYOUT_P.sum()

_TYPE_WEIGHTS = {
    PlateType.STANDARD: 1.0,
    PlateType.TRAILER: 0.6,
    PlateType.COACH: 0.35,
    PlateType.POLICE: 1.0,
    PlateType.HK_MACAU: 1.0,
    PlateType.EMBASSY: 1.0,
    PlateType.CONSULATE: 1.0,
    PlateType.NEW_ENERGY_SMALL: 1.0,
    PlateType.NEW_ENERGY_LARGE: 1.0,
}


def _types_on_layout() -> dict[str, tuple[list[PlateType], np.ndarray]]:
    table: dict[str, tuple[list[PlateType], np.ndarray]] = {}
    for layout in _LAYOUT_NAMES:
        kinds = [kind for kind, layouts in TYPE_LAYOUTS.items() if layout in layouts]
        weights = np.array([_TYPE_WEIGHTS.get(kind, 1.0) for kind in kinds])
        table[layout] = (kinds, weights / weights.sum())
    return table


_TYPES_ON_LAYOUT = _types_on_layout()


def _pick(rng: np.random.Generator, chars: str) -> str:
    return chars[int(rng.integers(len(chars)))]


def _serial(rng: np.random.Generator, length: int) -> str:
    """Serial characters as GA 36-2014 (5.8.1, table 3) allows them: digits with none, one or two letters,
    at any positions.  Plates with letters are drawn more often than issuing makes them, so that every
    letter is seen often."""
    chars = [_pick(rng, DIGITS) for _ in range(length)]
    letters = int(rng.choice(MAX_SERIAL_LETTERS + 1, p=(0.15, 0.4, 0.45)))
    for position in rng.choice(length, size=letters, replace=False):
        chars[int(position)] = _pick(rng, LETTERS)
    return "".join(chars)


def _random_text_of_type(rng: np.random.Generator, kind: PlateType) -> str:
    province = _pick(rng, PROVINCES)
    office = _pick(rng, LETTERS)
    if kind is PlateType.STANDARD:
        text = province + office + _serial(rng, 5)
    elif kind is PlateType.TRAILER:
        text = province + office + _serial(rng, 4) + "挂"
    elif kind is PlateType.COACH:
        text = province + office + _serial(rng, 4) + "学"
    elif kind is PlateType.POLICE:
        text = province + office + _serial(rng, 4) + "警"
    elif kind is PlateType.HK_MACAU:
        text = "粤Z" + _serial(rng, 4) + _pick(rng, "港澳")
    elif kind is PlateType.EMBASSY:  # the embassy's number, then the serial (GA 36-2014 figure 2)
        text = EMBASSY_MARK + "".join(_pick(rng, DIGITS) for _ in range(6))
    elif kind is PlateType.CONSULATE:
        text = province + office + _serial(rng, 4) + "领"
    elif kind is PlateType.NEW_ENERGY_SMALL:
        text = province + office + _pick(rng, "DF") + _pick(rng, _ALNUM)
        text += "".join(_pick(rng, DIGITS) for _ in range(4))
    else:
        text = province + office + "".join(_pick(rng, DIGITS) for _ in range(5)) + _pick(rng, "DF")
    if not GRAMMAR[kind].fullmatch(text) or validate(text):  # the grammar module is the authority
        raise AssertionError(f"generated {text!r} does not match {kind}")
    return text


# ----------------------------------------------------------------------------------------- plate helpers


def _erase_dot(image: np.ndarray) -> np.ndarray:
    """Remove the template's separator dot (it is drawn again at GA 36 position in the ink colour)."""
    height, width = image.shape[:2]
    if height > width * 0.45 or width < 900:  # double-row and new-energy templates have no dot
        return image
    y0, y1 = int(0.3 * height), int(0.7 * height)
    x0, x1 = int(0.05 * width), int(0.5 * width)
    band = image[y0:y1, x0:x1].astype(np.int16)
    reference = np.median(band.reshape(-1, 3), axis=0)
    ys, xs = np.nonzero(np.abs(band - reference).sum(axis=2) > 40)
    if len(xs) == 0 or xs.max() - xs.min() > 60:
        return image
    image = image.copy()
    image[y0 + ys.min() - 3 : y0 + ys.max() + 4, x0 + xs.min() - 3 : x0 + xs.max() + 4] = reference.astype(
        np.uint8
    )
    return image


def _warp_glyph(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``mask`` (a glyph's coverage, uint8) as another typeface might draw it: 82-104 % as wide, slanted
    (shear sigma 0.08), its strokes displaced by a smooth field (sigma up to 3.5 % of the height, clipped
    at two sigma) and made thinner (a raised coverage threshold, up to 45 %) or heavier (coverage gain up
    to 1.8)."""
    height, width = mask.shape
    x_scale = rng.uniform(0.82, 1.04)
    shear = rng.normal(0.0, 0.08)
    field = np.clip(rng.normal(0.0, 1.0, (2, 3, 3)), -2.0, 2.0) * rng.uniform(0.0, 0.035) * height
    stroke = rng.uniform(-1.0, 1.0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    dx = cv2.resize(field[0].astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1].astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC)
    map_x = cx + (xs - cx) / x_scale + shear * (ys - cy) + dx
    map_y = ys + dy
    warped = cv2.remap(mask, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    coverage = warped.astype(np.float32) / 255.0
    if stroke < 0:  # thinner: only the stroke cores stay inked
        threshold = -stroke * 0.45
        coverage = (coverage - threshold) / (1.0 - threshold)
    else:  # heavier: anti-aliased edges fill in
        coverage = coverage * (1.0 + stroke * 0.8)
    return np.clip(coverage * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _pyramid(mask: np.ndarray) -> list[np.ndarray]:
    """``mask`` and its successive halvings down to about 16 px high."""
    levels = [mask]
    while levels[-1].shape[0] >= 32 and levels[-1].shape[1] >= 4:
        top = levels[-1]
        levels.append(cv2.resize(top, (top.shape[1] // 2, top.shape[0] // 2), interpolation=cv2.INTER_AREA))
    return levels


def _plate_colours(rng: np.random.Generator, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Background and white-sheeting colours of one plate (BGR float32), as cameras see them."""
    color = LAYOUT_BY_NAME[layout].color.value
    if color == "blue":  # deep blue through the cyan-ish blue of over-exposed retro-reflective sheeting
        t = rng.beta(2.2, 1.2)
        deep = np.array([160, 30, 5])
        light = np.array([255, 165, 35])
        background = deep + (light - deep) * t + rng.normal(0, 10, 3) + np.array([0, 0, rng.uniform(-10, 15)])
    elif color == "yellow":
        background = np.array([rng.uniform(0, 70), rng.uniform(165, 225), rng.uniform(215, 255)])
    elif color == "white":
        level = rng.uniform(200, 255)
        background = level - np.array([rng.uniform(0, 25), rng.uniform(0, 12), 0])
    elif color == "black":
        background = np.full(3, rng.uniform(5, 60)) + rng.normal(0, 4, 3)
    else:  # green / yellow-green: gains on the template
        base = np.array(_STYLES[layout].background_bgr, np.float64)
        background = base * rng.uniform(0.8, 1.05, 3) + rng.normal(0, 6, 3)
    white = np.full(3, rng.uniform(210, 255)) + rng.normal(0, 5, 3)
    return np.clip(background, 0, 255).astype(np.float32), np.clip(white, 0, 255).astype(np.float32)


def _recolour_lut(old: tuple[int, int, int], new: np.ndarray, white: np.ndarray) -> np.ndarray:
    """Per-channel lookup table sending the template's background to ``new`` and its white to ``white``."""
    x = np.arange(256, dtype=np.float32)
    channels = []
    for c in range(3):
        old_c = float(old[c])
        # Piecewise linear: black stays black, the background moves to ``new``, full white to ``white``.
        below = x * new[c] / max(old_c, 1.0)
        above = new[c] + (x - old_c) * (white[c] - new[c]) / max(255.0 - old_c, 1.0)
        channels.append(np.where(x < old_c, below, above))
    return np.clip(np.stack(channels, axis=1), 0, 255).astype(np.uint8).reshape(256, 1, 3)


def _blend(image: np.ndarray, mask: np.ndarray, x0: int, y0: int, color: np.ndarray, opacity: float) -> None:
    """Alpha-blend a constant colour through ``mask`` at (x0, y0), clipped to the image."""
    height, width = image.shape[:2]
    mh, mw = mask.shape
    ix0, iy0 = max(0, x0), max(0, y0)
    ix1, iy1 = min(width, x0 + mw), min(height, y0 + mh)
    if ix0 >= ix1 or iy0 >= iy1:
        return
    alpha = mask[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0].astype(np.float32) * (opacity / 255.0)
    alpha = alpha[:, :, None]
    roi = image[iy0:iy1, ix0:ix1]
    roi[:] = (roi + (color - roi) * alpha).astype(np.uint8)


def _level_for(px_per_mm: float) -> float:
    for level in _LEVELS:
        if level >= px_per_mm:
            return level
    return _LEVELS[-1]


def _bolts(plate: np.ndarray, rng: np.random.Generator, px_per_mm: float) -> np.ndarray:
    """Bolt heads in the GA 36 mounting holes (centres 107.5 and 332.5 mm across, 12.5 mm from the edge)."""
    height, width = plate.shape[:2]
    plate = plate.copy()
    colour = tuple(float(v) for v in rng.uniform(60, 220, 1).repeat(3) + rng.normal(0, 10, 3))
    radius = max(1, round(rng.uniform(4, 7) * px_per_mm))
    scale_x = width / (440 if width / height < 3.3 else 480)
    for x_mm in (107.5, 332.5):
        for y in (12.5 * px_per_mm, height - 12.5 * px_per_mm):
            if rng.random() < 0.8:
                cv2.circle(plate, (round(x_mm * scale_x), round(y)), radius, colour, -1, cv2.LINE_AA)
    return plate


def _crop_geometry(
    rng: np.random.Generator, width_mm: float, height_mm: float
) -> tuple[np.ndarray, float, float]:
    """Plate corners inside a crop, in units of the plate width, and the crop's size in the same units."""
    plate_h = height_mm / width_mm
    corners = np.array(
        [[-0.5, -plate_h / 2], [0.5, -plate_h / 2], [0.5, plate_h / 2], [-0.5, plate_h / 2]], np.float64
    )
    yaw = rng.normal(0, 0.07) if rng.random() < 0.8 else rng.uniform(-0.25, 0.25)
    pitch = rng.normal(0, 0.05) if rng.random() < 0.8 else rng.uniform(-0.15, 0.15)
    # Yaw: the far side is shorter; pitch: the far edge is narrower.
    corners[[1, 2], 1] *= 1 - yaw
    corners[[0, 3], 1] *= 1 + yaw
    corners[:, 0] *= 1 - abs(yaw)
    corners[[0, 1], 0] *= 1 - pitch
    corners[[2, 3], 0] *= 1 + pitch
    corners[:, 1] *= 1 - abs(pitch) * 0.5
    corners[:, 0] += corners[:, 1] * rng.normal(0, 0.06)  # shear: a rolling-shutter / mounting skew
    angle_deg = rng.normal(0, 4) if rng.random() < 0.85 else rng.uniform(-12, 12)
    angle = math.radians(float(np.clip(angle_deg, -12, 12)))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    corners = corners @ rotation.T
    x_min, y_min = corners.min(axis=0)
    x_max, y_max = corners.max(axis=0)
    # Margins from -4 % to +20 % of the plate height per side, most crops tight as detectors give them.
    margins = np.where(rng.random(4) < 0.7, rng.uniform(-0.04, 0.08, 4), rng.uniform(0.0, 0.20, 4)) * plate_h
    left, top, right, bottom = margins
    corners -= np.array([x_min - left, y_min - top])
    return corners, float(x_max - x_min + left + right), float(y_max - y_min + top + bottom)


def _plate_frame(canvas: np.ndarray, corners: np.ndarray, rng: np.random.Generator) -> None:
    """A licence-plate frame (black plastic, chrome or a dealer's coloured frame) just outside the plate."""
    centre = corners.mean(axis=0)
    grow = 1 + rng.uniform(0.03, 0.1, 2)
    outer = centre + (corners - centre) * grow
    colour = (
        tuple(float(v) for v in rng.uniform(10, 50, 1).repeat(3))
        if rng.random() < 0.5
        else tuple(float(v) for v in rng.uniform(0, 255, 3))
    )
    cv2.fillConvexPoly(canvas, np.round(outer * 16).astype(np.int32), colour, cv2.LINE_AA, 4)


def _paste(plate: np.ndarray, canvas: np.ndarray, corners: np.ndarray) -> None:
    """Warp ``plate`` onto ``canvas`` so its outer edge lands on ``corners`` (pixel-edge coordinates)."""
    height, width = plate.shape[:2]
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32) - 0.5
    target = corners.astype(np.float32) - 0.5
    homography = cv2.getPerspectiveTransform(source, target)
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 1
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(canvas.shape[1], x1), min(canvas.shape[0], y1)
    if x0 >= x1 or y0 >= y1:
        return
    shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    roi = canvas[y0:y1, x0:x1]
    cv2.warpPerspective(
        plate,
        shift @ homography,
        (x1 - x0, y1 - y0),
        dst=roi,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )


def _degrade_scene(
    canvas: np.ndarray, corners: np.ndarray, rng: np.random.Generator, *, mild: bool = False
) -> np.ndarray:
    """Occlusion, shadows, glare, lighting and blur at capture resolution (``mild``: see crop_sample)."""
    height, width = canvas.shape[:2]
    plate_w = float(np.linalg.norm(corners[1] - corners[0]))
    plate_h = float(np.linalg.norm(corners[3] - corners[0]))
    if rng.random() < 0.12:  # a thin bar (cable, hook, bracket) across a small part of the plate
        colour = tuple(float(v) for v in rng.uniform(0, 200, 3))
        if rng.random() < 0.5:
            x = float(rng.uniform(corners[:, 0].min(), corners[:, 0].max()))
            bar_w = max(1.0, plate_w * rng.uniform(0.01, 0.04))
            y_top = float(rng.uniform(-0.2, 0.3)) * height
            y_bot = y_top + plate_h * rng.uniform(0.3, 0.7)
            pts = np.array([[x, y_top], [x + bar_w, y_top], [x + bar_w, y_bot], [x, y_bot]])
        else:
            top = rng.random() < 0.5
            edge = corners[[0, 1]] if top else corners[[3, 2]]
            inward = (corners[3] - corners[0]) * rng.uniform(0.05, 0.15) * (1 if top else -1)
            pts = np.array(
                [edge[0] - inward * 0.5, edge[1] - inward * 0.5, edge[1] + inward, edge[0] + inward]
            )
        if not mild:
            cv2.fillConvexPoly(canvas, np.round(pts * 16).astype(np.int32), colour, cv2.LINE_AA, 4)
    tone_gain = np.ones(3)
    if rng.random() < 0.25:  # cast shadow with a straight edge
        mask = np.zeros((height, width), np.uint8)
        p0 = (rng.uniform(-0.2, 1.2) * width, 0.0)
        p1 = (rng.uniform(-0.2, 1.2) * width, float(height))
        side = rng.random() < 0.5
        poly = np.array([p0, p1, (width * 2 if side else -width, height), (width * 2 if side else -width, 0)])
        cv2.fillConvexPoly(mask, np.round(poly).astype(np.int32), 255, cv2.LINE_AA)
        if rng.random() < 0.5:
            mask = cv2.GaussianBlur(mask, (0, 0), max(0.5, rng.uniform(0.5, 3.0)))
        darkness = rng.uniform(0.3, 0.75)
        if mild:
            darkness = max(darkness, 0.5)
        factor = 1 - (1 - darkness) * (mask.astype(np.float32) / 255.0)
        canvas = (canvas * factor[:, :, None]).astype(np.uint8)
    if rng.random() < 0.15:  # specular glare on the sheeting
        centre = corners.mean(axis=0) + rng.uniform(-0.45, 0.45, 2) * np.array([plate_w, plate_h])
        radius = plate_h * rng.uniform(0.15, 0.5)
        squash = rng.uniform(1, 2.5)
        gain = rng.uniform(60, 180)
        if not mild:  # the draws are made either way, so the rest of the crop is drawn alike
            yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
            blob = np.exp(-((xx - centre[0]) ** 2 + ((yy - centre[1]) * squash) ** 2) / (2 * radius**2))
            canvas = np.clip(canvas + blob[:, :, None] * gain, 0, 255).astype(np.uint8)
    # Tone: exposure, gamma (low light), white balance / colour cast, contrast, in one lookup table.
    exposure = min(1.35, math.exp(rng.normal(0.0, 0.17)))
    if rng.random() < 0.12:
        exposure *= max(rng.uniform(0.35, 0.7), 0.6 if mild else 0.0)  # dusk / night
    gamma = math.exp(rng.normal(0, 0.15))
    tone_gain = tone_gain * np.exp(rng.normal(0, 0.05, 3))
    black = rng.uniform(0, 25) if rng.random() < 0.3 else 0.0
    x = np.arange(256, dtype=np.float32) / 255.0
    curve = np.power(x, gamma)[:, None] * (exposure * tone_gain)[None, :] * 255.0
    curve = curve * (1 - black / 255.0) + black
    lut = np.clip(curve, 0, 255).astype(np.uint8).reshape(256, 1, 3)
    canvas = cv2.LUT(canvas, lut)
    # Optics: defocus and motion blur, relative to the plate size.
    roll = rng.random()
    if roll < 0.35:
        sigma = plate_h * rng.uniform(0.01, 0.045) * (0.5 if mild else 1.0)
        if sigma > 0.3:
            canvas = cv2.GaussianBlur(canvas, (0, 0), sigma)
    elif roll < 0.5:
        length = max(2, round(plate_h * rng.uniform(0.03, 0.12) * (0.5 if mild else 1.0)))
        canvas = cv2.filter2D(canvas, -1, _motion_kernel(length, float(rng.uniform(0, 180))))
    return canvas


_MOTION_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _motion_kernel(length: int, angle_deg: float) -> np.ndarray:
    key = (length, round(angle_deg / 15) * 15)
    kernel = _MOTION_CACHE.get(key)
    if kernel is None:
        size = length | 1
        kernel = np.zeros((size, size), np.float32)
        centre = size // 2
        angle = math.radians(key[1])
        dx, dy = math.cos(angle) * (length - 1) / 2, math.sin(angle) * (length - 1) / 2
        cv2.line(
            kernel,
            (round((centre - dx) * 16), round((centre - dy) * 16)),
            (round((centre + dx) * 16), round((centre + dy) * 16)),
            1.0,
            1,
            cv2.LINE_AA,
            4,
        )
        kernel /= max(kernel.sum(), 1e-6)
        _MOTION_CACHE[key] = kernel
    return kernel


def _degrade_sensor(
    image: np.ndarray, rng: np.random.Generator, *, gray: bool, mild: bool = False
) -> np.ndarray:
    """Sensor noise and JPEG at the output size (what reaches the reader; ``mild``: see crop_sample)."""
    if rng.random() < 0.6:
        sigma = rng.uniform(1, 10) * (0.5 if mild else 1.0)
        if rng.random() < 0.5:  # shot noise grows with brightness
            noise = rng.standard_normal(image.shape, dtype=np.float32) * np.sqrt(
                image.astype(np.float32) * sigma / 16 + 1
            )
        else:
            shape = image.shape[:2] + ((1,) if gray else (3,))
            noise = rng.standard_normal(shape, dtype=np.float32) * sigma
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        quality = int(rng.integers(15, 96))
        if mild:
            quality = max(quality, 50)
        ok, data = cv2.imencode(".jpg", image, (cv2.IMWRITE_JPEG_QUALITY, quality))
        if ok:
            image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image


# ------------------------------------------------------------------------------------------------- CLI


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m models.plates.render", description="Write sample synthetic plates for inspection."
    )
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--crops", type=int, default=60, help="augmented crops to write")
    parser.add_argument("--frames", type=int, default=6, help="lane-camera frames to write")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", default="1280x720", help="frame size WIDTHxHEIGHT")
    parser.add_argument("--bench", type=float, default=2.0, help="seconds per throughput measurement")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # throughput is quoted per core, as a training worker sees it
    width, height = (int(v) for v in args.size.lower().split("x"))

    renderer = PlateRenderer()
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    for index in range(args.crops):
        image, text, layout = renderer.crop_sample(rng)
        _imwrite(args.out / f"{text}_{layout}_{index}.png", image)
    for index in range(args.frames):
        frame, plates = renderer.frame_sample(rng, (width, height))
        _imwrite(args.out / f"frame_{index}.jpg", frame)
        annotated = frame.copy()
        for plate in plates:
            cv2.polylines(annotated, [np.round(plate["corners"]).astype(np.int32)], True, (0, 0, 255), 2)
            cv2.circle(annotated, tuple(np.round(plate["corners"][0]).astype(int)), 4, (0, 255, 0), -1)
        _imwrite(args.out / f"frame_{index}_annotated.jpg", annotated)
        print(f"frame_{index}: " + ", ".join(f"{p['text']} ({p['layout']})" for p in plates))

    for label, step in (
        ("crops", lambda: renderer.crop_sample(rng)),
        ("frames", lambda: renderer.frame_sample(rng, (width, height))),
    ):
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        while time.perf_counter() - start < args.bench:
            step()
            count += 1
        wall = count / (time.perf_counter() - start)
        cpu = count / max(time.process_time() - cpu_start, 1e-9)
        where = f" at {width}x{height}" if label == "frames" else ""
        # CPU-time rate = one dedicated core; the wall-clock rate drops when other jobs share the cores.
        print(f"{label}: {cpu:.1f}/s per core of CPU time ({wall:.1f}/s wall clock){where}")
    return 0


def _imwrite(path: Path, image: np.ndarray) -> None:
    """cv2.imwrite cannot write non-ASCII paths on every platform; encode and write the bytes instead."""
    ok, data = cv2.imencode(path.suffix, image)
    if not ok:
        raise OSError(f"cannot encode {path}")
    path.write_bytes(data.tobytes())


if __name__ == "__main__":
    raise SystemExit(_main())
