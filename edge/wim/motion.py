"""The vehicle's motion over the scale: one smooth speed profile fitted to every axle-strip event.

A truck is rigid along the lane: every axle follows the front axle's path ``X(t)`` at a fixed distance
``d_i`` behind it (``d_0 = 0``).  Each axle gives two events, the times its axle (the centre of its tyres'
contact patch) was over the entry strip and over the exit strip:

    X(entry_t_s[i]) - d_i = entry_strip_x_m,      X(exit_t_s[i]) - d_i = exit_x_m

and, on a scale with intermediate strips between its platforms (``scale.mid_strips_x_m``), one more for
each of them that saw the axle: ``X(mid_t_s[i, k]) - d_i = mid_x_m[k]`` (a strip that missed the axle,
NaN, gives no equation).

The profile is constant acceleration, ``X(t) = x0 + v0 tau + a tau^2 / 2`` with ``tau = t - t_c`` (``t_c``
the mean event time, for conditioning).  The equations are linear in ``(x0, v0, a, d_1 .. d_n-1)``: one
per event (2 n without intermediate strips), n + 2 unknowns, solved by least squares (a 2-axle truck
without intermediate strips exactly; more axles or more strips with a misfit that says how far the motion
is from constant acceleration).  A single axle gives a constant speed, or with an intermediate strip a
constant acceleration too.

Outside the events' time span the profile goes on at the speed it has at its ends (the truck is still
approaching, or already off the scale, and nothing measured says more), so the position is monotone
whenever the speed is positive at both ends.

The weighing uses the profile through a change of clock: ``warp(t) = X(t) / V`` (``V`` the mean speed) is
a time in which every axle moves at the constant speed ``V``, so the constant-speed footprint kernels of
:mod:`edge.wim.kernels` apply unchanged to warped sample and strip times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.wim.kernels import warped_times

__all__ = ["SpeedProfile", "fit_speed_profile", "transfer_change_kg"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SpeedProfile:
    """The fitted motion (module docstring); positions in m on the scale's x axis, times on the crossing's
    clock."""

    t_c_s: float
    x0_m: float
    v0_mps: float
    accel_mps2: float
    offsets_m: F64  # d_i: distance of each axle behind the front axle
    t_start_s: float  # first event
    t_end_s: float  # last event
    misfit_rms_m: float  # RMS of the events' distance residuals (0 when exactly determined)

    def speed_at(self, t: float) -> float:
        tau = min(max(t, self.t_start_s), self.t_end_s) - self.t_c_s
        return self.v0_mps + self.accel_mps2 * tau

    @property
    def start_speed_mps(self) -> float:
        return self.speed_at(self.t_start_s)

    @property
    def end_speed_mps(self) -> float:
        return self.speed_at(self.t_end_s)

    @property
    def mean_speed_mps(self) -> float:
        span = self.t_end_s - self.t_start_s
        if span <= 0:
            return self.v0_mps
        ends = self.front_x(np.array([self.t_start_s, self.t_end_s]))
        return float(ends[1] - ends[0]) / span

    @property
    def speed_change_fraction(self) -> float:
        """(end speed - start speed) / mean speed over the events' span: signed, negative when slowing."""
        mean = self.mean_speed_mps
        return (self.end_speed_mps - self.start_speed_mps) / mean if mean > 0 else math.inf

    @property
    def monotone(self) -> bool:
        """Whether the truck moves forward all along (positive speed at both ends of the events' span)."""
        return self.start_speed_mps > 0 and self.end_speed_mps > 0

    def front_x(self, t: F64) -> F64:
        """The front axle's position at times ``t``: the quadratic within the events' span, its tangent
        lines outside it."""
        clipped = np.clip(t, self.t_start_s, self.t_end_s) - self.t_c_s
        inside = self.x0_m + clipped * (self.v0_mps + 0.5 * self.accel_mps2 * clipped)
        before = np.minimum(t - self.t_start_s, 0.0) * self.start_speed_mps
        after = np.maximum(t - self.t_end_s, 0.0) * self.end_speed_mps
        result: F64 = inside + before + after
        return result

    def warped_times(self, times_s: F64, entry_x_m: float, exit_x_m: float) -> tuple[F64, F64, F64, float]:
        """(sample times, entry times, exit times, speed) on the warped clock, on which axle ``i`` is at
        ``entry_x_m + speed * (t - entry[i])`` exactly where the profile puts it (one pass over the
        samples: :func:`edge.wim.kernels.warped_times`)."""
        return warped_times(
            times_s,
            self.t_c_s,
            self.x0_m,
            self.v0_mps,
            self.accel_mps2,
            self.t_start_s,
            self.t_end_s,
            self.offsets_m,
            entry_x_m,
            exit_x_m,
        )


def fit_speed_profile(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    mid_t_s: F64 | None = None,
    mid_x_m: tuple[float, ...] | F64 = (),
) -> SpeedProfile | None:
    """The constant-acceleration profile of a complete crossing (every exit time finite); None without
    axles or when the events cannot determine it.  ``mid_t_s`` (axles x intermediate strips, NaN where a
    strip missed an axle) and ``mid_x_m`` (the strips' positions) add the intermediate strips' events."""
    n = entry_t_s.shape[0]
    if n == 0 or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s))):
        return None
    axle, times, targets = _events(entry_t_s, exit_t_s, entry_x_m, exit_x_m, mid_t_s, mid_x_m)
    n_events = times.size
    t_c = float(times.mean())
    tau = times - t_c
    # A constant acceleration needs three events at different places of one axle path: two axles (their
    # offsets tie them together), or one axle with an intermediate strip.
    quadratic = n >= 2 or n_events >= 3
    n_cols = 2 + int(quadratic) + (n - 1)
    design = np.zeros((n_events, n_cols))
    design[:, 0] = 1.0
    design[:, 1] = tau
    if quadratic:
        design[:, 2] = 0.5 * tau * tau
    first_offset = 2 + int(quadratic)
    behind = axle > 0
    # X(t) - d_i = strip x  ->  x0 + v0 tau + a tau^2 / 2 - d_i = strip x
    design[np.nonzero(behind)[0], first_offset + axle[behind] - 1] = -1.0
    fitted = _scaled_lstsq(design, targets)
    if fitted is None:
        return None
    solution, norms, _ = fitted
    coef = solution / norms
    residual = design @ coef - targets
    dof = n_events - n_cols
    misfit = float(np.sqrt(np.sum(residual * residual) / max(dof, 1))) if dof > 0 else 0.0
    offsets = np.concatenate(([0.0], coef[first_offset:]))
    return SpeedProfile(
        t_c_s=t_c,
        x0_m=float(coef[0]),
        v0_mps=float(coef[1]),
        accel_mps2=float(coef[2]) if quadratic else 0.0,
        offsets_m=offsets,
        t_start_s=float(times.min()),
        t_end_s=float(times.max()),
        misfit_rms_m=misfit,
    )


def _events(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    mid_t_s: F64 | None,
    mid_x_m: tuple[float, ...] | F64,
) -> tuple[npt.NDArray[np.intp], F64, F64]:
    """Every strip event of a complete crossing: (its axle, its time, the strip's x)."""
    n = entry_t_s.shape[0]
    axle_of = [np.arange(n), np.arange(n)]
    event_t = [entry_t_s, exit_t_s]
    event_x = [np.full(n, entry_x_m), np.full(n, exit_x_m)]
    if mid_t_s is not None and len(mid_x_m):
        mids = np.asarray(mid_t_s, dtype=np.float64).reshape(n, len(mid_x_m))
        seen = np.isfinite(mids)
        axles, strips = np.nonzero(seen)
        axle_of.append(axles)
        event_t.append(mids[seen])
        event_x.append(np.asarray(mid_x_m, dtype=np.float64)[strips])
    return np.concatenate(axle_of), np.concatenate(event_t), np.concatenate(event_x)


def transfer_change_kg(
    entry_t_s: F64,
    exit_t_s: F64,
    entry_x_m: float,
    exit_x_m: float,
    transfer_kg_per_mps2: F64,
    timing_sd_s: float,
    mid_t_s: F64 | None = None,
    mid_x_m: tuple[float, ...] | F64 = (),
) -> tuple[float, float] | None:
    """How far a change of acceleration while the axles were weighed moved the gross, as the strip times show
    it: (estimate, standard uncertainty), kg; None when the events cannot tell (fewer than 3 axles without
    intermediate strips, or an incomplete crossing).

    Under a constant acceleration the pitch transfer is the same whenever an axle is weighed and sums to
    zero over the axles, so the gross is right however the axles follow each other onto the platforms.  A
    brake pulse changes it between one axle's weighing and the next.  Its lowest-order form is an
    acceleration changing linearly, ``a + j (t - t_c)``: the profile of :func:`fit_speed_profile` with one
    more term, ``j tau^3 / 6``, fitted to the same events.  Axle ``i``, weighed about its mean event time
    ``t_i``, then carries ``T_i j (t_i - t_c)`` more (``T_i`` = ``transfer_kg_per_mps2``, the load the
    body's pitch moves onto it per m/s²), and the gross is off by ``j sum_i T_i (t_i - t_c)``.  The jerk's
    standard error comes from the strips' timing uncertainty ``timing_sd_s`` (each event's position
    uncertain by the mean speed times it).
    """
    n = entry_t_s.shape[0]
    if n == 0 or not (np.all(np.isfinite(entry_t_s)) and np.all(np.isfinite(exit_t_s))):
        return None
    axle, times, targets = _events(entry_t_s, exit_t_s, entry_x_m, exit_x_m, mid_t_s, mid_x_m)
    n_cols = 4 + (n - 1)
    if times.size < n_cols:
        return None
    t_c = float(times.mean())
    tau = times - t_c
    design = np.zeros((times.size, n_cols))
    design[:, 0] = 1.0
    design[:, 1] = tau
    design[:, 2] = 0.5 * tau * tau
    design[:, 3] = tau**3 / 6.0
    behind = axle > 0
    design[np.nonzero(behind)[0], 4 + axle[behind] - 1] = -1.0
    fitted = _scaled_lstsq(design, targets)
    if fitted is None:
        return None
    solution, norms, scaled = fitted
    jerk = float(solution[3] / norms[3])
    span_s = float(times.max() - times.min())
    mean_speed_mps = float(exit_x_m - entry_x_m) / float(np.mean(exit_t_s - entry_t_s))
    if not (span_s > 0 and mean_speed_mps > 0):
        return None
    jerk_sd = (
        math.sqrt(float(np.linalg.inv(scaled.T @ scaled)[3, 3])) / norms[3] * mean_speed_mps * timing_sd_s
    )
    weighed_s = np.array([float(times[axle == i].mean()) for i in range(n)]) - t_c
    lever = float(np.dot(transfer_kg_per_mps2, weighed_s))
    return jerk * lever, abs(lever) * jerk_sd


def _scaled_lstsq(
    design: npt.NDArray[np.float64], targets: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]] | None:
    """Least squares on ``design`` with its columns scaled to unit norm (tau^2 is ~100 x larger than tau
    at crawling speed): (the scaled solution, the column norms, the scaled design); None when a column is
    empty or the system is rank-deficient."""
    norms = np.linalg.norm(design, axis=0)
    if np.any(norms == 0):
        return None
    scaled = design / norms
    solution, _, rank, _ = np.linalg.lstsq(scaled, targets, rcond=None)
    if rank < design.shape[1]:
        return None
    return solution, norms, scaled
