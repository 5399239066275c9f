"""The span check (edge.wim.span) on crossings built here, from a lever-rule model of a 4-cell platform that
does not import firmware_sim: trucks at random lateral offsets, bouncing, one cell's gain moved."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from edge.wim.span import SpanMonitor, cross_ratios

WIDTH_M, LENGTH_M, TRACK_M = 3.0, 6.0, 1.8
RATE_HZ = 500


def _cells(rng: np.random.Generator, gains: np.ndarray, n_platforms: int = 2) -> np.ndarray:
    """Zeroed cell loads (samples, 4 x platforms) of a 3-axle truck crossing at 5-30 km/h, its wheels
    ``TRACK_M`` apart at a random lateral offset, axle loads bouncing by up to 10 %, noise 4 kg a cell."""
    speed = rng.uniform(5, 30) / 3.6
    offsets = np.array([0.0, 4.0, 5.3])
    loads = rng.uniform(5000, 11000, 3)
    lateral = rng.normal(0.0, 0.25)
    total_m = n_platforms * LENGTH_M + offsets[-1]
    t = np.arange(0, total_m / speed, 1 / RATE_HZ)
    cells = np.zeros((t.size, 4 * n_platforms))
    # Left share of an axle: each wheel at w from the left edge puts 1 - w / W on the left cells.
    left = sum(0.5 * (1 - (WIDTH_M / 2 - (lateral + s * TRACK_M / 2)) / WIDTH_M) for s in (1, -1))
    for axle in range(3):
        x = speed * t - offsets[axle]
        load = loads[axle] * (1 + 0.1 * np.sin(2 * math.pi * rng.uniform(1.5, 4) * t + rng.uniform(0, 6)))
        for p in range(n_platforms):
            u = x - p * LENGTH_M
            on = (u >= 0) & (u < LENGTH_M)
            along = np.where(on, u / LENGTH_M, 0.0)
            kg = np.where(on, load, 0.0)
            cells[:, 4 * p + 0] += kg * (1 - along) * left
            cells[:, 4 * p + 1] += kg * (1 - along) * (1 - left)
            cells[:, 4 * p + 2] += kg * along * left
            cells[:, 4 * p + 3] += kg * along * (1 - left)
    return cells * gains + rng.normal(0.0, 4.0, cells.shape)


def test_the_cross_ratio_is_the_gain_ratio_whatever_the_truck_does() -> None:
    rng = np.random.default_rng(5)
    gains = np.ones(8)
    gains[5] = 1.01  # platform 2, entry-right
    ratios = np.array([cross_ratios(_cells(rng, gains)) for _ in range(20)])
    np.testing.assert_allclose(ratios[:, 0], 0.0, atol=0.0015)
    np.testing.assert_allclose(ratios[:, 1], -math.log(1.01), atol=0.0015)


@pytest.mark.parametrize("cell", [0, 3, 6])
def test_a_cell_whose_gain_moved_1pct_raises_the_alarm_within_50_trucks(cell: int) -> None:
    rng = np.random.default_rng(cell)
    gains = np.ones(8)
    gains[cell] = 1.01
    monitor = SpanMonitor(2)
    fired = None
    for truck in range(1, 51):
        monitor.observe(cross_ratios(_cells(rng, gains)))
        if monitor.alarm and fired is None:
            fired = truck
    assert fired is not None and fired <= 50
    assert monitor.message.startswith(f"platform {cell // 4 + 1}:"), monitor.message
    assert monitor.state()["alarm"] is True


def test_a_healthy_scale_stays_quiet_and_an_empty_platform_says_nothing() -> None:
    rng = np.random.default_rng(11)
    monitor = SpanMonitor(2)
    for _ in range(200):
        monitor.observe(cross_ratios(_cells(rng, np.ones(8))))
        assert not monitor.alarm, monitor.message
    assert np.isnan(cross_ratios(np.zeros((1000, 8)))).all()


def test_the_weighing_stage_raises_the_span_alarm_from_its_crossings() -> None:
    """Live path: weigh() gives each crossing's cross ratios, Weighing.learn() feeds the monitor, health
    shows it.  The 5-axle crossing of tests/test_wim_motion (equal cells) with exit-left of platform 1 at
    +1 % gain."""
    from dataclasses import replace

    from edge.wim.weighing import Weighing, weigh
    from tests.test_wim_motion import _config, _crossing, _steady_change

    config = _config()
    clean = _crossing(*_steady_change(8.0, 0.0))
    window = clean.window
    zero = np.median(window.counts[window.times_s < clean.entry_t_s.min()], axis=0)
    gains = np.ones(window.counts.shape[1])
    gains[2] = 1.01
    counts = np.rint(zero + (window.counts - zero) * gains).astype(np.int32)
    moved = replace(clean, window=replace(window, counts=counts))
    ratios = weigh(moved, config).span_ratios
    assert ratios is not None
    assert ratios[0] == pytest.approx(-math.log(1.01), abs=0.001)
    np.testing.assert_allclose(ratios[1:], 0.0, atol=0.001)
    healthy, drifted = Weighing(config.scale, None), Weighing(config.scale, None)
    for _ in range(SpanMonitor(3).min_n):
        healthy.learn(weigh(clean, config))
        drifted.learn(weigh(moved, config))
    assert not healthy.span_alarm and drifted.span_alarm
    assert drifted.state()["span_check"]["alarm"] is True
    assert "platform 1:" in drifted.state()["span_check"]["message"]


async def test_every_record_carries_the_span_check_at_its_verdict(make_rig: Any, short_scenario: Any) -> None:
    """The lane's evidence records name the span check as it stood at each verdict: one more crossing
    observed each time, and the alarm (here quiet: three trucks on healthy cells, below the 10 it needs)."""
    rig = make_rig(short_scenario, None)
    await rig.start()
    try:
        await rig.wait_records(len(short_scenario.trucks), timeout_s=rig.sim.duration_s + 60)
    finally:
        await rig.close()
    checks = [record["calibration"]["span_check"] for record in rig.records]
    assert [check["observations"] for check in checks] == list(range(1, len(short_scenario.trucks) + 1))
    assert all(check["alarm"] is False for check in checks)
    assert all(len(check["cross_ratio_median"]) == 3 for check in checks)
    assert rig.daemon.health()["auto_zero"]["span_check"] == checks[-1]


def _cross_ratios_reference(
    cell_kg: np.ndarray, min_platform_kg: float = 2000.0, share: float = 0.05
) -> np.ndarray:
    """The cross ratios as first written: the samples x cells array sliced per platform, row by row."""
    out = np.full(cell_kg.shape[1] // 4, np.nan)
    for p in range(out.size):
        cells = cell_kg[:, 4 * p : 4 * p + 4]
        total = cells.sum(axis=1)
        loaded = (total > min_platform_kg) & np.all(cells > share * total[:, None], axis=1)
        if loaded.sum() >= 10:
            s = cells[loaded].sum(axis=0)
            out[p] = math.log(s[0] * s[3] / (s[1] * s[2]))
    return out


def test_cross_ratios_match_the_row_by_row_reference() -> None:
    """The column-wise cross ratios equal the plain row-by-row ones: moved gains, three platforms, a
    platform that never carries enough (NaN in both), windows in C order, Fortran order and strided."""
    rng = np.random.default_rng(11)
    for k in range(10):
        gains = 1 + rng.normal(0, 0.01, 12)
        cells = _cells(rng, gains, n_platforms=3)
        if k % 3 == 0:
            cells[:, 8:] = rng.normal(0.0, 4.0, (cells.shape[0], 4))  # platform 3 empty: noise only
        # A window as the lane may hand it: C order, Fortran order, or a strided view of a wider array.
        wider = np.hstack([cells, np.zeros((cells.shape[0], 3))])
        view = (cells, np.asfortranarray(cells), wider[:, :12])[k % 3]
        assert k % 3 != 2 or not view.flags.c_contiguous
        expected = _cross_ratios_reference(cells)
        got = cross_ratios(view)
        assert np.array_equal(np.isnan(got), np.isnan(expected))
        # Sums in sample order (the kernel) against NumPy's pairwise sums: rounding only.
        np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-9, atol=1e-12)
        assert np.isfinite(got[:2]).all()
    assert np.isnan(cross_ratios(np.zeros((1000, 12)))).all()


def test_cross_ratios_kernel_on_raw_counts_matches_its_numpy_reference() -> None:
    """The one-pass kernel on a window's raw counts (int32, with the zero and each cell's kg per count)
    against its NumPy reference: moved gains, a platform that carries too little (NaN in both), a platform
    loaded for just 10 samples (a ratio) and for 9 (NaN), the zero and the span applied as the lane does."""
    from edge.wim import kernels, reference

    rng = np.random.default_rng(29)
    for k in range(12):
        cells = _cells(rng, 1 + rng.normal(0, 0.01, 12), n_platforms=3)
        if k % 4 == 0:
            cells[:, 8:] = rng.normal(0.0, 4.0, (cells.shape[0], 4))  # platform 3 empty: noise only
        if k % 4 == 1:  # platform 2 loaded for only 10 (k = 1, 9) or 9 (k = 5) samples
            cells[:, 4:8] = rng.normal(0.0, 4.0, (cells.shape[0], 4))
            cells[: 9 + (k != 5), 4:8] = 1000.0
        span = rng.uniform(0.5, 2.0, 12)
        zero = rng.uniform(-3000.0, 3000.0, 12).round()
        counts = np.round(cells / span + zero).astype(np.int32)
        args = (counts, zero, span, 2000.0, 0.05)
        got = kernels.cross_ratios(*args)
        want = reference.cross_ratios_ref(*args)
        assert np.array_equal(np.isnan(got), np.isnan(want)), k
        np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-9, atol=1e-12)
        assert np.isfinite(got[0])
        if k % 4 == 0:
            assert np.isnan(got[2])
        if k % 4 == 1:
            assert np.isnan(got[1]) == (k == 5)
        # The span module's entry point, as weigh calls it, is the kernel's.
        np.testing.assert_array_equal(cross_ratios(counts, zero, span), got)
