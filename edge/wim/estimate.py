"""Axle loads, spacings, speed and gross weight of one crossing of a multi-platform scale.

Model: between the two axle strips every axle moves at its own constant speed, so its position at any
sample time is known.  Each platform then weighs the sum of the loads of the axles standing on it,
where an axle whose tyre footprint straddles a platform edge counts for the share of the footprint on
the platform (uniform contact pressure over ``scale.tyre_footprint_m``):

    platform_kg[t, p] = sum_i load_i * share(i, p, t)

Solving this in the least-squares sense over every sample and platform uses the whole residence
time (averaging out noise and body bounce) and separates the axles of a tandem by the moments they
stand on different platforms.  The misfit (RMS residual) measures how well the crossing fits the
model: rocking, jumping and stop-and-go crossings fit badly and are sent to re-weigh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from edge.config import RulesConfig, ScaleConfig
from edge.lane.buffer import SampleWindow
from edge.wim.kernels import axle_normal_equations, crossing_kinematics, platform_loads

__all__ = ["WimMeasurement", "estimate_crossing", "span_per_cell", "stability_problems", "zero_from_preroll"]


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

    def corrected(self, factor: float) -> WimMeasurement:
        """The same measurement with loads multiplied by a dynamic correction factor."""
        return replace(
            self,
            axle_loads_kg=tuple(v * factor for v in self.axle_loads_kg),
            gross_kg=self.gross_kg * factor,
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready; a value that could not be computed is null, never NaN."""
        return {
            "axle_loads_kg": [_finite(v, 1) for v in self.axle_loads_kg],
            "axle_spacings_m": [_finite(v, 3) for v in self.axle_spacings_m],
            "axle_speeds_kmh": [_finite(v, 2) for v in self.axle_speeds_kmh],
            "speed_kmh": _finite(self.speed_kmh, 2),
            "gross_kg": _finite(self.gross_kg, 1),
            "residual_rms_kg": _finite(self.residual_rms_kg, 1),
            "samples_used": self.samples_used,
            "samples_lost": self.samples_lost,
        }


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def span_per_cell(scale: ScaleConfig) -> npt.NDArray[np.float64]:
    span = scale.kg_per_count
    n = scale.n_channels
    return np.full(n, span) if isinstance(span, float) else np.asarray(span, dtype=np.float64)


def _separable(ata: npt.NDArray[np.float64]) -> bool:
    """True when A^T A is well-conditioned positive definite (a Cholesky factor with no tiny pivot).

    Cheaper than an SVD rank test; a pivot below 1e-9 of the largest means some combination of axles
    was never weighed apart from the others.
    """
    try:
        factor = np.linalg.cholesky(ata)
    except np.linalg.LinAlgError:
        return False
    pivots = np.abs(np.diag(factor))
    return bool(pivots.size and pivots.min() > 1e-9 * pivots.max())


def zero_from_preroll(window: SampleWindow, before_s: float) -> npt.NDArray[np.float64] | None:
    """Per-cell zero (counts): the median of the empty-scale samples before ``before_s``."""
    rows = window.times_s < before_s
    if rows.sum() < 20:
        return None
    zero: npt.NDArray[np.float64] = np.median(window.counts[rows], axis=0).astype(np.float64)
    return zero


def estimate_crossing(
    window: SampleWindow,
    zero_counts: npt.NDArray[np.float64],
    entry_t_s: npt.NDArray[np.float64],
    exit_t_s: npt.NDArray[np.float64],
    scale: ScaleConfig,
) -> WimMeasurement:
    problems: list[str] = []
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    loads = platform_loads(window.counts, zero_counts, span_per_cell(scale), scale.cells_per_platform)
    speeds_mps, spacings = crossing_kinematics(entry_t_s, exit_t_s, scale.entry_strip_x_m, scale.exit_x_m)
    ata, atb, btb, used = axle_normal_equations(
        window.times_s,
        loads,
        edges,
        entry_t_s,
        exit_t_s,
        scale.entry_strip_x_m,
        scale.exit_x_m,
        scale.edge_margin_m,
        scale.tyre_footprint_m,
    )
    n_axles = entry_t_s.shape[0]
    axle_loads = np.full(n_axles, np.nan)
    residual_rms = float("nan")
    if used == 0:
        problems.append("no load samples usable for this crossing")
    elif not _separable(ata):
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


def stability_problems(m: WimMeasurement, rules: RulesConfig) -> list[str]:
    """Reasons this crossing cannot be judged (re-weigh), from the measurement alone."""
    reasons = list(m.problems)
    speeds = np.array(m.axle_speeds_kmh)
    if speeds.size and (speeds.min() < rules.min_speed_kmh or speeds.max() > rules.max_speed_kmh):
        reasons.append(
            f"speed {speeds.min():.1f}-{speeds.max():.1f} km/h outside"
            f" {rules.min_speed_kmh:g}-{rules.max_speed_kmh:g} km/h"
        )
    if speeds.size:
        median = float(np.median(speeds))
        change = float(np.max(np.abs(speeds - median)) / median) if median > 0 else math.inf
        if change > rules.max_speed_change_fraction:
            reasons.append(f"speed changed on the scale by {change:.0%} (braking or stop-and-go)")
    loads = np.array(m.axle_loads_kg)
    if loads.size and np.all(np.isfinite(loads)):
        if loads.min() <= 0:
            reasons.append("an axle load came out non-positive (vehicle did not cross cleanly)")
        mean_load = float(loads.mean())
        # Normal bounce and axle hop grow roughly with sqrt(speed) (dynamic load coefficient); a jump,
        # a rocking or a stop-and-go crossing misfits far more than that.
        reference = rules.residual_reference_speed_kmh
        speed = m.speed_kmh if math.isfinite(m.speed_kmh) else reference
        allowed = rules.max_residual_fraction * math.sqrt(max(speed, reference) / reference)
        if mean_load > 0 and m.residual_rms_kg > allowed * mean_load:
            reasons.append(
                f"load signal does not fit a steady crossing (misfit {m.residual_rms_kg:.0f} kg RMS,"
                f" > {allowed:.1%} of the mean axle load at {speed:.0f} km/h): rocking, jumping or stop-and-go"
            )
    elif not m.problems:
        reasons.append("axle loads could not be computed")
    if m.samples_lost:
        reasons.append(f"{m.samples_lost} load samples lost on the digitiser link during the crossing")
    return reasons
