"""Dynamic calibration: speed-band correction factors from reference-vehicle runs.

A reference vehicle of known static gross (weighed on a verified static scale) crosses the lane many
times at different speeds.  For each speed band the factor is the median of static / measured over the
runs in that band (the median resists the odd bad crossing).  Bands without runs keep 1.0 and are
reported, so the technician knows which speeds still need runs.  The factors go into the lane config
under ``[wim.corrections]`` (key ``default`` or a vehicle class code).

The same runs give the site's own scatter (``wim.site_sd_fraction``): what their errors, once corrected,
spread beyond the uncertainties the crossings stated for themselves.  A deck or an approach that is not
flat moves load between a truck's axles by its shape under them; each axle is weighed over a few metres,
so the error is nearly constant over one crossing, and no crossing can show it.  Only runs of a known load
can.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["BandFit", "ReferenceRun", "correction_factor", "fit_speed_band_factors", "site_sd_fraction"]


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


def site_sd_fraction(site: Sequence[float], edges_kmh: Sequence[float], speed_kmh: float) -> float:
    """The site's own standard error (fraction of a load) at ``speed_kmh``: ``wim.site_sd_fraction``'s
    value for its speed band; 0 when there are none.  At an unknown speed, the largest (a crossing whose
    speed is unknown is re-weighed anyway; its uncertainty should not be the smallest)."""
    if not site:
        return 0.0
    if not math.isfinite(speed_kmh):
        return float(max(site))
    band = sum(1 for edge in edges_kmh[1:-1] if speed_kmh > edge)
    return float(site[band])


@dataclass(frozen=True)
class ReferenceRun:
    speed_kmh: float
    measured_gross_kg: float
    reference_gross_kg: float
    gross_uncertainty_kg: float = math.nan  # what the crossing stated (expanded, k = 2); NaN: not known


@dataclass(frozen=True)
class BandFit:
    edges_kmh: tuple[float, ...]
    factors: tuple[float, ...]
    runs_per_band: tuple[int, ...]
    spread_pct: tuple[float | None, ...]  # std of the per-run ratio in each band, % (None: < 2 runs)
    # The site's own standard error in each band, % of the load (None: < 2 runs that stated an uncertainty).
    site_sd_pct: tuple[float | None, ...] = ()

    def site_sd_fraction(self) -> tuple[float, ...]:
        """``wim.site_sd_fraction`` from :attr:`site_sd_pct`: a band without a figure takes the largest
        of the others (its runs are still to be driven; the others' is the best guess and errs high
        more often than low), all 0 where no band has one."""
        known = [v for v in self.site_sd_pct if v is not None]
        fill = max(known) if known else 0.0
        return tuple(round((fill if v is None else v) / 100, 5) for v in self.site_sd_pct)

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
    stated: list[list[float]] = [
        [] for _ in range(len(edges) - 1)
    ]  # each run's U / 2 / measured, NaN unknown
    for run in runs:
        if not (
            math.isfinite(run.measured_gross_kg)
            and run.measured_gross_kg > 0
            and math.isfinite(run.speed_kmh)
        ):
            continue
        band = sum(1 for edge in edges[1:-1] if run.speed_kmh > edge)
        buckets[band].append(run.reference_gross_kg / run.measured_gross_kg)
        stated[band].append(run.gross_uncertainty_kg / 2.0 / run.measured_gross_kg)
    factors = tuple(round(float(np.median(b)), 5) if b else 1.0 for b in buckets)
    spread = tuple(round(float(np.std(b, ddof=1)) * 100, 3) if len(b) > 1 else None for b in buckets)
    site = tuple(_site_sd_pct(b, u, f) for b, u, f in zip(buckets, stated, factors, strict=True))
    return BandFit(edges, factors, tuple(len(b) for b in buckets), spread, site)


def _site_sd_pct(ratios: Sequence[float], stated: Sequence[float], factor: float) -> float | None:
    """The scatter ``s`` (standard, % of the load) of one band's runs, corrected by the band's ``factor``,
    beyond what they stated: the ``s`` at which their errors, each over its own stated variance plus
    ``s²``, square-sum to their degrees of freedom (n - 1: the factor takes one), the Paule-Mandel
    estimator of a between-run variance; 0 where they scatter no more than they stated.  Each run is
    weighed against its own uncertainty: a few runs that stated much (a fast one, a hard-braking one)
    do not hide the others' excess, as a mean of the stated variances would.  Runs that stated none
    are left out; None with fewer than 2 runs left.  With n runs the figure is itself uncertain by about
    1 / sqrt(2 (n - 1)) of the scatter: 30 runs, 13 %."""
    known = [(r, u) for r, u in zip(ratios, stated, strict=True) if math.isfinite(u) and u >= 0]
    if len(known) < 2:
        return None
    errors2 = np.square(factor / np.array([r for r, _ in known]) - 1.0)
    variances = np.square(np.array([u for _, u in known]))
    dof = len(known) - 1

    def excess(s2: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(errors2 > 0, errors2 / (variances + s2), 0.0)
        return float(np.sum(terms)) - dof

    if excess(0.0) <= 0:
        return 0.0
    # The root lies below the errors' own variance, where even without the stated ones they sum to dof.
    low, high = 0.0, float(np.sum(errors2)) / dof
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if excess(mid) > 0 else (low, mid)
    return round(math.sqrt(high) * 100, 4)
