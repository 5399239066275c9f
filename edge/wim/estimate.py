"""Axle loads, spacings, speed and gross weight of one crossing of a multi-platform scale.

Model: between the two axle strips every axle moves at its own constant speed, so its position at any
sample time is known.  Each platform then weighs the sum of the loads of the axles standing on it:

    platform_kg[t, p] = sum_i load_i * [axle i on platform p at time t]

Solving this in the least-squares sense over every sample and platform uses the whole residence
time (averaging out noise and body bounce) and separates the axles of a tandem by the moments they
stand on different platforms.  The misfit (RMS residual) measures how well the crossing fits the
model: rocking, jumping and stop-and-go crossings fit badly and are sent to re-weigh.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config import ScaleConfig
from edge.lane.buffer import SampleWindow
from edge.wim.kernels import axle_normal_equations, crossing_kinematics, platform_loads

__all__ = ["WimMeasurement", "estimate_crossing", "zero_from_preroll"]


@dataclass(frozen=True)
class WimMeasurement:
    axle_loads_kg: tuple[float, ...]
    axle_spacings_m: tuple[float, ...]
    axle_speeds_kmh: tuple[float, ...]
    speed_kmh: float
    gross_kg: float
    residual_rms_kg: float
    samples_used: int
    samples_lost: int
    problems: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "axle_loads_kg": [round(v, 1) for v in self.axle_loads_kg],
            "axle_spacings_m": [round(v, 3) for v in self.axle_spacings_m],
            "axle_speeds_kmh": [round(v, 2) for v in self.axle_speeds_kmh],
            "speed_kmh": round(self.speed_kmh, 2),
            "gross_kg": round(self.gross_kg, 1),
            "residual_rms_kg": round(self.residual_rms_kg, 1),
            "samples_used": self.samples_used,
            "samples_lost": self.samples_lost,
        }


def _span(scale: ScaleConfig) -> npt.NDArray[np.float64]:
    span = scale.kg_per_count
    n = scale.n_channels
    return np.full(n, span) if isinstance(span, float) else np.asarray(span, dtype=np.float64)


def zero_from_preroll(window: SampleWindow, before_s: float) -> npt.NDArray[np.float64] | None:
    """Per-cell zero (counts): the median of the empty-scale samples before ``before_s``."""
    rows = window.times_s < before_s
    if rows.sum() < 20:
        return None
    return np.median(window.counts[rows], axis=0).astype(np.float64)


def estimate_crossing(
    window: SampleWindow,
    zero_counts: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
) -> WimMeasurement:
    problems: list[str] = []
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    loads = platform_loads(window.counts, zero_counts, _span(scale), scale.cells_per_platform)
    speeds_mps, spacings = crossing_kinematics(entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m)
    ata, atb, btb, used = axle_normal_equations(
        window.times_s, loads, edges, entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m, scale.edge_margin_m
    )
    n_axles = entry_t_s.shape[0]
    axle_loads = np.full(n_axles, np.nan)
    residual_rms = float("nan")
    if used == 0:
        problems.append("no load samples usable for this crossing")
    elif np.linalg.matrix_rank(ata) < n_axles:
        problems.append("axle loads cannot be separated (axles never stood on different platforms)")
    else:
        axle_loads = np.linalg.solve(ata, atb)
        sse = btb - 2.0 * float(axle_loads @ atb) + float(axle_loads @ ata @ axle_loads)
        residual_rms = float(np.sqrt(max(sse, 0.0) / used))
    mean_speed = float(np.mean(speeds_mps)) if n_axles else float("nan")
    return WimMeasurement(
        axle_loads_kg=tuple(float(v) for v in axle_loads),
        axle_spacings_m=tuple(float(v) for v in spacings),
        axle_speeds_kmh=tuple(float(v) * 3.6 for v in speeds_mps),
        speed_kmh=mean_speed * 3.6,
        gross_kg=float(np.sum(axle_loads)),
        residual_rms_kg=residual_rms,
        samples_used=int(used),
        samples_lost=window.samples_lost,
        problems=tuple(problems),
    )
