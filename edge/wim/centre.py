"""The centre of load along a platform: where an axle that stands on a platform alone is, sample by sample.

A platform rests on four load cells, two at its entry end and two at its exit end.  An axle a fraction
``u`` along it puts ``1 - u`` of its load on the entry cells and ``u`` on the exit cells (the lever rule,
``docs/capture-format.md``), so while it is the platform's only load

    x = x_lo + (x_hi - x_lo) * exit_kg / total_kg

is its position, whatever its load does meanwhile: the body's bounce and pitch, which make the weighing
hard, cancel in the ratio.  The strips time each axle at two places only; these positions follow it all
along the platform, so a brake that starts after the front axle has left a short platform and before the
rear axle is weighed shows in the rear axle's own path (the strips' four events fit any such crossing
exactly).

Where an axle stands alone is found from a first profile (the strips' alone): its tyres' contact patch
inside the platform by :data:`CENTRE_MARGIN_M` and every other axle's patch off it by as much, with more
than :data:`CENTRE_MIN_LOAD_KG` on the platform (the ratio of two small numbers otherwise).  Each such run
of samples (:func:`lone_runs`) gives

* up to :data:`CENTRE_CHUNKS` **events** (:func:`centre_events`): the run cut into equal parts, each
  part's central :data:`CENTRE_EVENT_S` or less averaged into one (mean time, mean position), which join the
  strip events in the speed profile's fit (:func:`edge.wim.motion.fit_speed_profile`).  Short, because the
  mean position of a part is where the axle was at its mean time only at a steady speed: off by
  ``a var(t) / 2``, 0.4 mm at 1 m/s² over 0.1 s, 12 mm at 0.4 m/s² over 0.85 s;
* where it lasts :data:`CENTRE_MIN_STRETCH_S` or more, a **stretch** (:func:`centre_stretches`): a
  quadratic fitted to its positions gives the axle's acceleration there, which
  :func:`edge.wim.estimate.centre_accelerations` puts in the pitch load transfer where it departs from the
  profile's.

Only one axle at a time: when two stand on a platform, their centre of load wobbles with the share of
load between them (on the independent model a tandem's acceleration read 0.1-1.1 m/s² off over 0.5-1 s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.wim.kernels import centre_events as kernel_centre_events
from edge.wim.kernels import lone_runs as kernel_lone_runs
from edge.wim.motion import SpeedProfile

__all__ = [
    "CENTRE_CHUNKS",
    "CENTRE_EVENT_S",
    "CENTRE_MARGIN_M",
    "CENTRE_MAX_DISAGREEMENT_M",
    "CENTRE_MIN_LOAD_KG",
    "CENTRE_MIN_STRETCH_S",
    "CENTRE_TRAVEL_RATIO",
    "MIN_CHUNK_SAMPLES",
    "STRETCH_ACCEL_FLOOR_MPS2",
    "STRETCH_SE_SCALE",
    "LoneRun",
    "Stretch",
    "centre_events",
    "centre_stretches",
    "exit_loads",
    "lone_runs",
]

F64 = npt.NDArray[np.float64]

MIN_CHUNK_SAMPLES = 10
"""Fewest samples one centre-of-load event is averaged from."""

CENTRE_MARGIN_M = 0.15
"""An axle counts as alone on a platform while the strips' profile puts its contact patch inside the
platform by this (m) and every other axle's patch off it by as much (the strips' profile places a braking
truck's later axles within a few cm)."""

CENTRE_CHUNKS = 4
"""Centre-of-load events per run of samples an axle stands alone on a platform."""

CENTRE_EVENT_S = 0.1
"""Longest time (s) one centre-of-load event is averaged over (module docstring)."""

CENTRE_MIN_LOAD_KG = 200.0
"""Samples whose platform load is at most this (kg) give no centre of load."""

CENTRE_MIN_STRETCH_S = 0.25
"""A run shorter than this (s) gives no acceleration: over 0.1-0.2 s the loads' dynamics moved a steady
axle's reading by up to 4 m/s² on the independent model, over 0.25-0.5 s by at most 0.45."""

CENTRE_MAX_DISAGREEMENT_M = 0.5
"""A platform whose centre-of-load events are, in the median, further than this (m) from where the strips
alone put the axles gives none of them, nor stretches (:func:`edge.wim.estimate.load_centre`)..."""

CENTRE_TRAVEL_RATIO = (0.75, 1.33)
"""...nor one on which the axles' travel between a run's first and last events, in the median over its
runs of two or more events, is outside this range of the strips' profile's travel over the same times:
cells that do not follow the documented lever rule (entry and exit corners swapped: -1; a corner of
each end swapped, or the load split evenly: about 0).  A brake or a jump moves the axles tens of cm from
the strips' profile (a median 0.23 m on one platform of a 3.3 m/s² brake pulse on the independent
model) but changes their travel over a run much less."""

STRETCH_BLOCK_S = 0.05
"""Residuals of a stretch's quadratic this far apart are taken as independent for its (raw) standard error
(the centre of load wobbles with the loads' own dynamics, 2-35 Hz)."""

STRETCH_SE_SCALE = 0.5
"""Share of a stretch's raw standard error (:data:`STRETCH_BLOCK_S`) its acceleration's standard uncertainty
takes, in quadrature with :data:`STRETCH_ACCEL_FLOOR_MPS2` (:attr:`Stretch.accel_sd_mps2`).  The raw one
ranks stretches well but is scaled wrong at both ends: against the true mean acceleration over each
stretch (single 4.2 m platform, throttle blips: ``bench/stretch_accel.py``), stretches whose raw error was
0.1 m/s² or more erred by 0.16-0.35 of it (RMS / raw) on the project's simulator and by 0.28-0.73 on
bench/independent_wim_model.py, while those under 0.05 m/s² erred by 1.6-2.1 times it, about 0.05 m/s²
(a slow wobble of the centre of load passing for travel, or a change of acceleration within the stretch,
which the quadratic weighs towards its middle where the truth here is the plain mean).  Twice the
calibrated one held 98.0 / 96.4 % of the errors (simulator / independent), 94 % or more in every band of
the raw error; twice the raw one 88-93 % (76-80 % under 0.05 m/s²).  In RMS the calibrated one is still
short on the independent model's largest raw errors (0.4 m/s² and more: the errors' RMS 1.45 of it, a few
heavy misses; 1.14 over all its stretches).  An axle with stretches on several platforms takes their
length-weighted mean with the stretches independent, floor included (below 0.05 m/s² on three platforms);
the calibration is of one stretch on one 4.2 m platform."""

STRETCH_ACCEL_FLOOR_MPS2 = 0.05
"""Least standard uncertainty (m/s²) of a stretch's acceleration: :data:`STRETCH_SE_SCALE`."""


@dataclass(frozen=True)
class LoneRun:
    """Samples ``[start, stop)`` in which ``axle`` stood alone on ``platform``."""

    platform: int
    axle: int
    start: int
    stop: int


@dataclass(frozen=True)
class Stretch:
    """A run of at least :data:`CENTRE_MIN_STRETCH_S` in which ``axle`` stood alone on ``platform``, and
    the acceleration its centre of load showed meanwhile."""

    platform: int
    axle: int
    t0_s: float
    t1_s: float
    accel_mps2: float
    accel_se_mps2: float  # raw: from the fit's residuals, blocks of STRETCH_BLOCK_S taken as independent

    @property
    def accel_sd_mps2(self) -> float:
        """Standard uncertainty of :attr:`accel_mps2`: the raw standard error calibrated against the true
        acceleration on two physics models (:data:`STRETCH_SE_SCALE`, :data:`STRETCH_ACCEL_FLOOR_MPS2`).
        In :func:`edge.wim.estimate.centre_accelerations`' result it carries the pitch transfer's noise
        term, and decides whether a measured axle braked (below twice it: the lag share is not taken) and
        whether its sign is in doubt (within twice it of zero: the larger pitch rule).  The raw one still
        decides whether a stretch departs from the profile: a long platform's stretch is only part of the
        axle's weighing, and a blip within it departs from a profile right over the whole weighing."""
        return math.hypot(STRETCH_ACCEL_FLOOR_MPS2, STRETCH_SE_SCALE * self.accel_se_mps2)


def exit_loads(counts: npt.NDArray[np.int32], zero_counts: F64, kg_per_count: F64) -> F64:
    """The exit end's load of each platform (kg, samples x platforms): the sum of its exit-left and
    exit-right cells (channels 2 and 3 of its four: entry-left, entry-right, exit-left, exit-right)."""
    # Only the exit cells are converted (half the channels): the same arithmetic, element by element.
    left = (counts[:, 2::4] - zero_counts[None, 2::4]) * kg_per_count[None, 2::4]
    right = (counts[:, 3::4] - zero_counts[None, 3::4]) * kg_per_count[None, 3::4]
    exit_kg: F64 = left + right
    return exit_kg


def lone_runs(
    times_s: F64, total_kg: F64, edges_m: F64, profile: SpeedProfile, footprint_m: float
) -> list[LoneRun]:
    """Every run of at least :data:`MIN_CHUNK_SAMPLES` samples in which one axle stood alone on a platform
    (module docstring), where ``profile`` places the axles; ``total_kg`` (samples x platforms) the
    platforms' loads, ``edges_m`` their edges.  Platform by platform, axle by axle, in time order (the
    Numba kernel :func:`edge.wim.kernels.lone_runs`; its reference is
    :func:`edge.wim.reference.lone_runs_ref`)."""
    offsets = profile.offsets_m
    if offsets.size == 0 or times_s.size < MIN_CHUNK_SAMPLES:
        return []
    platform, axle, start, stop = kernel_lone_runs(
        np.ascontiguousarray(profile.front_x(times_s), dtype=np.float64),
        np.ascontiguousarray(offsets, dtype=np.float64),
        np.ascontiguousarray(total_kg, dtype=np.float64),
        np.ascontiguousarray(edges_m, dtype=np.float64),
        footprint_m / 2.0 + CENTRE_MARGIN_M,
        CENTRE_MIN_LOAD_KG,
        MIN_CHUNK_SAMPLES,
    )
    return [
        LoneRun(int(p), int(i), int(a), int(b))
        for p, i, a, b in zip(platform, axle, start, stop, strict=True)
    ]


def _position(run: LoneRun, exit_kg: F64, total_kg: F64, edges_m: F64, a: int, b: int) -> F64:
    lo, hi = float(edges_m[run.platform]), float(edges_m[run.platform + 1])
    share: F64 = exit_kg[a:b, run.platform] / total_kg[a:b, run.platform]
    return lo + (hi - lo) * share


def centre_events(
    runs: list[LoneRun], times_s: F64, exit_kg: F64, total_kg: F64, edges_m: F64
) -> tuple[npt.NDArray[np.intp], F64, F64]:
    """(run, time, position) of each centre-of-load event of ``runs`` (module docstring): ``run`` the
    index in ``runs`` of the run it comes from.  Each run is cut into ``min(CENTRE_CHUNKS, n //
    MIN_CHUNK_SAMPLES)`` equal parts; each part's samples within ``CENTRE_EVENT_S / 2`` of its middle time
    (all of them where that is fewer than ``MIN_CHUNK_SAMPLES``) give one event, their mean time and mean
    position (the Numba kernel :func:`edge.wim.kernels.centre_events`; its reference is
    :func:`edge.wim.reference.centre_events_ref`)."""
    return kernel_centre_events(
        np.ascontiguousarray(times_s, dtype=np.float64),
        np.ascontiguousarray(exit_kg, dtype=np.float64),
        np.ascontiguousarray(total_kg, dtype=np.float64),
        np.ascontiguousarray(edges_m, dtype=np.float64),
        np.array([r.platform for r in runs], dtype=np.intp),
        np.array([r.start for r in runs], dtype=np.intp),
        np.array([r.stop for r in runs], dtype=np.intp),
        CENTRE_CHUNKS,
        MIN_CHUNK_SAMPLES,
        CENTRE_EVENT_S,
    )


def centre_stretches(
    runs: list[LoneRun], times_s: F64, exit_kg: F64, total_kg: F64, edges_m: F64
) -> list[Stretch]:
    """The runs of :data:`CENTRE_MIN_STRETCH_S` or more, each with the acceleration of a least-squares
    quadratic in its positions and that acceleration's raw standard error (:data:`STRETCH_BLOCK_S`; its
    calibrated standard uncertainty: :attr:`Stretch.accel_sd_mps2`)."""
    result: list[Stretch] = []
    for run in runs:
        t = times_s[run.start : run.stop]
        length = float(t[-1] - t[0])
        if length < CENTRE_MIN_STRETCH_S:
            continue
        x = _position(run, exit_kg, total_kg, edges_m, run.start, run.stop)
        tau = t - float(t.mean())
        design = np.column_stack((np.ones_like(tau), tau, 0.5 * tau * tau))
        # The normal equations (the time centred: well conditioned), whose inverse gives the error too.
        inverse = np.linalg.inv(design.T @ design)
        coef = inverse @ (design.T @ x)
        residual = x - design @ coef
        per_block = max(1.0, STRETCH_BLOCK_S * t.size / length)
        variance = float(residual @ residual) / max(t.size - 3, 1) * per_block
        se = math.sqrt(variance * float(inverse[2, 2]))
        result.append(Stretch(run.platform, run.axle, float(t[0]), float(t[-1]), float(coef[2]), se))
    return result
