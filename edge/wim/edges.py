"""The load signals' own edges: when each axle crossed each joint between two platforms.

On a scale of several platforms an axle's load passes from one platform to the next as its tyres roll
over the joint.  The moment half of it has passed is an event like a strip's: the axle was over the
joint's position ``x_j`` then.  A truck whose speed steps between its entry and its exit events (a
throttle blip while every axle is on the scale) shows it nowhere but there, so these events, fitted with
the strips' (:func:`edge.wim.motion.fit_speed_profile`), let a 2-4 axle truck's profile follow a step
that its strip times alone cannot tell from a steady change of speed.

How a joint time is read: the speed profile the strips gave, and the axle loads fitted under it, predict
every platform's signal.  Less the other axles' share of that prediction, the two platforms on either
side of joint ``j`` carry axle ``i``'s load split as ``(1 - phi, phi)``, ``phi`` rising from 0 to 1 as
the tyres' contact patch rolls over the joint.  Within a window ``[T0, T1]`` that holds the whole rise,
``T0 + integral (1 - phi) dt`` is the time ``phi`` passes 1/2, for any contact patch symmetric about the
axle (its length and pressure shape do not matter) and an axle at steady speed across the window.  Each
platform gives such a time (the downstream one from its gain, the upstream one from its loss), and the
reading is their mean.  ``phi`` is each platform's signal over ``L_i``, so an error of the first pass's
load moves the reading: a 3 % error about 2-10 ms where one platform reads alone, much less where both
do and the errors cancel.  (Scaling it between the platform's own levels before and after the passage
halved the error on the simulator, whose tyre patch is the assumed 0.25 m, but a 0.35 m patch then read
up to 18 ms off: the levels need to know the patch.)  The window is ``window_m`` either side of the joint in the axle's
travel, centred on the last reading, which is repeated (``iterations``) until the window is centred on
the crossing.

The other axles' shares are predicted by the profile being corrected, so they are as far off as it is
where one of them is itself crossing an edge: a platform whose other edge (the scale's ends included)
another axle is within ``2 window_m`` plus half a footprint of during the window gives no reading (a
3-axle truck's tandem crossing the first joint while its front axle crosses the second read 90 ms off
before this).  A joint time is not read (NaN) where another axle is that near the joint itself, where
neither platform reads, where the window leaves the samples, holds fewer than
:data:`MIN_WINDOW_SAMPLES`, where the axle load is not positive, or where the last reading still moved
by more than a quarter of the patch's passage time.

Against the simulator's truth (``docs/benchmarks.md``, "the load signals' own edges") these times are
off by a robust standard deviation of 1.6-2.9 ms (p95 4.4-7.1 ms), so
:attr:`edge.config.WimConfig.load_edge_timing_sd_s` (4 ms) weighs them less than the strips (2.3 ms).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.wim.kernels import edge_reading
from edge.wim.motion import SpeedProfile

__all__ = ["MIN_WINDOW_SAMPLES", "joint_positions", "load_edge_times"]

F64 = npt.NDArray[np.float64]

MIN_WINDOW_SAMPLES = 5
"""Fewest load samples a joint time is read from."""


def joint_positions(edges_m: F64, mid_strips_x_m: tuple[float, ...] | F64, apart_m: float) -> F64:
    """The platform joints (inner edges) that have no intermediate strip within ``apart_m``: a strip
    there already times the axles at the joint."""
    inner = np.asarray(edges_m[1:-1], dtype=np.float64)
    strips = np.asarray(mid_strips_x_m, dtype=np.float64)
    if strips.size == 0:
        return inner
    far = np.all(np.abs(inner[:, None] - strips[None, :]) > apart_m, axis=1)
    result: F64 = inner[far]
    return result


def load_edge_times(
    times_s: F64,
    platform_kg: F64,
    edges_m: F64,
    joints_m: F64,
    profile: SpeedProfile,
    loads_kg: F64,
    footprint_m: float,
    window_m: float,
    iterations: int = 4,
) -> F64:
    """The time each axle's load was half across each joint (axles x joints, NaN where not read: module
    docstring), on the sample clock; ``platform_kg`` (samples x platforms) the zeroed platform signals,
    ``edges_m`` the platforms' edges, ``joints_m`` the joints to read (:func:`joint_positions`),
    ``profile`` and ``loads_kg`` the motion and the axle loads that predict the signals.  Each reading
    is the Numba kernel :func:`edge.wim.kernels.edge_reading` (its reference is
    :func:`edge.wim.reference.edge_reading_ref`)."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    inner = np.asarray(edges_m[1:-1], dtype=np.float64)
    if not np.all(
        np.any(np.isclose(np.asarray(joints_m)[:, None], inner[None, :], rtol=0, atol=1e-9), axis=1)
    ):
        raise ValueError(f"joints {list(joints_m)} must be inner edges of the platforms {list(edges_m)}")
    n_axles = loads_kg.size
    times_s = np.ascontiguousarray(times_s, dtype=np.float64)
    result = np.full((n_axles, joints_m.size), np.nan)
    if n_axles == 0 or times_s.size < MIN_WINDOW_SAMPLES or not footprint_m > 0:
        return result
    guard_m = 2.0 * window_m
    offsets = profile.offsets_m
    platform_of = {float(x): int(np.argmin(np.abs(inner - x))) + 1 for x in joints_m}
    # The front axle's place at every sample, once: each window below is a slice of it (front_x works
    # sample by sample, so a slice is what it would give the window's times).
    front_all = profile.front_x(times_s)
    forward = not np.any(np.diff(front_all) < 0)
    others_of = [np.delete(np.arange(n_axles), i) for i in range(n_axles)]
    others_offsets = [np.ascontiguousarray(offsets[o], dtype=np.float64) for o in others_of]
    others_loads = [np.ascontiguousarray(loads_kg[o], dtype=np.float64) for o in others_of]
    platform_kg = np.ascontiguousarray(platform_kg, dtype=np.float64)
    edges_m = np.ascontiguousarray(edges_m, dtype=np.float64)
    for j, joint in enumerate(joints_m):
        after = platform_of[float(joint)]  # the platform downstream of the joint; after - 1 upstream
        for i in range(n_axles):
            if not loads_kg[i] > 0:
                continue
            estimate = _first_time_at(front_all, forward, joint + offsets[i], times_s)
            moved = np.inf
            for _ in range(iterations):
                if not np.isfinite(estimate):
                    break
                speed = profile.speed_at(estimate)
                if not speed > 0:
                    estimate = np.nan
                    break
                reach_s = window_m / speed
                lo, hi = np.searchsorted(times_s, (estimate - reach_s, estimate + reach_s))
                if lo == 0 or hi >= times_s.size or hi - lo < MIN_WINDOW_SAMPLES:
                    estimate = np.nan
                    break
                # Each platform's reading: the downstream one gains the load, the upstream one loses it.
                # One whose other edge another axle is crossing meanwhile is not used: that axle's
                # predicted share there is as far off as the profile being corrected.
                read, mean = edge_reading(
                    times_s,
                    front_all,
                    platform_kg,
                    int(lo),
                    int(hi),
                    others_offsets[i],
                    others_loads[i],
                    float(loads_kg[i]),
                    float(joint),
                    after,
                    edges_m,
                    guard_m,
                    footprint_m,
                )
                if read <= 0:  # another axle at the joint (-1), or neither platform reads (0)
                    estimate = np.nan
                    break
                moved = abs(mean - estimate)
                estimate = mean
            # A reading still moving by a quarter of the patch's passage has not found the crossing.
            converged = np.isfinite(estimate) and moved <= 0.25 * footprint_m / profile.speed_at(estimate)
            result[i, j] = estimate if converged else np.nan
    return result


def _first_time_at(front: F64, forward: bool, front_x_m: float, times_s: F64) -> float:
    """When the front axle, at ``front`` at ``times_s``, is at ``front_x_m`` (NaN outside the samples' span
    or where it does not only move forward: ``forward``)."""
    if not forward or not (front[0] <= front_x_m <= front[-1]):
        return float("nan")
    return float(np.interp(front_x_m, front, times_s))
