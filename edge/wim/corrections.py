"""Dynamic calibration: speed-band correction factors from reference-vehicle runs.

A reference vehicle of known static gross (weighed on a verified static scale) crosses the lane many
times at different speeds.  For each speed band the factor is the median of static / measured over the
runs in that band (the median resists the odd bad crossing).  Bands without runs keep 1.0 and are
reported, so the technician knows which speeds still need runs.  The factors go into the lane config
under ``[wim.corrections]`` (key ``default`` or a vehicle class code).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BandFit", "ReferenceRun", "correction_factor", "fit_speed_band_factors"]


def correction_factor(
    corrections: Mapping[str, Sequence[float]],
    edges_kmh: Sequence[float],
    vehicle_class: str,
    speed_kmh: float,
) -> float:
    """The factor a measurement of ``vehicle_class`` at ``speed_kmh`` is multiplied by: the class's own
    factors (``[wim.corrections]``) or else the ``default`` ones, for the speed band it falls in; 1.0
    when there are none or the speed is unknown."""
    factors = corrections.get(vehicle_class) or corrections.get("default")
    if factors is None or not math.isfinite(speed_kmh):
        return 1.0
    band = sum(1 for edge in edges_kmh[1:-1] if speed_kmh > edge)
    return factors[band]


@dataclass(frozen=True)
class ReferenceRun:
    speed_kmh: float
    measured_gross_kg: float
    reference_gross_kg: float


@dataclass(frozen=True)
class BandFit:
    edges_kmh: tuple[float, ...]
    factors: tuple[float, ...]
    runs_per_band: tuple[int, ...]
    spread_pct: tuple[float | None, ...]  # std of the per-run ratio in each band, % (None: < 2 runs)

    @property
    def empty_bands(self) -> list[str]:
        return [
            f"{lo:g}-{hi:g} km/h"
            for lo, hi, n in zip(self.edges_kmh, self.edges_kmh[1:], self.runs_per_band, strict=False)
            if n == 0
        ]


def fit_speed_band_factors(runs: Sequence[ReferenceRun], edges_kmh: Sequence[float]) -> BandFit:
    edges = tuple(float(e) for e in edges_kmh)
    buckets: list[list[float]] = [[] for _ in range(len(edges) - 1)]
    for run in runs:
        if not (
            math.isfinite(run.measured_gross_kg)
            and run.measured_gross_kg > 0
            and math.isfinite(run.speed_kmh)
        ):
            continue
        band = sum(1 for edge in edges[1:-1] if run.speed_kmh > edge)
        buckets[band].append(run.reference_gross_kg / run.measured_gross_kg)
    factors = tuple(round(float(np.median(b)), 5) if b else 1.0 for b in buckets)
    spread = tuple(round(float(np.std(b, ddof=1)) * 100, 3) if len(b) > 1 else None for b in buckets)
    return BandFit(edges, factors, tuple(len(b) for b in buckets), spread)
