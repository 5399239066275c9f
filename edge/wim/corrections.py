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
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

__all__ = [
    "BandFit",
    "ReferenceRun",
    "correction_factor",
    "fit_speed_band_factors",
    "redistribution_shares",
    "site_sd_fraction",
]


def speed_band(edges_kmh: Sequence[float], speed_kmh: float) -> int:
    """Index of the band of ``edges_kmh`` that ``speed_kmh`` falls in (an edge belongs to the band below;
    speeds beyond the last edges fall in the first or last band)."""
    return sum(1 for edge in edges_kmh[1:-1] if speed_kmh > edge)


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
    return factors[speed_band(edges_kmh, speed_kmh)]


def site_sd_fraction(site: Sequence[float], edges_kmh: Sequence[float], speed_kmh: float) -> float:
    """The site's own standard error (fraction of a load) at ``speed_kmh``: ``wim.site_sd_fraction``'s
    value for its speed band; 0 when there are none.  At an unknown speed, the largest (a crossing whose
    speed is unknown is re-weighed anyway; its uncertainty should not be the smallest)."""
    if not site:
        return 0.0
    if not math.isfinite(speed_kmh):
        return float(max(site))
    return float(site[speed_band(edges_kmh, speed_kmh)])


@dataclass(frozen=True)
class ReferenceRun:
    speed_kmh: float
    measured_gross_kg: float
    reference_gross_kg: float
    gross_uncertainty_kg: float = math.nan  # what the crossing stated (expanded, k = 2); NaN: not known
    # Each axle as weighed, as weighed statically (the reference vehicle's axle loads), and the expanded
    # (k = 2) uncertainty the crossing stated for it; empty: no axle references (gross only).
    measured_axles_kg: tuple[float, ...] = ()
    reference_axles_kg: tuple[float, ...] = ()
    axle_uncertainties_kg: tuple[float, ...] = ()


@dataclass(frozen=True)
class BandFit:
    edges_kmh: tuple[float, ...]
    factors: tuple[float, ...]
    runs_per_band: tuple[int, ...]
    spread_pct: tuple[float | None, ...]  # std of the per-run ratio in each band, % (None: < 2 runs)
    # The site's own standard error in each band, % of the load (None: < 2 runs that stated an uncertainty).
    site_sd_pct: tuple[float | None, ...] = ()
    # Its share per axle moved between the axles (the gross unchanged), % of the axle load (None: no axle
    # references).
    site_axle_sd_pct: tuple[float | None, ...] = ()

    def site_sd_fraction(self) -> tuple[float, ...]:
        """``wim.site_sd_fraction`` from :attr:`site_sd_pct`: a band without a figure takes the largest
        of the others (its runs are still to be driven; the others' is the best guess and errs high
        more often than low), all 0 where no band has one."""
        return _filled(self.site_sd_pct)

    def site_axle_sd_fraction(self) -> tuple[float, ...]:
        """``wim.site_axle_sd_fraction`` from :attr:`site_axle_sd_pct`, filled as :meth:`site_sd_fraction`."""
        return _filled(self.site_axle_sd_pct)

    @property
    def empty_bands(self) -> list[str]:
        return [
            f"{lo:g}-{hi:g} km/h"
            for lo, hi, n in zip(self.edges_kmh, self.edges_kmh[1:], self.runs_per_band, strict=False)
            if n == 0
        ]


def _filled(pct: Sequence[float | None]) -> tuple[float, ...]:
    known = [v for v in pct if v is not None]
    fill = max(known) if known else 0.0
    return tuple(round((fill if v is None else v) / 100, 5) for v in pct)


@dataclass
class _Band:
    """One speed band's runs: gross ratios, stated gross standard uncertainties (fraction, NaN unknown),
    and per run with axle references: axle ratios, stated axle standard uncertainties (fractions) and
    each axle's share of a unit redistribution's variance (:func:`redistribution_shares`)."""

    ratios: list[float] = field(default_factory=list)
    stated: list[float] = field(default_factory=list)
    axle_runs: list[tuple[F64, F64, F64]] = field(default_factory=list)


def redistribution_shares(loads_kg: F64) -> F64:
    """Each axle's variance (over its load squared) from a unit share of scatter per axle moved between
    the axles, not added to the gross: the diagonal of ``Pi diag(L²) Pi`` (``Pi = I - 11ᵀ/n``) over
    ``L²``, which is ``1 - 2/n + sum(L²) / (n² L_i²)``."""
    n = loads_kg.size
    return np.asarray(1.0 - 2.0 / n + float(np.sum(loads_kg**2)) / (n**2 * loads_kg**2), dtype=np.float64)


def fit_speed_band_factors(runs: Sequence[ReferenceRun], edges_kmh: Sequence[float]) -> BandFit:
    """Per speed band: the correction factor (the median of reference / measured), the spread of the
    ratios, and the site's own scatter beyond what the runs stated, as one share of the gross common to
    every axle and, where runs carry axle references, a share per axle moved between the axles
    (:func:`_site_scatter`)."""
    edges = tuple(float(e) for e in edges_kmh)
    bands = [_Band() for _ in range(len(edges) - 1)]
    for run in runs:
        if not (
            math.isfinite(run.measured_gross_kg)
            and run.measured_gross_kg > 0
            and math.isfinite(run.speed_kmh)
        ):
            continue
        band = bands[speed_band(edges, run.speed_kmh)]
        band.ratios.append(run.reference_gross_kg / run.measured_gross_kg)
        band.stated.append(run.gross_uncertainty_kg / 2.0 / run.measured_gross_kg)
        measured = np.asarray(run.measured_axles_kg, dtype=np.float64)
        reference = np.asarray(run.reference_axles_kg, dtype=np.float64)
        axle_u = np.asarray(run.axle_uncertainties_kg, dtype=np.float64)
        if (
            measured.size >= 2
            and measured.size == reference.size == axle_u.size
            and np.all(np.isfinite(measured) & (measured > 0))
            and np.all(np.isfinite(reference) & np.isfinite(axle_u) & (axle_u >= 0))
        ):
            band.axle_runs.append(
                (reference / measured, axle_u / 2.0 / measured, redistribution_shares(measured))
            )
    factors = tuple(round(float(np.median(b.ratios)), 5) if b.ratios else 1.0 for b in bands)
    spread = tuple(
        round(float(np.std(b.ratios, ddof=1)) * 100, 3) if len(b.ratios) > 1 else None for b in bands
    )
    scatter = [_site_scatter(b, f) for b, f in zip(bands, factors, strict=True)]
    return BandFit(
        edges,
        factors,
        tuple(len(b.ratios) for b in bands),
        spread,
        tuple(g for g, _ in scatter),
        tuple(a for _, a in scatter),
    )


def _site_scatter(band: _Band, factor: float) -> tuple[float | None, float | None]:
    """The band's scatter beyond what its runs stated, standard, % of the load: ``(g, a)``, ``g`` a share
    of the gross common to every axle of a run (a span-like error), ``a`` a share per axle moved between
    the axles, which leaves the gross as it is (an uneven deck shifts load between a truck's axles; None
    without axle references).  The gross's relative variance is ``g² + u_G²``; axle ``i``'s is
    ``g² + a² c_i + u_i²`` (``c_i`` from :func:`redistribution_shares`).  Each is fitted by Paule-Mandel
    (:func:`_paule_mandel`), the gross's first."""
    known = [(r, u) for r, u in zip(band.ratios, band.stated, strict=True) if math.isfinite(u) and u >= 0]
    if len(known) < 2:
        return None, None
    gross_errors2 = np.square(factor / np.array([r for r, _ in known]) - 1.0)
    g2 = _paule_mandel(gross_errors2, np.square(np.array([u for _, u in known])), len(known) - 1)
    axle = None
    if sum(r.size for r, _, _ in band.axle_runs) >= 2:
        errors2 = np.concatenate([np.square(factor / r - 1.0) for r, _, _ in band.axle_runs])
        stated2 = np.concatenate([np.square(u) + g2 for _, u, _ in band.axle_runs])
        shares = np.concatenate([c for _, _, c in band.axle_runs])
        axle = round(math.sqrt(_paule_mandel(errors2, stated2, errors2.size - 1, shares)) * 100, 4)
    return round(math.sqrt(g2) * 100, 4), axle


def _paule_mandel(errors2: F64, variances: F64, dof: int, shares: F64 | None = None) -> float:
    """The ``s²`` at which ``sum(errors2 / (variances + s² shares))`` equals ``dof`` (0 where it is
    already at most ``dof``; ``shares`` 1 by default): the Paule-Mandel estimator of the variance between
    runs beyond each one's stated ``variances``.  Each run is weighed against its own uncertainty: a few runs that stated much (a fast
    one, a hard-braking one) do not hide the others' excess, as a mean of the stated variances would.
    With n runs the figure is itself uncertain by about 1 / sqrt(2 (n - 1)) of the scatter (30 runs:
    13 %)."""

    weights = np.ones_like(errors2) if shares is None else shares

    def excess(s2: float) -> float:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(errors2 > 0, errors2 / (variances + s2 * weights), 0.0)
        return float(np.sum(terms)) - dof

    if dof < 1 or excess(0.0) <= 0:
        return 0.0
    # The root lies below the errors' own variance, where even without the stated ones they sum to dof.
    low, high = 0.0, float(np.sum(errors2 / weights)) / dof
    for _ in range(100):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if excess(mid) > 0 else (low, mid)
    return high
