"""Synthetic plate renderer: layouts, grammar-valid texts, determinism, crops and frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.plates.grammar import (
    LAYOUT_BY_NAME,
    LAYOUTS,
    LETTERS,
    TYPE_LAYOUTS,
    PlateType,
    plate_type,
    validate,
)
from models.plates import render
from tests.support import IN_CI

try:
    _RENDERER = render.PlateRenderer()
except render.PlateAssetsMissing as error:  # pragma: no cover - depends on the machine's fonts
    if IN_CI:  # scripts/install.sh installs the fonts: a missing asset is a failure
        raise
    pytest.skip(f"plate assets missing: {error}", allow_module_level=True)


@pytest.fixture(scope="module")
def renderer() -> render.PlateRenderer:
    return _RENDERER


@pytest.mark.parametrize("layout", [layout.name for layout in LAYOUTS])
def test_every_layout_renders_at_3_px_per_mm(renderer: render.PlateRenderer, layout: str) -> None:
    rng = np.random.default_rng(3)
    text, name = renderer.random_text(rng, layout)
    assert name == layout
    image, corners = renderer.render(text, layout)
    spec = LAYOUT_BY_NAME[layout]
    assert image.dtype == np.uint8
    assert image.shape == (round(spec.height_mm * 3), round(spec.width_mm * 3), 3)
    assert corners.dtype == np.float32
    assert corners.shape == (4, 2)
    height, width = image.shape[:2]
    np.testing.assert_array_equal(corners, [[0, 0], [width, 0], [width, height], [0, height]])
    # Characters were drawn: the plate is not a flat background.
    assert image[int(height * 0.3) : int(height * 0.8)].std() > 20


def test_random_text_is_valid_and_covers_every_type(renderer: render.PlateRenderer) -> None:
    rng = np.random.default_rng(0)
    kinds: set[PlateType] = set()
    layouts: set[str] = set()
    provinces: dict[str, int] = {}
    serial_letters: set[int] = set()
    for _ in range(3000):
        text, layout = renderer.random_text(rng)
        assert validate(text, layout) == [], (text, layout)  # includes GA 36's two serial letters at most
        serial_letters.add(sum(ch in LETTERS for ch in text[2:]))
        kind = plate_type(text, layout)
        assert kind is not None
        assert layout in TYPE_LAYOUTS[kind], (text, layout, kind)
        kinds.add(kind)
        layouts.add(layout)
        if kind not in (PlateType.HK_MACAU, PlateType.EMBASSY):  # 粤Z; 使 and no province
            provinces[text[0]] = provinces.get(text[0], 0) + 1
    assert kinds == set(PlateType)
    assert layouts == set(LAYOUT_BY_NAME)
    assert serial_letters == {0, 1, 2}
    # Provinces roughly uniform: none more than three times its fair share.
    fair = sum(provinces.values()) / 31
    assert len(provinces) == 31
    assert max(provinces.values()) < 3 * fair


def test_random_text_respects_the_requested_layout(renderer: render.PlateRenderer) -> None:
    rng = np.random.default_rng(1)
    for layout in LAYOUT_BY_NAME:
        for _ in range(50):
            text, name = renderer.random_text(rng, layout)
            assert name == layout
            assert validate(text, layout) == []


def test_render_is_deterministic_for_a_seed(renderer: render.PlateRenderer) -> None:
    first, _ = renderer.render("苏A12345", "blue_single", np.random.default_rng(42))
    second, _ = renderer.render("苏A12345", "blue_single", np.random.default_rng(42))
    other, _ = renderer.render("苏A12345", "blue_single", np.random.default_rng(43))
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, other)
    crop_a = renderer.crop_sample(np.random.default_rng(5))
    crop_b = renderer.crop_sample(np.random.default_rng(5))
    np.testing.assert_array_equal(crop_a[0], crop_b[0])
    assert crop_a[1:] == crop_b[1:]


def test_red_characters_where_ga36_says(renderer: render.PlateRenderer) -> None:
    image, _ = renderer.render("京A1234警", "white_single")
    cell = image[75:345, 1138:1273].astype(int)  # the 7th cell, 379.5..424.5 mm at 3 px/mm
    red = (cell[:, :, 2] > 150) & (cell[:, :, 1] < 100)
    assert red.mean() > 0.1
    image, _ = renderer.render("京A1234学", "yellow_single")
    cell = image[75:345, 1138:1273].astype(int)
    assert ((cell[:, :, 2] > 150) & (cell[:, :, 1] < 100)).mean() < 0.01  # 学 is black (table 1)


@pytest.mark.parametrize(("text", "dot_mm"), [("使014578", 248.5), ("沪A0023领", 134.5)])
def test_embassy_plate_follows_ga36_figure_2(
    renderer: render.PlateRenderer, text: str, dot_mm: float
) -> None:
    """使014·578 (figure 2): the dot between the 4th and 5th characters, and 使 red in the first cell; a
    consulate's plate (figure 1, 沪A·0023领) keeps the dot after the 2nd character."""
    image, _ = renderer.render(text, "black_single")
    white = image[75:345].astype(int).sum(axis=2) > 300  # white ink, over the characters' height
    columns = white.any(axis=0)
    edges = np.flatnonzero(np.diff(np.r_[0, columns.astype(int), 0]))
    dots = [
        (a + b) / 2
        for a, b in zip(edges[::2], edges[1::2], strict=True)
        if np.ptp(np.flatnonzero(white[:, a:b].any(axis=1))) < 60  # ink no taller than 20 mm: the dot
    ]
    assert len(dots) == 1 and abs(dots[0] - dot_mm * 3) < 6, dots
    red = image[75:345, 47:181].astype(int)  # the first cell, 15.5..60.5 mm at 3 px/mm
    assert (((red[:, :, 2] > 150) & (red[:, :, 1] < 100)).mean() > 0.1) == text.startswith("使")


def test_crop_sample_every_layout(renderer: render.PlateRenderer) -> None:
    rng = np.random.default_rng(7)
    for layout in LAYOUT_BY_NAME:
        for _ in range(15):
            image, text, name = renderer.crop_sample(rng, layout=layout)
            assert name == layout
            assert validate(text, layout) == []
            assert image.dtype == np.uint8
            assert image.ndim == 3
            assert image.shape[2] == 3
            assert image.shape[0] >= 8
            assert 28 <= image.shape[1] <= 260
    image, text, layout = renderer.crop_sample(rng, text="皖A12345")
    assert (text, layout) == ("皖A12345", "blue_single")


@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)])
def test_frame_corners_inside_and_plate_differs_from_background(
    renderer: render.PlateRenderer, size: tuple[int, int]
) -> None:
    rng = np.random.default_rng(11)
    seen = 0
    for _ in range(6):
        frame, plates = renderer.frame_sample(rng, size)
        assert frame.shape == (size[1], size[0], 3)
        assert frame.dtype == np.uint8
        assert len(plates) <= 2
        for plate in plates:
            assert validate(plate["text"], plate["layout"]) == []
            corners = plate["corners"]
            assert corners.dtype == np.float32
            assert corners.shape == (4, 2)
            assert (corners >= 0).all()
            assert (corners[:, 0] <= size[0]).all()
            assert (corners[:, 1] <= size[1]).all()
            # TL, TR, BR, BL: clockwise in image coordinates (positive shoelace area).
            x, y = corners[:, 0], corners[:, 1]
            assert 0.5 * np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y) > 0
            seen += 1
    assert seen > 0


def test_given_plates_are_drawn_where_the_corners_say() -> None:
    import cv2

    renderer = _RENDERER
    rng = np.random.default_rng(2)
    wanted = [("鲁B12345", "yellow_double"), ("川A9F88D", "green_small")]
    frame, plates = renderer.frame_sample(rng, (1280, 720), plates=wanted)
    assert sorted((p["text"], p["layout"]) for p in plates) == sorted(wanted)
    for plate in plates:
        corners = plate["corners"]
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, np.round(corners).astype(np.int32), 255)
        ring = cv2.dilate(mask, np.ones((15, 15), np.uint8)) - mask
        inside = frame[mask > 0].astype(float).mean(axis=0)
        around = frame[ring > 0].astype(float).mean(axis=0)
        # The plate region really differs from its surroundings (colour or texture).
        assert np.abs(inside - around).max() > 8 or frame[mask > 0].std() > 2 * frame[ring > 0].std()


def test_missing_assets_error_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(render.PlateAssetsMissing, match=str(missing)):
        render.PlateRenderer(missing)
    with pytest.raises(FileNotFoundError):  # the error is also a FileNotFoundError
        render.PlateRenderer(missing)


def test_assets_are_package_data_not_the_shared_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = render.assets_dir()
    assert folder.parent == Path(render.__file__).parent  # inside the package, found by importlib.resources
    for name in ("templates/single_blue1.png", "templates/stain_smu.jpg", "fonts/platechar.ttf", "LICENSE"):
        assert (folder / name).is_file(), name
    assert "MIT License" in (folder / "LICENSE").read_text(encoding="utf-8")
    # A shared folder that does not exist changes nothing: the renderer never reads it.
    monkeypatch.setenv("WEIGHLANE_SHARED", str(tmp_path / "no-shared"))
    image, _ = render.PlateRenderer().render("京A12345", "blue_single")
    assert image.shape[0] > 100


def test_missing_cjk_fonts_give_one_line_naming_the_debian_packages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(render, "_CJK_FONTS", (tmp_path / "wqy-microhei.ttc",))
    with pytest.raises(render.PlateAssetsMissing) as caught:
        render.PlateRenderer()
    message = str(caught.value)
    assert "\n" not in message
    assert "fonts-wqy-microhei" in message and "fonts-noto-cjk" in message


def test_mild_crops_draw_the_same_numbers_and_cap_the_degradations(renderer: render.PlateRenderer) -> None:
    rng = np.random.default_rng(11)
    differ = 0
    for _ in range(80):
        state = rng.bit_generator.state
        full, text, layout = renderer.crop_sample(rng)
        after = rng.bit_generator.state
        rng.bit_generator.state = state
        mild, mild_text, mild_layout = renderer.crop_sample(rng, mild=True)
        # Same plate from the same state: the bench reads each held-out plate both ways.
        assert (mild_text, mild_layout) == (text, layout)
        rng.bit_generator.state = after
        assert mild.shape[1] >= 90 or mild.shape[:2] in ((24, 94), (35, 70)), mild.shape
        differ += not np.array_equal(full, mild)
    assert differ >= 40  # most crops had some degradation above the caps


def test_render_crops_mild_share() -> None:
    from models.plates.dataset import render_crops

    full = render_crops(12, seed=5, workers=1)
    unchanged = render_crops(12, seed=5, workers=1, mild_share=0.0)
    assert unchanged.texts == full.texts  # a share of 0 renders the sets of earlier sittings bit for bit
    assert np.array_equal(unchanged.recogniser, full.recogniser)
    legible = render_crops(12, seed=5, workers=1, mild_share=1.0)
    assert legible.texts[0] == full.texts[0]  # the first plate; later draws depend on the capped sizes
    assert legible.recogniser.shape == full.recogniser.shape
    assert not np.array_equal(full.recogniser, legible.recogniser)


def test_warped_glyph_keeps_its_box_and_changes_its_strokes(renderer: render.PlateRenderer) -> None:
    mask = renderer._glyph("皖", 1, 0, 40, 80)
    rng = np.random.default_rng(4)
    warped = [render._warp_glyph(mask, rng) for _ in range(30)]
    for glyph in warped:
        assert glyph.shape == mask.shape and glyph.dtype == np.uint8
        # Still the same character's ink in the cell: neither erased nor smeared over the whole box.
        assert 0.4 * (mask > 127).sum() < (glyph > 127).sum() < 2.0 * (mask > 127).sum()
    # Different draws, different shapes; narrower, wider, thinner and heavier ones among them.
    ink = np.array([(glyph > 127).sum() for glyph in warped])
    assert ink.min() < 0.85 * (mask > 127).sum() < ink.max()
    assert len({glyph.tobytes() for glyph in warped}) == len(warped)


def test_warp_touches_only_chinese_characters(
    renderer: render.PlateRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, int]] = []
    real_warp = render._warp_glyph

    def recording(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        calls.append(mask.shape)
        return real_warp(mask, rng)

    monkeypatch.setattr(render, "_warp_glyph", recording)
    renderer._compose("皖A12345", "blue_single", 3.0, np.random.default_rng(9))
    assert calls == []  # off by default
    renderer._compose("皖A12345", "blue_single", 3.0, np.random.default_rng(9), warp=True)
    assert len(calls) == 1  # the province only: its cell is 45 x 90 mm, 135 x 270 px at 3 px/mm (+-6 %)
    assert abs(calls[0][0] - 270) <= 17 and abs(calls[0][1] - 135) <= 9
    calls.clear()
    renderer._compose("皖A1234挂", "yellow_single", 3.0, np.random.default_rng(9), warp=True)
    assert len(calls) == 2  # province and the trailer suffix; never the plate font's letters and digits
    calls.clear()
    renderer._compose("皖A12345", "blue_single", 3.0, None, warp=True)
    assert calls == []  # a clean render (no generator) is never warped


def test_render_crops_warp_share() -> None:
    from models.plates.dataset import render_crops

    full = render_crops(12, seed=5, workers=1)
    unchanged = render_crops(12, seed=5, workers=1, warp_share=0.0)
    assert unchanged.texts == full.texts
    assert np.array_equal(unchanged.recogniser, full.recogniser)
    warped = render_crops(12, seed=5, workers=1, warp_share=1.0)
    assert warped.texts[0] == full.texts[0]  # the text is drawn before any glyph
    assert not np.array_equal(full.recogniser, warped.recogniser)


def test_extra_fonts_missing_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(render, "EXTRA_CJK_FONTS", (tmp_path / "NotoSansCJK-Black.ttc",))
    with pytest.raises(render.PlateAssetsMissing, match="fonts-noto-cjk-extra fonts-smiley-sans"):
        render.PlateRenderer(extra_fonts=True)
    render.PlateRenderer()  # the default set does not need them


def _ink_lean(mask: np.ndarray) -> float:
    """Mean ink column of the top quarter minus that of the bottom quarter, in pixels."""
    quarter = mask.shape[0] // 4
    columns = np.arange(mask.shape[1])

    def centre(rows: np.ndarray) -> float:
        weights = rows.astype(np.float64).sum(axis=0)
        return float((weights * columns).sum() / weights.sum())

    return centre(mask[:quarter]) - centre(mask[-quarter:])


def test_extra_fonts_join_the_draw_upright_and_at_their_own_weight(
    renderer: render.PlateRenderer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Two copies of the first base font, one declared heavy and one declared oblique: what the renderer
    # does with each is then measurable against the base font's own glyphs.
    base = next(path for path in render._CJK_FONTS if path.is_file())
    heavy, slanted = tmp_path / "Heavy.ttc", tmp_path / "Slanted.ttc"
    heavy.write_bytes(base.read_bytes())
    slanted.write_bytes(base.read_bytes())
    monkeypatch.setattr(render, "EXTRA_CJK_FONTS", (heavy, slanted))
    monkeypatch.setattr(render, "_CJK_HEAVY", {"Heavy.ttc"})
    monkeypatch.setattr(render, "_CJK_SLANT", {"Slanted.ttc": 0.2})
    monkeypatch.setattr(render, "_CJK_FACE", {**render._CJK_FACE, "Heavy.ttc": 0, "Slanted.ttc": 0})
    extended = render.PlateRenderer(extra_fonts=True)
    assert extended._cjk_count == renderer._cjk_count + 2
    heavy_id, slanted_id = 1 + renderer._cjk_count, 2 + renderer._cjk_count
    ink = {w: int((extended._glyphs["皖", heavy_id, w] > 127).sum()) for w in (-1, 0, 1)}
    assert ink[-1] < ink[0] < ink[1]  # a heavy font is drawn as is, heavier and lighter
    assert np.array_equal(extended._glyphs["皖", heavy_id, 0], renderer._glyphs["皖", 1, -1])  # as drawn
    # The oblique copy is drawn sheared back: its top sits left of the upright drawing's by about
    # 0.2 x the glyph's height between the quarters' centres (240 px master: about 36 px).
    lean = _ink_lean(extended._glyphs["皖", slanted_id, -1]) - _ink_lean(renderer._glyphs["皖", 1, -1])
    assert -60 < lean < -20, lean
    # Crops draw from the larger set.
    rng = np.random.default_rng(3)
    fonts_used = set()
    original = extended._glyph

    def recording(ch: str, font_id: int, weight: int, width: int, height: int) -> np.ndarray:
        fonts_used.add(font_id)
        return original(ch, font_id, weight, width, height)

    monkeypatch.setattr(extended, "_glyph", recording)
    for _ in range(60):
        extended.crop_sample(rng, layout="blue_single")
    assert {heavy_id, slanted_id} <= fonts_used


def test_render_crops_extra_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from models.plates.dataset import render_crops

    base = next(path for path in render._CJK_FONTS if path.is_file())
    extra = tmp_path / "Extra.ttc"
    extra.write_bytes(base.read_bytes())
    monkeypatch.setattr(render, "EXTRA_CJK_FONTS", (extra,))
    default = render_crops(16, seed=5, workers=1)
    extended = render_crops(16, seed=5, workers=1, extra_fonts=True)
    assert extended.texts[0] == default.texts[0]  # the text is drawn before any glyph
    assert not np.array_equal(default.recogniser, extended.recogniser)
    again = render_crops(16, seed=5, workers=1)  # the worker's renderer follows the flag back
    assert np.array_equal(again.recogniser, default.recogniser)
