"""Procedural surroundings for synthetic plates: vehicle textures for crops, lane-camera frames.

Only shapes, gradients and noise drawn with numpy/cv2 (no photographs), pre-generated once into a pool of
texture tiles so that each sample only crops, resizes and tints.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from models.plates.render import PlateRenderer

__all__ = ["SceneKit", "compose_frame"]

#: Truck and car body colours seen at Chinese weigh stations (BGR): blue, yellow, red, white, green, silver,
#: black, orange cabs; grey and rust trailers.
BODY_COLOURS = np.array(
    [
        [160, 80, 20],
        [150, 110, 40],
        [30, 190, 235],
        [20, 150, 220],
        [40, 40, 180],
        [30, 30, 140],
        [235, 235, 235],
        [200, 205, 210],
        [60, 140, 40],
        [150, 150, 150],
        [110, 110, 110],
        [30, 30, 30],
        [20, 110, 230],
        [60, 80, 120],
        [200, 160, 110],
    ],
    np.float32,
)


_NOISE_SIGMA = 3.0


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise in [-1, 1] (bilinear-upsampled random grid)."""
    grid = rng.uniform(-1, 1, (max(2, cells * height // width), cells)).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


class SceneKit:
    """A pool of texture tiles drawn once from ``rng`` (fixed seed: the pool is part of the renderer)."""

    def __init__(self, rng: np.random.Generator, tiles: int = 64, tile_size: int = 160) -> None:
        self.tiles = [self._tile(rng, tile_size, kind=index % 8) for index in range(tiles)]
        self._noise: tuple[np.ndarray, np.ndarray] | None = None

    def noise(self) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative parts of Gaussian noise (sigma 6) for frames up to 1920 x 1080, made once."""
        if self._noise is None:
            noise = np.random.default_rng(7).normal(0, _NOISE_SIGMA, (1096, 1936, 3)).astype(np.float32)
            self._noise = (
                np.clip(noise, 0, 255).astype(np.uint8),
                np.clip(-noise, 0, 255).astype(np.uint8),
            )
        return self._noise

    @staticmethod
    def _tile(rng: np.random.Generator, size: int, kind: int) -> np.ndarray:
        colour = BODY_COLOURS[int(rng.integers(len(BODY_COLOURS)))] * rng.uniform(0.7, 1.1)
        shade = 1 + 0.25 * _smooth_noise(rng, size, size, 4)
        shade += np.linspace(-0.25, 0.2, size, dtype=np.float32)[:, None] * rng.uniform(-1, 1)
        tile = shade[:, :, None] * colour[None, None, :]
        if kind == 1:  # grille: horizontal slats
            period = int(rng.integers(5, 22))
            duty = rng.uniform(0.3, 0.7)
            rows = (np.arange(size) % period) < period * duty
            slat = rng.uniform(0.1, 0.5)
            tile[rows] *= slat
        elif kind == 2:  # mesh grille
            period = int(rng.integers(5, 14))
            yy, xx = np.mgrid[0:size, 0:size]
            holes = ((yy % period) > 1) & ((xx % period) > 1)
            tile[holes] *= rng.uniform(0.05, 0.3)
        elif kind == 3:  # bumper: body above, dark plastic or steel below with a shadowed edge
            split = int(rng.integers(size // 4, 3 * size // 4))
            tile[split:] = tile[split:] * 0 + rng.uniform(20, 120) * shade[split:, :, None]
            tile[split : split + max(1, size // 40)] *= 0.3
        elif kind == 4:  # chrome / steel with streaks
            streaks = cv2.resize(rng.uniform(0.4, 1.3, (1, 24)).astype(np.float32), (size, size))
            tile = tile * 0 + (160 * streaks * shade)[:, :, None]
        elif kind == 5:  # asphalt / ground
            grain = rng.normal(0, 18, (size, size)).astype(np.float32)
            tile = tile * 0 + (rng.uniform(60, 130) + grain + 20 * shade)[:, :, None]
        elif kind == 6:  # trailer rear: vertical ribs and reflective tape
            period = int(rng.integers(10, 40))
            ribs = (np.arange(size) % period) < 3
            tile[:, ribs] *= 0.55
            if rng.random() < 0.7:
                y = int(rng.integers(0, size - 10))
                stripe = np.arange(size) // int(rng.integers(8, 24)) % 2 == 0
                tape = np.where(stripe[:, None], [[40, 40, 200]], [[230, 230, 230]]).astype(np.float32)
                tile[y : y + int(rng.integers(4, 10))] = tape[None, :, :]
        elif kind == 7:  # rust, mud and grime
            grime = _smooth_noise(rng, size, size, 16)
            tile = tile * (0.7 + 0.3 * grime[:, :, None]) + np.array([0, 20, 50]) * (grime[:, :, None] > 0.3)
        tile += rng.normal(0, 4, tile.shape)
        return np.clip(tile, 0, 255).astype(np.uint8)

    def background(self, rng: np.random.Generator, width: int, height: int) -> np.ndarray:
        """A random vehicle-like texture of the given size (BGR uint8)."""
        tile = self.tiles[int(rng.integers(len(self.tiles)))]
        size = tile.shape[0]
        crop = int(rng.integers(size // 4, size + 1))
        x = int(rng.integers(0, size - crop + 1))
        y = int(rng.integers(0, size - crop + 1))
        patch = tile[y : y + crop, x : x + crop]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        image = cv2.resize(patch, (width, height), interpolation=cv2.INTER_LINEAR)
        return cv2.convertScaleAbs(image, alpha=float(rng.uniform(0.6, 1.3)))


# ------------------------------------------------------------------------------------------------ frames

#: Vehicle outlines in millimetres around the plate centre (x right, y down): left, top, right, bottom.
_EXTENT_MM = {
    "car": (-900.0, -1450.0, 900.0, 560.0),
    "truck_front": (-1250.0, -2950.0, 1250.0, 820.0),
    "truck_rear": (-1275.0, -3600.0, 1275.0, 760.0),
}
#: Which vehicle views carry each layout (double-row plates are rear plates of trucks and trailers).
_VIEWS = {
    "blue_single": ("car", "car", "truck_front"),
    "yellow_single": ("truck_front", "truck_front", "truck_rear"),
    "yellow_double": ("truck_rear",),
    "white_single": ("car", "truck_front"),
    "white_double": ("truck_rear",),
    "black_single": ("car",),
    "green_small": ("car",),
    "green_large": ("truck_front", "truck_rear"),
}
_DECOR_WORDS = (
    "物流运输",
    "货运公司",
    "限载吨",
    "危险品",
    "超长注意安全",
    "保持车距",
    "收费站",
    "称重检测",
    "出口",
    "减速慢行",
    "集团有限公司",
)

#: Characters the renderer caches glyphs for beyond the plate alphabet, for text that is not a plate.
DECOR_CHARS = "".join(sorted(set("".join(_DECOR_WORDS))))

Colour = tuple[float, float, float]


def _c(values: np.ndarray | tuple[float, ...]) -> Colour:
    return (float(values[0]), float(values[1]), float(values[2]))


def _project(homography: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    points = np.asarray(points_mm, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(points, homography).reshape(-1, 2)


def _rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def _fill(frame: np.ndarray, points_px: np.ndarray, colour: Colour) -> None:
    cv2.fillConvexPoly(frame, np.round(points_px * 16).astype(np.int32), colour, cv2.LINE_AA, 4)


def _texture_quad(frame: np.ndarray, tile: np.ndarray, quad_px: np.ndarray) -> None:
    """Warp a texture tile onto a quadrilateral of the frame (only the quad's bounding box is touched)."""
    height, width = frame.shape[:2]
    x0, y0 = np.maximum(np.floor(quad_px.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(quad_px.max(axis=0)).astype(int) + 1, (width, height))
    if x0 >= x1 or y0 >= y1:
        return
    size = tile.shape[0]
    source = np.array([[0, 0], [size, 0], [size, size], [0, size]], np.float32)
    homography = cv2.getPerspectiveTransform(source, (quad_px - (x0, y0)).astype(np.float32))
    cv2.warpPerspective(
        tile,
        homography,
        (int(x1 - x0), int(y1 - y0)),
        dst=frame[y0:y1, x0:x1],
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )


class _Vehicle:
    """One vehicle: a view, a plane-to-frame homography (mm -> px) and, optionally, its plate."""

    def __init__(
        self,
        rng: np.random.Generator,
        view: str,
        centre_px: tuple[float, float],
        px_per_mm: float,
        plate: tuple[str, str] | None,
    ) -> None:
        self.view = view
        self.plate = plate
        self.px_per_mm = px_per_mm
        half = 1000.0
        source = _rect(-half, -half, half, half)
        quad = source * px_per_mm
        yaw = float(np.clip(rng.normal(0, 0.06), -0.2, 0.2))
        pitch = float(np.clip(rng.normal(0, 0.05), -0.15, 0.15))
        quad[[1, 2], 1] *= 1 - yaw
        quad[[0, 3], 1] *= 1 + yaw
        quad[[0, 1], 0] *= 1 - pitch
        quad[[2, 3], 0] *= 1 + pitch
        roll = math.radians(float(np.clip(rng.normal(0, 2.0), -6, 6)))
        rotation = np.array([[math.cos(roll), -math.sin(roll)], [math.sin(roll), math.cos(roll)]])
        quad = quad @ rotation.T
        homography = cv2.getPerspectiveTransform(source.astype(np.float32), quad.astype(np.float32))
        origin = _project(homography, np.zeros((1, 2)))[0]
        shift = np.array([[1, 0, centre_px[0] - origin[0]], [0, 1, centre_px[1] - origin[1]], [0, 0, 1]])
        self.homography = shift @ homography
        self.plate_offset_mm = np.zeros(2)
        if view == "truck_rear":
            self.plate_offset_mm[0] = rng.uniform(-450, 450) if rng.random() < 0.5 else 0.0
        self.plate_tilt = math.radians(float(rng.normal(0, 1.5)))
        self.body = np.array(BODY_COLOURS[int(rng.integers(len(BODY_COLOURS)))]) * rng.uniform(0.75, 1.1)

    def outline_px(self) -> np.ndarray:
        return _project(self.homography, _rect(*_EXTENT_MM[self.view]))

    def plate_corners_px(self, layout_height_mm: float, layout_width_mm: float) -> np.ndarray:
        w, h = layout_width_mm / 2, layout_height_mm / 2
        corners = _rect(-w, -h, w, h)
        c, s = math.cos(self.plate_tilt), math.sin(self.plate_tilt)
        corners = corners @ np.array([[c, -s], [s, c]]).T + self.plate_offset_mm
        return _project(self.homography, corners)

    def draw(
        self, frame: np.ndarray, rng: np.random.Generator, kit: SceneKit, renderer: PlateRenderer
    ) -> None:
        h = self.homography

        def box(x0: float, y0: float, x1: float, y1: float, colour: Colour) -> None:
            _fill(frame, _project(h, _rect(x0, y0, x1, y1)), colour)

        body = _c(self.body)
        dark = _c(np.array(self.body) * 0.35)
        tyre = (25.0, 25.0, 28.0)
        glass = _c(rng.uniform(25, 70, 3))
        lamp = _c(rng.uniform(200, 255, 3))
        if self.view == "car":
            for x in (-650.0, 650.0):
                box(x - 160, 150, x + 160, 560, tyre)
            box(-900, -900, 900, 330, body)
            _fill(
                frame, _project(h, np.array([[-700, -1450], [700, -1450], [820, -900], [-820, -900]])), glass
            )
            box(-450, -520, 450, -150, _c(np.array(body) * 0.3))
            for x in (-800.0, 520.0):
                box(x, -560, x + 280, -400, lamp)
            box(-900, 110, 900, 330, dark)
        elif self.view == "truck_front":
            for x in (-950.0, 950.0):
                box(x - 250, 200, x + 250, 820, tyre)
            _texture_quad(
                frame,
                kit.tiles[int(rng.integers(len(kit.tiles)))],
                _project(h, _rect(-1250, -2950, 1250, -250)),
            )
            box(-1250, -2950, 1250, -2700, body)
            _fill(
                frame,
                _project(h, np.array([[-1100, -2650], [1100, -2650], [1150, -1650], [-1150, -1650]])),
                glass,
            )
            grille = _project(h, _rect(-800, -1500, 800, -350))
            _fill(frame, grille, dark)
            slats = int(rng.integers(4, 10))
            for index in range(slats):
                y = -1450 + index * 1100 / slats
                box(-780, y, 780, y + 1100 / slats * 0.45, _c(np.array(body) * rng.uniform(0.5, 1.1)))
            box(-1250, -250, 1250, 300, _c(rng.uniform(30, 200, 1).repeat(3)))
            for x in (-1200.0, 900.0):
                box(x, -200, x + 300, 0, lamp)
            self._decor(frame, rng, renderer, region=(-1100, -1600, 1100, -1550), height_mm=180)
        else:  # truck_rear: trailer box, chassis, lights, underride guard
            for x in (-1000.0, 1000.0):
                box(x - 280, -250, x + 280, 760, tyre)
            box(-1000, -600, 1000, 150, (35.0, 35.0, 38.0))
            _texture_quad(
                frame,
                kit.tiles[int(rng.integers(len(kit.tiles)))],
                _project(h, _rect(-1275, -3600, 1275, -600)),
            )
            box(-1275, -700, 1275, -600, dark)
            box(-25, -3600, 25, -700, dark)  # door seam
            for x in (-1200.0, 950.0):
                box(x, -500, x + 250, -330, (40.0, 40.0, rng.uniform(150, 240)))
            guard = _project(h, _rect(-1100, 200, 1100, 330))
            _fill(frame, guard, (40.0, 40.0, 190.0) if rng.random() < 0.6 else (200.0, 200.0, 200.0))
            if self.plate is not None and rng.random() < 0.35:
                self._enlarged_number(frame, rng, renderer)
            else:
                self._decor(frame, rng, renderer, region=(-1100, -3300, 1100, -1500), height_mm=260)
        if self.plate is not None and rng.random() < 0.5:  # mounting bracket around the plate
            spec_w = 500.0 if len(self.plate[0]) == 8 else 470.0
            spec_h = 250.0 if self.plate[1].endswith("double") else 170.0
            x, y = self.plate_offset_mm
            _fill(
                frame,
                _project(h, _rect(x - spec_w / 2, y - spec_h / 2, x + spec_w / 2, y + spec_h / 2)),
                (30.0, 30.0, 30.0),
            )

    def _decor(
        self,
        frame: np.ndarray,
        rng: np.random.Generator,
        renderer: PlateRenderer,
        region: tuple[float, float, float, float],
        height_mm: float,
    ) -> None:
        """Company names, phone numbers and load notices painted on the body: text that is not a plate."""
        if rng.random() < 0.45:
            return
        words = _DECOR_WORDS[int(rng.integers(len(_DECOR_WORDS)))]
        if rng.random() < 0.4:
            words = "1" + "".join(str(int(d)) for d in rng.integers(0, 10, 10))
        x0, y0, x1, y1 = region
        char_h = height_mm * rng.uniform(0.6, 1.2)
        x = rng.uniform(x0, max(x0, x1 - len(words) * char_h * 0.8))
        y = rng.uniform(y0, max(y0, y1 - char_h))
        colour = _c(rng.uniform(0, 255, 3)) if rng.random() < 0.5 else (20.0, 20.0, 20.0)
        centre = _project(self.homography, np.array([[x, y]]))[0]
        draw_text(frame, renderer, words, centre, char_h * self.px_per_mm, colour, rng)

    def _enlarged_number(self, frame: np.ndarray, rng: np.random.Generator, renderer: PlateRenderer) -> None:
        """The enlarged plate number painted on a truck's rear (GB 7258): large text that is not a plate."""
        assert self.plate is not None
        text = self.plate[0]
        char_h = rng.uniform(350, 600)
        start = _project(self.homography, np.array([[-len(text) * char_h * 0.3, -2900.0]]))[0]
        draw_text(frame, renderer, text, start, char_h * self.px_per_mm, (20.0, 20.0, 20.0), rng)


def draw_text(
    frame: np.ndarray,
    renderer: PlateRenderer,
    text: str,
    origin_px: np.ndarray,
    char_h_px: float,
    colour: Colour,
    rng: np.random.Generator,
) -> None:
    """Axis-aligned text from the renderer's glyph cache (characters it has no glyph for are skipped)."""
    from models.plates.render import _blend

    x, y = float(origin_px[0]), float(origin_px[1])
    char_h = max(4, round(char_h_px))
    ink = np.array(colour, np.float32)
    for ch in text:
        font_id = 0 if ("A", 0, 0) in renderer._glyphs and (ch, 0, 0) in renderer._glyphs else 1
        if (ch, font_id, 0) not in renderer._glyphs:
            x += char_h * 0.5
            continue
        master = renderer._glyphs[ch, font_id, 0]
        char_w = max(2, round(char_h * master.shape[1] / master.shape[0] * (0.8 if font_id == 0 else 0.9)))
        mask = renderer._glyph(ch, font_id, 0, char_w, char_h)
        _blend(frame, mask, round(x), round(y), ink, 1.0)
        x += char_w + char_h * 0.12


def _background(frame: np.ndarray, rng: np.random.Generator, kit: SceneKit, night: bool) -> float:
    """Sky, toll-booth canopy, buildings, road with lane markings; returns the horizon's y in pixels."""
    height, width = frame.shape[:2]
    horizon = int(height * rng.uniform(0.25, 0.6))
    skies = np.array([[235, 195, 140], [205, 205, 200], [220, 220, 212], [150, 175, 215], [190, 170, 160]])
    sky_top = skies[int(rng.integers(len(skies)))] * rng.uniform(0.8, 1.1) + rng.normal(0, 8, 3)
    sky_top = sky_top * (0.12 if night else 1.0)
    sky_bottom = np.clip(sky_top * rng.uniform(0.85, 1.15) + 10, 0, 255)
    gradient = np.linspace(sky_top, sky_bottom, 16, dtype=np.float32).astype(np.uint8)[:, None, :]
    frame[:horizon] = cv2.resize(gradient, (width, horizon), interpolation=cv2.INTER_LINEAR)
    # Buildings / booths on the horizon.
    for _ in range(int(rng.integers(0, 6))):
        w = int(width * rng.uniform(0.05, 0.3))
        h = int(horizon * rng.uniform(0.1, 0.6))
        x = int(rng.integers(-w // 2, width))
        grey = rng.uniform(70, 220)
        colour = _c((grey + rng.normal(0, 15, 3)) * (0.3 if night else 1.0))
        cv2.rectangle(frame, (x, horizon - h), (x + w, horizon), colour, -1)
        for _ in range(int(rng.integers(0, 6))):
            wx = x + int(rng.integers(0, max(1, w)))
            wy = horizon - int(rng.integers(1, max(2, h)))
            cv2.rectangle(
                frame, (wx, wy), (wx + w // 10 + 2, wy + h // 8 + 2), _c(rng.uniform(20, 90, 3)), -1
            )
    # Road.
    road = kit.tiles[5 + 8 * int(rng.integers(len(kit.tiles) // 8))]
    frame[horizon:] = cv2.resize(road, (width, height - horizon), interpolation=cv2.INTER_LINEAR)
    if night:
        frame[horizon:] = cv2.convertScaleAbs(frame[horizon:], alpha=0.3)
    vanish_x = width * rng.uniform(0.2, 0.8)
    line_colour = (230.0, 230.0, 230.0) if rng.random() < 0.7 else (40.0, 200.0, 230.0)
    for _ in range(int(rng.integers(1, 5))):
        bottom_x = vanish_x + rng.uniform(-1.5, 1.5) * width
        thickness = max(1, int(width * 0.006))
        if rng.random() < 0.5:
            cv2.line(
                frame, (int(vanish_x), horizon), (int(bottom_x), height), line_colour, thickness, cv2.LINE_AA
            )
        else:
            for t0 in np.arange(0.05, 1.0, 0.18):
                t1 = t0 + 0.08
                p0 = (
                    int(vanish_x + (bottom_x - vanish_x) * t0**1.5),
                    int(horizon + (height - horizon) * t0**1.5),
                )
                p1 = (
                    int(vanish_x + (bottom_x - vanish_x) * t1**1.5),
                    int(horizon + (height - horizon) * t1**1.5),
                )
                cv2.line(frame, p0, p1, line_colour, thickness, cv2.LINE_AA)
    # Toll-booth canopy and pillars.
    if rng.random() < 0.7:
        canopy = int(height * rng.uniform(0.04, 0.22))
        colour = _c(rng.uniform(150, 250, 3) * (0.25 if night else 1.0))
        cv2.rectangle(frame, (0, 0), (width, canopy), colour, -1)
        cv2.rectangle(
            frame, (0, canopy - max(2, canopy // 6)), (width, canopy), _c(np.array(colour) * 0.6), -1
        )
        for x in rng.uniform(0, width, int(rng.integers(2, 9))):
            cv2.rectangle(
                frame, (int(x), canopy // 3), (int(x + width * 0.02), canopy // 2), (250.0, 250.0, 240.0), -1
            )
        for x in rng.uniform(0, width, int(rng.integers(0, 3))):
            w = int(width * rng.uniform(0.015, 0.05))
            cv2.rectangle(
                frame,
                (int(x), canopy),
                (int(x) + w, horizon + int(height * 0.1)),
                _c(rng.uniform(100, 230, 3)),
                -1,
            )
            if rng.random() < 0.5:  # black-and-yellow hazard stripes
                for y in range(canopy, horizon, max(4, w)):
                    cv2.rectangle(
                        frame, (int(x), y), (int(x) + w, y + max(2, w // 2)), (20.0, 180.0, 230.0), -1
                    )
    return float(horizon)


def _signs(frame: np.ndarray, rng: np.random.Generator, renderer: PlateRenderer, horizon: float) -> None:
    """Distractors: speed-limit discs, blue and green guide signs with text, plain rectangles."""
    width = frame.shape[1]
    for _ in range(int(rng.integers(0, 4))):
        kind = rng.random()
        x = rng.uniform(0, width * 0.9)
        y = rng.uniform(0, max(1.0, horizon))
        scale = width * rng.uniform(0.03, 0.12)
        if kind < 0.3:
            radius = int(scale / 2)
            cv2.circle(frame, (int(x), int(y)), radius, (40.0, 40.0, 200.0), -1, cv2.LINE_AA)
            cv2.circle(frame, (int(x), int(y)), int(radius * 0.78), (240.0, 240.0, 240.0), -1, cv2.LINE_AA)
            digits = str(int(rng.choice([5, 10, 15, 20, 30, 40])))
            draw_text(
                frame,
                renderer,
                digits,
                np.array([x - radius * 0.45, y - radius * 0.4]),
                radius * 0.8,
                (20.0, 20.0, 20.0),
                rng,
            )
        else:
            w, h = scale * rng.uniform(1.5, 4.0), scale * rng.uniform(0.35, 0.9)
            colour = [(160.0, 80.0, 10.0), (60.0, 120.0, 20.0), (230.0, 230.0, 230.0), (20.0, 190.0, 240.0)][
                int(rng.integers(4))
            ]
            cv2.rectangle(frame, (int(x), int(y)), (int(x + w), int(y + h)), colour, -1)
            if kind < 0.85:
                ink = (245.0, 245.0, 245.0) if colour[0] < 200 or colour[1] < 150 else (20.0, 20.0, 20.0)
                words = _DECOR_WORDS[int(rng.integers(len(_DECOR_WORDS)))]
                if rng.random() < 0.3:
                    words = renderer.random_text(rng)[0]  # a plate-like string on a sign is still not a plate
                draw_text(frame, renderer, words, np.array([x + h * 0.15, y + h * 0.2]), h * 0.6, ink, rng)


def _glow(frame: np.ndarray, centre: np.ndarray, radius: float, strength: float) -> None:
    """Additive headlight / lamp glow."""
    height, width = frame.shape[:2]
    r = max(2, int(radius * 3))
    x0, y0 = max(0, int(centre[0]) - r), max(0, int(centre[1]) - r)
    x1, y1 = min(width, int(centre[0]) + r), min(height, int(centre[1]) + r)
    if x0 >= x1 or y0 >= y1:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    blob = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * radius**2)) * strength
    blob_u8 = np.clip(blob, 0, 255).astype(np.uint8)
    roi = frame[y0:y1, x0:x1]
    roi[:] = cv2.add(roi, cv2.merge([blob_u8, blob_u8, blob_u8]))


def _place(
    rng: np.random.Generator,
    size: tuple[int, int],
    wanted: list[tuple[str, str] | None],
    plate_range: tuple[float, float],
) -> list[_Vehicle]:
    """Vehicles for the wanted plates, far to near, with every plate inside the frame and unoccluded."""
    from edge.plates.grammar import LAYOUT_BY_NAME

    width, height = size
    shrink = 1.0
    vehicles: list[_Vehicle] = []
    for attempt in range(40):
        vehicles = []
        slots = rng.permutation(len(wanted)) if len(wanted) > 1 else np.zeros(1, int)
        for index, plate in enumerate(wanted):
            plate_w = math.exp(rng.uniform(math.log(plate_range[0]), math.log(plate_range[1]))) * shrink
            if len(wanted) > 1:
                plate_w *= 0.75
            layout = LAYOUT_BY_NAME[plate[1]] if plate is not None else None
            views = _VIEWS[plate[1]] if plate is not None else tuple(_EXTENT_MM)
            view = views[int(rng.integers(len(views)))]
            px_per_mm = plate_w / (layout.width_mm if layout is not None else 440)
            if len(wanted) > 1:
                slot_w = width / len(wanted)
                cx = slot_w * (int(slots[index]) + rng.uniform(0.3, 0.7))
            else:
                cx = width * rng.uniform(0.2, 0.8)
            cy = height * rng.uniform(0.45, 0.85)
            vehicles.append(_Vehicle(rng, view, (cx, cy), px_per_mm, plate))
        vehicles.sort(key=lambda v: v.px_per_mm)
        if _placement_ok(vehicles, width, height):
            return vehicles
        if attempt % 4 == 3:
            shrink *= 0.85
    return vehicles if _placement_ok(vehicles, width, height) else []


def _placement_ok(vehicles: list[_Vehicle], width: int, height: int) -> bool:
    from edge.plates.grammar import LAYOUT_BY_NAME

    margin = 2.0
    for index, vehicle in enumerate(vehicles):
        if vehicle.plate is None:
            continue
        layout = LAYOUT_BY_NAME[vehicle.plate[1]]
        corners = vehicle.plate_corners_px(layout.height_mm, layout.width_mm)
        if (
            corners.min() < margin
            or corners[:, 0].max() > width - margin
            or corners[:, 1].max() > height - margin
        ):
            return False
        for nearer in vehicles[index + 1 :]:
            outline = nearer.outline_px().astype(np.float32)
            for point in corners:
                if cv2.pointPolygonTest(outline, (float(point[0]), float(point[1])), False) >= 0:
                    return False
    return True


def compose_frame(
    renderer: PlateRenderer,
    rng: np.random.Generator,
    size: tuple[int, int],
    plates: list[tuple[str, str]] | None,
) -> tuple[np.ndarray, list[dict]]:
    """A synthetic lane-camera frame with the given plates (0-2 random ones when None)."""
    from edge.plates.grammar import LAYOUT_BY_NAME
    from models.plates.render import _level_for, _paste

    width, height = int(size[0]), int(size[1])
    kit = renderer._scene
    if plates is None:
        count = int(rng.choice(3, p=(0.12, 0.68, 0.20)))
        wanted: list[tuple[str, str] | None] = [renderer.random_text(rng) for _ in range(count)]
        if count == 0 and rng.random() < 0.7:
            wanted = [None]  # a vehicle without a readable plate
    else:
        wanted = list(plates)
    for plate in wanted:
        if plate is not None and plate[1] not in LAYOUT_BY_NAME:
            raise ValueError(f"unknown layout {plate[1]!r}")
    scale = width / 1920
    vehicles = _place(rng, (width, height), wanted, (90 * scale, 420 * scale))
    if not vehicles and plates is not None and plates:
        raise RuntimeError(f"cannot place {len(plates)} plates in a {width}x{height} frame")

    lighting = rng.choice(4, p=(0.68, 0.12, 0.08, 0.12))  # day, dusk, night colour, night infrared
    night = lighting >= 2
    frame = np.empty((height, width, 3), np.uint8)
    horizon = _background(frame, rng, kit, night=bool(night))
    if rng.random() < 0.6:
        _signs(frame, rng, renderer, horizon)
    for vehicle in vehicles:
        vehicle.draw(frame, rng, kit, renderer)

    # Scene tone: exposure, gamma, white balance in one table; plates are retro-reflective and get their own.
    exposure = math.exp(rng.normal(0, 0.2)) * (rng.uniform(0.4, 0.7) if lighting == 1 else 1.0)
    if night:
        exposure *= rng.uniform(0.25, 0.5)
    gains = np.exp(rng.normal(0, 0.07, 3))
    gamma = math.exp(rng.normal(0, 0.15))
    x = np.arange(256, dtype=np.float32) / 255
    lut = np.clip(np.power(x, gamma)[:, None] * (exposure * gains)[None, :] * 255, 0, 255).astype(np.uint8)
    frame = cv2.LUT(frame, lut.reshape(256, 1, 3))
    if lighting == 3:
        frame = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    plate_lut = (
        lut
        if not night
        else np.clip(
            np.power(x, gamma)[:, None] * (rng.uniform(0.6, 1.1) * gains)[None, :] * 255, 0, 255
        ).astype(np.uint8)
    )

    annotations: list[dict] = []
    for vehicle in vehicles:
        if vehicle.plate is None:
            continue
        text, layout_name = vehicle.plate
        layout = LAYOUT_BY_NAME[layout_name]
        corners = vehicle.plate_corners_px(layout.height_mm, layout.width_mm)
        plate_w = float(np.linalg.norm(corners[1] - corners[0]))
        image = renderer._compose(
            text, layout_name, _level_for(plate_w * 1.1 / layout.width_mm), rng, ir=lighting == 3
        )
        if lighting != 3:
            image = cv2.LUT(image, plate_lut.reshape(256, 1, 3))
        _paste(image, frame, corners)
        annotations.append({"text": text, "layout": layout_name, "corners": corners.astype(np.float32)})
        if night:
            for x_mm in (-900.0, 900.0):
                lamp = _project(vehicle.homography, np.array([[x_mm, -120.0]]))[0]
                _glow(frame, lamp, vehicle.px_per_mm * rng.uniform(80, 200), rng.uniform(120, 255))

    # Optics and sensor: motion blur, defocus, noise, JPEG.
    roll = rng.random()
    if roll < 0.35:
        length = int(rng.integers(2, max(3, int(10 * scale) + 2)))
        frame = cv2.blur(frame, (1, length) if rng.random() < 0.6 else (length, 1))
    elif roll < 0.55:
        frame = cv2.GaussianBlur(frame, (0, 0), rng.uniform(0.5, 1.6) * max(scale, 0.5))
    positive, negative = kit.noise()
    sigma = rng.uniform(1.0, 6.0) * (1.8 if night else 1.0)
    if height <= positive.shape[0] and width <= positive.shape[1]:
        oy = int(rng.integers(0, positive.shape[0] - height + 1))
        ox = int(rng.integers(0, positive.shape[1] - width + 1))
        alpha = sigma / _NOISE_SIGMA
        frame = cv2.add(frame, cv2.convertScaleAbs(positive[oy : oy + height, ox : ox + width], alpha=alpha))
        frame = cv2.subtract(
            frame, cv2.convertScaleAbs(negative[oy : oy + height, ox : ox + width], alpha=alpha)
        )
    if rng.random() < 0.8:
        ok, data = cv2.imencode(".jpg", frame, (cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 96))))
        if ok:
            frame = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return frame, annotations
