"""The centre of load along a platform: where an axle that stands on a platform alone is, sample by sample.

A platform rests on four load cells, two at its entry end and two at its exit end.  An axle a fraction
``u`` along it puts ``1 - u`` of its load on the entry cells and ``u`` on the exit cells (the lever rule,
``docs/capture-format.md``), so while it is the platform's only load

    x = x_lo + (x_hi - x_lo) * exit_kg / (entry_kg + exit_kg)

is its position, whatever its load does meanwhile: the body's bounce and pitch, which make the weighing
hard, cancel in the ratio.  The strips time each axle at two places only; these positions follow it all
along the platform, so a brake that starts after the front axle has left a short platform and before the
rear axle is weighed shows in the rear axle's own path (the strips' four events fit any such crossing
exactly).  They join the strip events in the speed profile's fit (:func:`edge.wim.motion.fit_speed_profile`);
and over each stretch of samples in which the same axles stand on a platform alone
(:func:`load_centre_stretches`), a quadratic in the centre of load gives their acceleration there, which
:func:`edge.wim.estimate.centre_accelerations` puts in the pitch load transfer where it departs from the
profile's.  Stretches of one axle are clean (its load cancels); those of several wobble with the share
of load between them (on the independent model a tandem's read 0.1-1.1 m/s² off over 0.5-1 s) and are not
used.

Where an axle stands alone is found from a first profile (the strips' alone): its tyres' contact patch
inside the platform by ``margin_m`` and every other axle's patch off it by as much.  Each such stretch
gives up to ``chunks`` events, the mean time and the mean position of consecutive equal parts of it (at
least :data:`MIN_CHUNK_SAMPLES` samples each); samples whose platform load is below ``min_load_kg`` are
left out (the ratio of two small numbers).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.wim.motion import SpeedProfile

__all__ = [
    "CENTRE_CHUNKS",
    "CENTRE_MARGIN_M",
    "CENTRE_MAX_DISAGREEMENT_M",
    "CENTRE_MIN_LOAD_KG",
    "CENTRE_MIN_STRETCH_S",
    "MIN_CHUNK_SAMPLES",
    "Stretch",
    "end_loads",
    "load_centre_events",
    "load_centre_stretches",
]

F64 = npt.NDArray[np.float64]

MIN_CHUNK_SAMPLES = 10
"""Fewest samples one centre-of-load event is averaged from."""

CENTRE_MARGIN_M = 0.15
"""An axle counts as alone on a platform while the strips' profile puts its contact patch inside the
platform by this (m) and every other axle's patch off it by as much (the strips' profile places a braking
truck's later axles within a few cm)."""

CENTRE_CHUNKS = 4
"""Centre-of-load events per stretch an axle stands alone on a platform."""

CENTRE_MIN_LOAD_KG = 200.0
"""Samples whose platform load is at most this (kg) give no centre of load."""

CENTRE_MIN_STRETCH_S = 0.25
"""A stretch shorter than this (s) gives no acceleration: over 0.1-0.2 s the loads' dynamics moved a
steady axle's reading by up to 4 m/s² on the independent model, over 0.25-0.5 s by at most 0.45."""

CENTRE_MAX_DISAGREEMENT_M = 0.05
"""A crossing whose centre-of-load events are, in the median, further than this (m) from where the strips
alone put the axles uses none of them: cells that do not follow the documented lever rule (another corner
order, cells set in from the platform's ends) misplace every axle, crossing after crossing."""


def end_loads(
    counts: npt.NDArray[np.int32], zero_counts: F64, kg_per_count: F64, cells_per_platform: int
) -> tuple[F64, F64]:
    """(exit-end load, whole load), kg, samples x platforms: the exit cells (channels 2 and 3 of each
    platform's four: entry-left, entry-right, exit-left, exit-right) and all four."""
    if cells_per_platform != 4:
        raise ValueError(
            f"the centre of load needs 4 cells a platform (2 at each end), got {cells_per_platform}"
        )
    cell_kg = (counts - zero_counts[None, :]) * kg_per_count[None, :]
    by_corner = cell_kg.reshape(counts.shape[0], -1, 4)
    exit_kg: F64 = by_corner[:, :, 2] + by_corner[:, :, 3]
    total_kg: F64 = by_corner.sum(axis=2)
    return exit_kg, total_kg


def load_centre_events(
    times_s: F64,
    exit_kg: F64,
    total_kg: F64,
    edges_m: F64,
    profile: SpeedProfile,
    footprint_m: float,
    margin_m: float,
    chunks: int,
    min_load_kg: float,
) -> tuple[npt.NDArray[np.intp], F64, F64]:
    """(axle, time, position) of each centre-of-load event (module docstring), on the sample clock;
    ``exit_kg``, ``total_kg`` from :func:`end_loads`, ``edges_m`` the platforms' edges, ``profile`` the
    motion that says which axle stands where."""
    axles: list[int] = []
    t_out: list[float] = []
    x_out: list[float] = []
    offsets = profile.offsets_m
    n_axles = offsets.size
    if n_axles == 0 or times_s.size < MIN_CHUNK_SAMPLES or chunks < 1:
        return np.zeros(0, dtype=np.intp), np.zeros(0), np.zeros(0)
    x_axles = profile.front_x(times_s)[:, None] - offsets[None, :]
    half = footprint_m / 2.0
    for p in range(edges_m.size - 1):
        lo, hi = float(edges_m[p]), float(edges_m[p + 1])
        inside = (x_axles >= lo + half + margin_m) & (x_axles <= hi - half - margin_m)
        near = (x_axles > lo - half - margin_m) & (x_axles < hi + half + margin_m)
        loaded = total_kg[:, p] > min_load_kg
        for i in range(n_axles):
            others_near = np.any(np.delete(near, i, axis=1), axis=1)
            alone = inside[:, i] & ~others_near & loaded
            for start, stop in _runs(alone):
                n = stop - start
                k = min(chunks, n // MIN_CHUNK_SAMPLES)
                if k < 1:
                    continue
                bounds = np.linspace(start, stop, k + 1).round().astype(np.intp)
                for a, b in itertools.pairwise(bounds):
                    share = exit_kg[a:b, p] / total_kg[a:b, p]
                    axles.append(i)
                    t_out.append(float(times_s[a:b].mean()))
                    x_out.append(lo + (hi - lo) * float(share.mean()))
    return np.asarray(axles, dtype=np.intp), np.asarray(t_out), np.asarray(x_out)


def _runs(mask: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """The [start, stop) index ranges where ``mask`` is true."""
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    change = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(change[::2], change[1::2], strict=True)]


@dataclass(frozen=True)
class Stretch:
    """A time the same axles stood wholly on one platform with no other axle touching it, and the
    acceleration its centre of load showed meanwhile (a quadratic fitted to it)."""

    platform: int
    axles: tuple[int, ...]
    t0_s: float
    t1_s: float
    accel_mps2: float
    accel_se_mps2: float  # from the fit's residuals, blocks of BLOCK_S taken as independent


BLOCK_S = 0.05
"""Residuals of a stretch's quadratic this far apart are taken as independent for its standard error (the
centre of load wobbles with the loads' own dynamics, 2-35 Hz)."""


def load_centre_stretches(
    times_s: F64,
    exit_kg: F64,
    total_kg: F64,
    edges_m: F64,
    profile: SpeedProfile,
    footprint_m: float,
    margin_m: float,
    min_s: float,
    min_load_kg: float,
) -> list[Stretch]:
    """Every stretch (:class:`Stretch`) of at least ``min_s`` and ``MIN_CHUNK_SAMPLES`` samples, where
    ``profile`` places the axles (patches inside the platform by ``margin_m``, or off it by as much)."""
    offsets = profile.offsets_m
    result: list[Stretch] = []
    if offsets.size == 0 or times_s.size < MIN_CHUNK_SAMPLES:
        return result
    x_axles = profile.front_x(times_s)[:, None] - offsets[None, :]
    half = footprint_m / 2.0
    bits = (1 << np.arange(offsets.size, dtype=np.int64))[None, :]
    for p in range(edges_m.size - 1):
        lo, hi = float(edges_m[p]), float(edges_m[p + 1])
        inside = (x_axles >= lo + half + margin_m) & (x_axles <= hi - half - margin_m)
        near = (x_axles > lo - half - margin_m) & (x_axles < hi + half + margin_m)
        on_set = np.sum(np.where(inside, bits, 0), axis=1)
        clean = np.all(inside == near, axis=1) & (on_set > 0) & (total_kg[:, p] > min_load_kg)
        key = np.where(clean, on_set, -1)
        change = np.flatnonzero(np.diff(key)) + 1
        starts = np.concatenate(([0], change))
        stops = np.concatenate((change, [key.size]))
        for a, b in zip(starts, stops, strict=True):
            if key[a] < 0 or b - a < MIN_CHUNK_SAMPLES:
                continue
            t = times_s[a:b]
            if float(t[-1] - t[0]) < min_s:
                continue
            x = lo + (hi - lo) * exit_kg[a:b, p] / total_kg[a:b, p]
            tau = t - float(t.mean())
            design = np.column_stack((np.ones_like(tau), tau, 0.5 * tau * tau))
            coef, *_ = np.linalg.lstsq(design, x, rcond=None)
            residual = x - design @ coef
            per_block = max(1.0, BLOCK_S * (b - a) / float(t[-1] - t[0]))
            variance = float(residual @ residual) / max(b - a - 3, 1) * per_block
            se = math.sqrt(variance * float(np.linalg.inv(design.T @ design)[2, 2]))
            axles = tuple(int(i) for i in np.flatnonzero(inside[a]))
            result.append(Stretch(p, axles, float(t[0]), float(t[-1]), float(coef[2]), se))
    return result
