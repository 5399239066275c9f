"""Stable-weight detection for static weighbridges: window and band, motion, zero tracking, refusals.

OIML R76 practice, as weighbridge indicators apply it:

- **Stable equilibrium**: the readings of the last ``window_s`` seconds stay within a band of
  ``band_divisions`` verification intervals *e* (peak to peak), with no hole in the readings longer than
  ``max_gap_s`` (a link that went silent proves nothing) and at least ``min_readings`` of them.
- **Motion**: the spread over the short ``motion_window_s`` exceeds the band; a truck driving on is seen
  within half a second, long before the stability window would clear.
- **Zero tracking** (R76 4.6.9): only while stable and within +/- ``zero_band_divisions`` e of zero,
  at most ``zero_rate_divisions_per_s`` e per second, and never beyond ``zero_range_fraction`` of Max in
  total; beyond that the deck has not returned to zero, which a weighing site must flag, not absorb.
- **Refusals**: a weighing is refused while any reading of the window is over range (above Max + 9 e,
  or flagged by the indicator), under range, has no number, moves, or is flagged in motion or unstable
  by the indicator.  An indicator claiming stable while the host sees the weight move (the
  remote-control cheat) is refused and flagged.

Everything here is pure: arrays or readings in, verdicts out.  :class:`StabilityMonitor` only keeps the
recent readings for a caller that receives them one by one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from drivers.indicator.driver import IndicatorReading

__all__ = [
    "Judgement",
    "StabilityMonitor",
    "StabilityParams",
    "ZeroState",
    "judge",
    "motion_mask",
    "returned_to_zero",
    "stable_mask",
    "track_zero",
    "trailing_spread",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class StabilityParams:
    """The weighbridge's metrology and the detection's settings (TOML ``[weighing]``)."""

    division_kg: float = 20.0  # e, the verification scale interval
    max_kg: float = 100_000.0  # Max, the capacity
    window_s: float = 1.0
    band_divisions: float = 1.0  # peak-to-peak spread allowed in the window, in e
    motion_window_s: float = 0.5
    min_readings: int = 5
    max_gap_s: float = 0.5
    zero_band_divisions: float = 0.5
    zero_rate_divisions_per_s: float = 0.5
    zero_range_fraction: float = 0.04

    def __post_init__(self) -> None:
        if self.division_kg <= 0 or self.max_kg <= 0:
            raise ValueError("division_kg and max_kg must be > 0")
        if self.window_s <= 0 or self.motion_window_s <= 0 or self.max_gap_s <= 0:
            raise ValueError("window_s, motion_window_s and max_gap_s must be > 0")
        if self.band_divisions <= 0 or self.min_readings < 2:
            raise ValueError("band_divisions must be > 0 and min_readings >= 2")

    @property
    def band_kg(self) -> float:
        return self.band_divisions * self.division_kg

    @property
    def over_range_kg(self) -> float:
        """R76: an indicator shows nothing above Max + 9 e."""
        return self.max_kg + 9 * self.division_kg

    @property
    def under_range_kg(self) -> float:
        """Below 20 e under zero the deck is not empty-and-zeroed, it is a fault."""
        return -20 * self.division_kg


def trailing_spread(t: FloatArray, w: FloatArray, window_s: float) -> tuple[FloatArray, FloatArray]:
    """Per reading ``i``: the peak-to-peak spread of ``w`` over readings with ``t > t[i] - window_s``
    (``i`` included), and how far back that window reaches (``t[i] - t[first]``).  ``t`` ascending."""
    t = np.asarray(t, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n = len(t)
    if n == 0:
        return np.zeros(0), np.zeros(0)
    start = np.searchsorted(t, t - window_s, side="right")
    start = np.minimum(start, np.arange(n))
    idx = np.empty(2 * n, dtype=np.intp)
    idx[0::2] = start
    idx[1::2] = np.arange(1, n + 1)
    padded = np.append(w, w[-1])  # reduceat's last index n needs an element
    spread = np.maximum.reduceat(padded, idx)[0::2] - np.minimum.reduceat(padded, idx)[0::2]
    return spread, t - t[start]


def _max_gap(t: FloatArray, window_s: float) -> FloatArray:
    """Per reading: the longest hole between consecutive readings in its trailing window."""
    n = len(t)
    gaps = np.append(np.diff(t), 0.0)  # gaps[k] = t[k+1] - t[k]
    start = np.minimum(np.searchsorted(t, t - window_s, side="right"), np.arange(n))
    out = np.zeros(n)
    has = start < np.arange(n)
    if has.any():
        idx = np.empty(2 * n, dtype=np.intp)
        idx[0::2] = start
        idx[1::2] = np.maximum(np.arange(n), start + 1)  # gaps start..i-1
        padded = np.append(gaps, 0.0)
        out = np.where(has, np.maximum.reduceat(padded, idx)[0::2], 0.0)
    return out


def stable_mask(t: FloatArray, w: FloatArray, params: StabilityParams) -> BoolArray:
    """Per reading: is the weight in stable equilibrium at that reading's time?"""
    t = np.asarray(t, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    spread, reach = trailing_spread(t, w, params.window_s)
    n_in = np.arange(len(t)) - np.minimum(
        np.searchsorted(t, t - params.window_s, side="right"), np.arange(len(t))
    )
    covered = reach >= params.window_s - params.max_gap_s
    return (
        (spread <= params.band_kg + 1e-9)
        & covered
        & (n_in + 1 >= params.min_readings)
        & (_max_gap(t, params.window_s) <= params.max_gap_s)
    )


def motion_mask(t: FloatArray, w: FloatArray, params: StabilityParams) -> BoolArray:
    """Per reading: does the load move (spread over the short motion window above the band)?"""
    spread, _ = trailing_spread(t, w, params.motion_window_s)
    return spread > params.band_kg + 1e-9


@dataclass(frozen=True)
class Judgement:
    """Whether a weighing may be taken now, and if so the weight."""

    accepted: bool
    weight_kg: float | None
    reason: str  # "stable" when accepted; otherwise why not
    spread_kg: float | None = None
    readings: int = 0
    #: the indicator claimed stable while the host saw the weight move beyond the band
    claimed_stable_while_moving: bool = False
    #: the window's median before rounding to the division (zero tracking works below one e)
    median_kg: float | None = None


def judge(readings: Sequence[IndicatorReading], now_s: float, params: StabilityParams) -> Judgement:
    """May a weighing be taken at ``now_s`` from ``readings`` (ascending ``host_time_s``)?

    Reasons, in the order checked: ``no_readings``, ``stale`` (nothing within ``max_gap_s``: the link is
    down), ``no_weight``, ``over_range``, ``under_range``, ``window_short``, ``gap``, ``motion``
    (the host's band), ``indicator_motion`` (the indicator's own flag), ``stable``.
    """
    window = [r for r in readings if now_s - params.window_s < r.host_time_s <= now_s]
    if not window:
        return Judgement(False, None, "no_readings")
    n = len(window)
    if now_s - window[-1].host_time_s > params.max_gap_s:
        return Judgement(False, None, "stale", readings=n)
    if any(r.weight_kg is None for r in window):
        return Judgement(False, None, "no_weight", readings=n)
    t = np.fromiter((r.host_time_s for r in window), np.float64, n)
    w = np.fromiter((r.weight_kg for r in window), np.float64, n)
    if any(r.over_range for r in window) or w.max() > params.over_range_kg:
        return Judgement(False, None, "over_range", readings=n)
    if any(r.under_range for r in window) or w.min() < params.under_range_kg:
        return Judgement(False, None, "under_range", readings=n)
    spread = float(w.max() - w.min())
    moving = spread > params.band_kg + 1e-9
    cheat = moving and any(r.stable is True for r in window) and all(r.motion is not True for r in window)
    if t[0] > now_s - params.window_s + params.max_gap_s or n < params.min_readings:
        return Judgement(False, None, "window_short", spread, n, cheat)
    if float(np.diff(t).max(initial=0.0)) > params.max_gap_s:
        return Judgement(False, None, "gap", spread, n, cheat)
    if moving:
        return Judgement(False, None, "motion", spread, n, cheat)
    if any(r.motion is True or r.stable is False for r in window):
        return Judgement(False, None, "indicator_motion", spread, n)
    median = float(np.median(w))
    weight = round(median / params.division_kg) * params.division_kg
    return Judgement(True, weight, "stable", spread, n, median_kg=median)


@dataclass(frozen=True)
class ZeroState:
    """Zero tracking's state: the offset taken off every gross reading."""

    offset_kg: float = 0.0
    last_t_s: float | None = None
    #: the tracking would have had to go beyond its range: the deck did not return to zero
    out_of_range: bool = False

    def corrected(self, gross_kg: float) -> float:
        return gross_kg - self.offset_kg


def track_zero(
    state: ZeroState, t_s: float, gross_kg: float, stable: bool, params: StabilityParams
) -> ZeroState:
    """One step of automatic zero tracking (R76 4.6.9); returns the new state.

    Acts only while stable and within +/- ``zero_band_divisions`` e of the tracked zero, moves the zero at
    most ``zero_rate_divisions_per_s`` e per second, and never beyond ``zero_range_fraction`` of Max.
    """
    dt = 0.0 if state.last_t_s is None else max(0.0, t_s - state.last_t_s)
    error = gross_kg - state.offset_kg
    if not stable or abs(error) > params.zero_band_divisions * params.division_kg:
        return ZeroState(state.offset_kg, t_s, state.out_of_range)
    step_max = params.zero_rate_divisions_per_s * params.division_kg * dt
    offset = state.offset_kg + float(np.clip(error, -step_max, step_max))
    limit = params.zero_range_fraction * params.max_kg
    if abs(offset) > limit:
        return ZeroState(float(np.clip(offset, -limit, limit)), t_s, True)
    return ZeroState(offset, t_s, False)


def returned_to_zero(
    readings: Sequence[IndicatorReading], zero: ZeroState, now_s: float, params: StabilityParams
) -> bool:
    """Is the empty deck back at zero: a stable window within the zero band and zero tracking in range?"""
    verdict = judge(readings, now_s, params)
    return (
        verdict.accepted
        and verdict.median_kg is not None
        and abs(zero.corrected(verdict.median_kg)) <= params.zero_band_divisions * params.division_kg
        and not zero.out_of_range
    )


@dataclass
class StabilityMonitor:
    """Keeps the readings of the last window (plus the zero tracking) for a caller fed one by one."""

    params: StabilityParams = field(default_factory=StabilityParams)
    zero: ZeroState = field(default_factory=ZeroState)
    _recent: deque[IndicatorReading] = field(default_factory=deque, init=False, repr=False)

    def add(self, reading: IndicatorReading) -> None:
        self._recent.append(reading)
        horizon = reading.host_time_s - self.params.window_s - self.params.max_gap_s
        while self._recent and self._recent[0].host_time_s < horizon:
            self._recent.popleft()

    def extend(self, readings: Iterable[IndicatorReading]) -> None:
        for reading in readings:
            self.add(reading)

    def recent(self, since_s: float) -> list[IndicatorReading]:
        """The kept readings received after ``since_s`` (host monotonic)."""
        return [r for r in self._recent if r.host_time_s > since_s]

    def judge(self, now_s: float) -> Judgement:
        """The verdict on gross weights, zero-corrected by the tracked offset."""
        verdict = judge(list(self._recent), now_s, self.params)
        if verdict.median_kg is None:
            return verdict
        corrected = self.zero.corrected(verdict.median_kg)
        weight = round(corrected / self.params.division_kg) * self.params.division_kg
        return replace(verdict, weight_kg=weight, median_kg=corrected)

    def track_zero(self, now_s: float) -> ZeroState:
        """Feed zero tracking with the current verdict (call it while the deck should be empty)."""
        verdict = judge(list(self._recent), now_s, self.params)
        if verdict.median_kg is not None:
            self.zero = track_zero(self.zero, now_s, verdict.median_kg, verdict.accepted, self.params)
        else:
            self.zero = ZeroState(self.zero.offset_kg, now_s, self.zero.out_of_range)
        return self.zero
