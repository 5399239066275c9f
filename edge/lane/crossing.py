"""A crossing: everything the weighing needs about one vehicle, cut out of the live streams.

The daemon builds one from a finished session and the sample buffer; a raw capture file holds exactly
one (edge/wim/capture.py); replay and live weighing both hand it to :func:`edge.judge.judge`, so a
capture replays to the very result the lane produced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.lane.buffer import SampleBuffer, SampleWindow
from edge.lane.session import VehicleSession

__all__ = ["Crossing", "build_crossing"]

F64 = npt.NDArray[np.float64]

#: Samples kept after the last axle's exit (s): the footprint leaving the last platform.
POSTROLL_S = 0.05


@dataclass(frozen=True, eq=False)
class Crossing:
    vehicle_number: int
    window: SampleWindow  # raw counts with host times, pre-roll included
    sample_rate_hz: int
    entry_t_s: F64  # per axle, host time at the entry strip
    exit_t_s: F64  # per axle, host time at the exit strip; NaN where the axle never exited
    tyres: tuple[str, ...]
    problems: tuple[str, ...]  # from the lane: reasons this crossing cannot be judged
    fallback_zero_counts: F64 | None  # the last good zero, for when the pre-roll is not empty
    # Per axle and intermediate strip (scale.mid_strips_x_m), host time over it; NaN where the strip missed
    # the axle.  None: the lane has no intermediate strips.
    mid_t_s: F64 | None = None

    @property
    def complete(self) -> bool:
        return self.entry_t_s.size > 0 and bool(np.all(np.isfinite(self.exit_t_s)))


def build_crossing(
    session: VehicleSession,
    buffer: SampleBuffer,
    sample_rate_hz: int,
    preroll_s: float,
    fallback_zero_counts: F64 | None,
) -> Crossing:
    problems = list(session.problems)
    entry_t = np.array([a.entry_t_s for a in session.axles], dtype=np.float64)
    exit_t = np.array([np.nan if a.exit_t_s is None else a.exit_t_s for a in session.axles], dtype=np.float64)
    n_mid = len(session.axles[0].mid_t_s) if session.axles else 0
    mid_t = np.array([a.mid_t_s for a in session.axles], dtype=np.float64).reshape(len(session.axles), n_mid)
    if entry_t.size:
        last = float(np.nanmax(exit_t)) if np.isfinite(exit_t).any() else float(entry_t.max())
        window = buffer.window(float(entry_t.min()) - preroll_s, last + POSTROLL_S)
        if window.times_s.size == 0 or window.times_s[-1] < last:
            problems.append("load samples do not cover the whole crossing (digitiser link interrupted)")
    else:
        window = SampleWindow(np.zeros(0), np.zeros((0, buffer.n_channels), dtype=np.int32), 0)
    return Crossing(
        vehicle_number=session.number,
        window=window,
        sample_rate_hz=sample_rate_hz,
        entry_t_s=entry_t,
        exit_t_s=exit_t,
        tyres=tuple(a.tyre for a in session.axles),
        problems=tuple(problems),
        fallback_zero_counts=fallback_zero_counts,
        mid_t_s=mid_t if n_mid else None,
    )
