"""The split of a tandem's or tridem's load between its axles, from the platforms' exit cells.

A platform rests on four load cells, two at its entry end and two at its exit end.  The platform's sum
weighs every axle on it alike, so while the axles of a group stand on one platform it sees only their
sum: the footprint fit (:mod:`edge.wim.estimate`) separates them by the short moments they stand on
different platforms (the group's spacing of travel at each edge), when their loads are whatever the
body's bounce and the deck under each tyre make them then.  The exit cells see more: an axle a fraction
``u`` along the platform puts ``u`` of its load on them (the lever rule, ``docs/capture-format.md``), so

    exit_kg[t, p] = sum_i load_i * share(i, p, t) * u(i, p, t)

is the platform's centre of load times its load, sample by sample, all the time the group stands on it.
Divided by the measured sum (the heave of the group cancels), it is the group's centre of load: with the
axles' places, a tandem's split, averaged over the whole residence instead of sampled at the edges.  It
is one number per group, so a tridem standing on a platform shows one direction of its split only (front
against rear); while it enters or leaves, two of its axles on the platform and the third away from it,
their centre of load shows another (the middle axle against the first or the last).  Those parts are
read only for groups of 3 or more axles whose whole runs show how the split moves (at least
:data:`MIN_STRETCHES` stretches of its spacing), since a part is read at a moment, as an edge is.  It is
as good as the places: a group placed ``e`` metres off moves ``W e / s`` kg from its front axle to its
rear one (``W`` its load, ``s`` its spacing; 1 cm of a 9 t tandem is 70 kg).  The places come from the
speed profile, uncertain by about the strips' timing at the speed (``v * scale.strip_timing_sd_s``: 2 mm
at 3 km/h, 2 cm at 30), which enters as a nuisance place per group, integrated out.

:func:`moment_split` combines the two estimates of each group's split by their uncertainties, and keeps
each group's total, every lone axle and the gross as the footprint fit gave them.  The footprint fit's
own covariance counts the noise of its samples, not that it saw the split at a few edges only: the exit
cells' spread of the split from stretch to stretch of the scale (each as long as the group's spacing:
the footprint fit's look at one edge), over the number of edges, widens it (on the
independent physics model, where each axle of a tandem has its own springs and the deck is as uneven as
the road, its k = 2 uncertainty of a group's axle covered 61 % of the errors on the full-length scale).

Only samples where one group, or two or more of its axles, stand on a platform without any other axle
are used (a lone axle or another group on it would move the centre of load with the body's pitch), away
from the platform's edges by half the footprint and ``scale.edge_margin_m``; the group's other axles
away from it by as much.  A run (one group, or the same part of it, on one platform) whose exit
signal the fitted loads do not explain by the lever rule within :data:`MOMENT_MAX_MISFIT` (cells wired in
another order, a load split evenly over the corners) is left out; where no run is left, the loads and
their covariance are returned as they were.  The covariance between the split and the rest (the group
totals, the lone axles) is carried through the combination, not dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

#: A platform's exit signal is used where the fitted loads explain it by the lever rule to within this
#: RMS fraction of its own RMS (before the split moves).  On the independent model's steady crossings
#: (120, three scales) the groups' runs misfit by 1.7 % in the median, 4.7 % at the 95th percentile and
#: 9.8 % at most; with the exit cells read as the entry cells, by 51 % or more.
MOMENT_MAX_MISFIT = 0.2

#: Samples where the platform carries less than this (kg, measured or fitted) are left out: the centre of
#: load of a nearly empty platform is the ratio of two small numbers.
MOMENT_MIN_LOAD_KG = 500.0

#: Each stretch's split is the least-norm fit of its rows: directions whose eigenvalue in the stretch's
#: normal matrix is below this fraction of the largest are not seen (while a group crosses a platform
#: its axles keep their places, so a stretch shows one direction of a tridem's split; per-axle speeds that
#: differ by 0.1 mm/s would otherwise show noise amplified 10^4 times in the other).
STRETCH_RCOND = 1e-4

#: The exit signal's residuals are counted as correlated over this much travel (m), or over
#: wim.uncertainty_block_s, or half the slowest body mode's period (1 / (2 wim.body_min_frequency_hz)),
#: whichever is longest: the deck under the axles moves the split over metres, at a crawl as at speed,
#: and a body's pitch holds it on one side for half a swing (edge.wim.estimate passes the samples).
MOMENT_BLOCK_M = 0.5

#: A part of a group (two or more of its axles, entering or leaving a platform) is used over at least the
#: samples of the group's spacing of travel over this (a whole group over all of them): two axles of a
#: tridem stand on a platform, the third off it, for the spacing less the footprints and margins.
PART_RUN_DIVISOR = 4

#: A group's spread is estimated from this many stretches or more (else it is taken as nil).
MIN_STRETCHES = 4


@dataclass(frozen=True)
class MomentSplit:
    """Loads (kg) and their covariance (kg², standard) after the update, the platforms whose exit signal
    was used, and the moment equations' own variance per sample (kg², correlation counted)."""

    loads_kg: F64
    covariance_kg2: F64
    platforms: tuple[int, ...]
    variance_kg2: float


def _batch_variance(residuals: Sequence[F64], block: int) -> float:
    """Variance per sample of the residuals counted as correlated over ``block`` samples: the larger of
    the white variance and ``block`` times the variance of block means (each run in turn)."""
    squares = sum(float(np.sum(r**2)) for r in residuals)
    count = sum(r.size for r in residuals)
    means = [r[: r.size // block * block].reshape(-1, block).mean(axis=1) for r in residuals]
    n_blocks = sum(m.size for m in means)
    white = float(squares) / max(count, 1)
    if n_blocks < 4:
        return white * block
    return max(white, float(block * sum(float(np.sum(m**2)) for m in means) / n_blocks))


def _stretch_pinv(normal: F64) -> F64:
    """The pseudo-inverses of a batch of symmetric positive semi-definite matrices (blocks x n x n) at
    ``STRETCH_RCOND``, as ``np.linalg.pinv(normal, rcond=STRETCH_RCOND, hermitian=True)`` gives them: a
    tridem's 2 x 2 blocks in closed form (the same to about 1e-13 of their size, and 10 x cheaper than
    the batched eigendecomposition), larger ones by it.  A whole group's block shows one direction, its
    centre of load: rank 1, whose pseudo-inverse is ``v v^T / l`` for its eigenpair ``(l, v)``."""
    if normal.shape[1:] != (2, 2):
        return np.asarray(np.linalg.pinv(normal, rcond=STRETCH_RCOND, hermitian=True), dtype=np.float64)
    a, b, c = normal[:, 0, 0], normal[:, 0, 1], normal[:, 1, 1]
    # Eigenvalues: the mean of the diagonal plus and minus the half-gap.
    mean, gap = 0.5 * (a + c), np.hypot(0.5 * (a - c), b)
    larger, smaller = mean + gap, mean - gap
    top = np.maximum(np.abs(larger), np.abs(smaller))
    both = np.abs(smaller) > STRETCH_RCOND * top  # as pinv's cutoff: the smaller kept too
    one = ~both & (np.abs(larger) > STRETCH_RCOND * top)
    inverse = np.zeros_like(normal)
    det = np.where(both, a * c - b * b, 1.0)
    inverse[:, 0, 0] = np.where(both, c / det, 0.0)
    inverse[:, 1, 1] = np.where(both, a / det, 0.0)
    inverse[:, 0, 1] = np.where(both, -b / det, 0.0)
    # Rank one: v v^T = (N - smaller I) / (larger - smaller), over larger.
    scale = np.where(one, 1.0 / np.where(one, larger * (larger - smaller), 1.0), 0.0)
    inverse[:, 0, 0] += (a - smaller) * scale
    inverse[:, 1, 1] += (c - smaller) * scale
    inverse[:, 0, 1] += b * scale
    inverse[:, 1, 0] = inverse[:, 0, 1]
    return inverse


def _spread(
    runs: Sequence[tuple[int, bool, int, F64, F64]],
    residuals: Sequence[F64],
    fitted: F64,
    owner: npt.NDArray[np.int_],
    windows: Sequence[int],
    n_g: int,
    n_c: int,
) -> F64:
    """How each group's split moves along the scale (contrasts x contrasts): the split over each stretch
    of a whole group's run as long as the footprint fit's look at it (the travel across one edge: the
    group's mean spacing), the places as fitted; their sample covariance, put on every direction of the
    group's split (zero with fewer than :data:`MIN_STRETCHES` stretches)."""
    spread = np.zeros((n_c, n_c))
    for k in range(n_g):
        cols = np.flatnonzero(owner == k)
        window = windows[k]
        estimates = []
        for (run_group, whole, _, h, y), r in zip(runs, residuals, strict=True):
            n_blocks = y.size // window
            if run_group != k or not whole or n_blocks == 0:
                continue
            # While a group crosses a platform its axles keep their places relative to each other: a
            # block shows its load's centre only, one direction of the split (least norm).
            hb = h[: n_blocks * window][:, cols].reshape(n_blocks, window, cols.size)
            rb = r[: n_blocks * window].reshape(n_blocks, window)
            normal = np.einsum("bij,bik->bjk", hb, hb)
            if cols.size == 1:
                # A pair's one direction: the pseudo-inverse of a 1 x 1 is 1 / x where x > 0 (a sum of
                # squares), else 0, as np.linalg.pinv gives it (and 10 x cheaper than its batched eigh).
                x = normal[:, 0, :]
                inverse = np.divide(1.0, x, out=np.zeros_like(x), where=x > 0)
                step = inverse * np.einsum("bij,bi->bj", hb, rb)
            else:
                step = np.einsum("bjk,bk->bj", _stretch_pinv(normal), np.einsum("bij,bi->bj", hb, rb))
            estimates.extend(fitted[cols] + step)
        if len(estimates) >= MIN_STRETCHES:
            # Seen in one direction, taken as the same in every direction of the group's split: the road
            # under each axle moves its load on its own.
            # Their sample covariance (as np.cov, without its overhead), its trace and rank.
            values = np.array(estimates)
            centred = values - values.mean(axis=0)
            seen = centred.T @ centred / (values.shape[0] - 1)
            total = float(np.trace(seen))
            # A symmetric matrix's singular values are its eigenvalues' sizes (np.linalg.matrix_rank's SVD,
            # at a fraction of its cost); a 1 x 1's rank, floored at 1, is 1.
            tol = 1e-9 * max(total, 1e-12)
            rank = (
                1 if cols.size == 1 else max(int(np.count_nonzero(np.abs(np.linalg.eigvalsh(seen)) > tol)), 1)
            )
            spread[np.ix_(cols, cols)] = np.eye(cols.size) * total / rank
    return spread


def sum_zero_basis(groups: Sequence[Sequence[int]], n_axles: int) -> F64:
    """Orthonormal directions (axles x contrasts) that move load between the axles of each group of two
    or more and leave every group's total alone (Helmert contrasts)."""
    columns: list[F64] = []
    for g in groups:
        for j in range(1, len(g)):
            c = np.zeros(n_axles)
            c[list(g[:j])] = 1.0
            c[g[j]] = -float(j)
            columns.append(c / math.sqrt(j * (j + 1)))
    return np.array(columns).T if columns else np.zeros((n_axles, 0))


def moment_split(
    x_m: F64,
    total_kg: F64,
    exit_kg: F64,
    edges_m: F64,
    footprint_m: float,
    margin_m: float,
    loads_kg: F64,
    covariance_kg2: F64,
    groups: Sequence[Sequence[int]],
    position_sd_m: float,
    block: int,
    samples_per_m: float,
) -> MomentSplit:
    """The loads and their covariance with each group's split combined with the platforms' exit
    signals' (module docstring).

    ``x_m`` (samples x axles) where each axle stood at each sample; ``total_kg`` and ``exit_kg`` (samples
    x platforms) the platforms' and their exit cells' zeroed loads; ``margin_m`` beyond each footprint's
    half-length, samples with an axle that near a platform's edge are left out of that platform's
    equations (as the footprint fit leaves them out: the tyre's edge and the platform's ring);
    ``covariance_kg2`` the footprint fit's covariance of ``loads_kg`` (standard); ``groups`` the axles'
    groups (lists of axle indices); ``position_sd_m`` the standard uncertainty of a group's place along
    the scale (a shift of it moves the exit signal as a shift of load from its front to its rear axle
    would, and is integrated out); ``block`` the samples over which the moment residuals are counted as
    correlated (the body's bounce, the road under the axles: :data:`MOMENT_BLOCK_M`); ``samples_per_m``
    samples per metre of travel, which sets the stretches of the split's spread (each group's mean spacing:
    the travel over which the footprint fit sees its split at one edge) and the shortest run used (one
    such stretch).

    Only samples where one group's axles (all, or two or more while it enters or leaves) stand on a
    platform without any other axle are used: a lone axle or another group on it would move the centre
    of load with the body's pitch.  The stretches' spread comes from the whole group's runs.

    Two estimates of each group's split are combined by their uncertainties: the footprint fit's, from
    the moments the axles stand on different platforms, and the exit signal's, over the whole residence.
    The footprint fit's own covariance counts the noise of its samples but not that those moments are
    few: how the split itself moves along the scale (the road under the axles, the bounce) is sampled
    at one platform edge each.  So its uncertainty is widened by the exit signal's stretch-to-stretch spread
    of the split over the number of edges.  The group totals, and so the gross, do not move."""
    loads = np.asarray(loads_kg, dtype=np.float64)
    prior = np.asarray(covariance_kg2, dtype=np.float64)
    # Groups of two or more axles that carry a load to split (a group weighed at nothing has none).
    multi = [list(g) for g in groups if len(g) > 1 and float(np.sum(loads[list(g)])) > MOMENT_MIN_LOAD_KG]
    unchanged = MomentSplit(loads.copy(), prior.copy(), (), math.nan)
    if (
        not multi
        or x_m.size == 0
        or not np.all(np.isfinite(x_m))
        or not samples_per_m > 0
        or not np.all(np.isfinite(loads))
        or not np.all(np.isfinite(prior))
        or not position_sd_m > 0
    ):
        return unchanged
    basis = sum_zero_basis(multi, loads.size)  # axles x contrasts
    owner = np.concatenate([[k] * (len(g) - 1) for k, g in enumerate(multi)])  # each contrast's group
    n_c = basis.shape[1]
    n_g = len(multi)
    reach = footprint_m / 2.0 + margin_m
    # The footprint fit looks at a group's split while it crosses an edge: its mean spacing of travel (every
    # place is finite, checked above).
    windows = [
        max(round(float(np.mean(np.abs(np.diff(x_m[:, g], axis=1)))) * samples_per_m), 1) for g in multi
    ]
    # Footprint and margin inside each platform; near it (or its edges) at all; its signals known.
    inside, near, signals = [], [], []
    for p in range(edges_m.size - 1):
        lo, hi = float(edges_m[p]), float(edges_m[p + 1])
        inside.append((x_m >= lo + reach) & (x_m <= hi - reach))
        near.append((x_m > lo - reach) & (x_m < hi + reach))
        signals.append(np.isfinite(exit_kg[:, p]) & (total_kg[:, p] > MOMENT_MIN_LOAD_KG))

    def run(k: int, p: int, axles: list[int], keep: npt.NDArray[np.intp]) -> tuple[F64, F64] | None:
        """The rows of axles ``axles`` of group ``k`` on platform ``p`` at samples ``keep`` (every one
        of their footprints on it, no other axle near it: the lever rule with shares of 1), or None
        where they carry nothing or misfit the lever rule."""
        lo, length = float(edges_m[p]), float(edges_m[p + 1] - edges_m[p])
        part_kg = float(loads[axles].sum())
        if not part_kg > MOMENT_MIN_LOAD_KG:
            return None
        u = (x_m[keep][:, axles] - lo) / length
        predicted = u @ loads[axles]
        measured = exit_kg[keep, p]
        scale_kg = float(np.sqrt(np.mean(predicted**2)))
        misfit_kg = float(np.sqrt(np.mean((measured - predicted) ** 2)))
        if not scale_kg > 0 or not misfit_kg <= MOMENT_MAX_MISFIT * scale_kg:
            return None
        # The fitted loads' centre of load, and the measured exit load against it at the measured
        # total: what the heave does to both cancels (module docstring).
        centre = predicted / part_kg
        h = np.zeros((keep.size, n_c + n_g))
        h[:, :n_c] = (u - centre[:, None]) @ basis[axles, :]
        # A shift of the group's place moves every member's u by shift / length.
        h[:, n_c + k] = part_kg / length
        return h, measured - centre * total_kg[keep, p]

    # (group, the whole group or not, platform, design rows, residual rows), one per run
    runs: list[tuple[int, bool, int, F64, F64]] = []
    for p in range(edges_m.size - 1):
        for k, g in enumerate(multi):
            others = np.ones(loads.size, dtype=bool)
            others[g] = False
            keep = np.flatnonzero(
                signals[p] & np.all(inside[p][:, g], axis=1) & ~np.any(near[p][:, others], axis=1)
            )
            rows = run(k, p, g, keep) if keep.size >= windows[k] else None
            if rows is not None:
                runs.append((k, True, p, *rows))
    # A part of a group (two or more of a tridem's axles on a platform, the rest of it and every other
    # axle away from it) is read at the moments it enters or leaves, as the footprint fit reads its split
    # at the edges: only for a group whose whole runs give its spread (MIN_STRETCHES stretches or more, on
    # any platform), which then widens the footprint fit's split.  A tridem on a 3.6 or 4.2 m platform is
    # never on it whole for its spacing; read there, parts made judged jumps worse (a brake pulse swings
    # the split as the tridem enters and leaves; docs/benchmarks.md, session 38).
    stretches = [
        sum(h.shape[0] // windows[k] for k_run, _, _, h, _ in runs if k_run == k) for k in range(n_g)
    ]
    for k, g in enumerate(multi):
        if len(g) < 3 or stretches[k] < MIN_STRETCHES:
            continue
        others = np.ones(loads.size, dtype=bool)
        others[g] = False
        for p in range(edges_m.size - 1):
            on = inside[p][:, g]
            usable = (
                signals[p]
                & ~np.any(near[p][:, others], axis=1)
                & np.all(on | ~near[p][:, g], axis=1)
                & (on.sum(axis=1) >= 2)
                & ~np.all(on, axis=1)
            )
            if not usable.any():
                continue
            codes = on.astype(np.int64) @ (1 << np.arange(len(g), dtype=np.int64))
            for code in np.unique(codes[usable]):
                keep = np.flatnonzero(usable & (codes == code))
                if keep.size < max(windows[k] // PART_RUN_DIVISOR, 2):
                    continue
                rows = run(k, p, [a for j, a in enumerate(g) if int(code) >> j & 1], keep)
                if rows is not None:
                    runs.append((k, False, p, *rows))
    if not runs:
        return unchanged
    used = {p for _, _, p, _, _ in runs}
    h_all = np.concatenate([h for *_, h, _ in runs])
    y_all = np.concatenate([y for *_, y in runs])
    # The exit signal's own estimate: the places within position_sd_m, the splits free (a split the runs
    # cannot see keeps an uncertainty as large as the group's load).
    weak = np.array([sum(loads[g]) for g in multi])[owner] ** 2
    fitted, *_ = np.linalg.lstsq(h_all, y_all, rcond=None)
    residuals = [y - h @ fitted for *_, h, y in runs]
    variance = _batch_variance(residuals, block)
    if not variance > 0:
        return unchanged
    info = h_all.T @ h_all / variance
    info[:n_c, :n_c] += np.diag(1.0 / weak)
    info[n_c:, n_c:] += np.eye(n_g) / position_sd_m**2
    try:
        cov_m = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        return unchanged
    theta_m = (cov_m @ (h_all.T @ y_all / variance))[:n_c]
    spread = _spread(runs, residuals, fitted, owner, windows, n_g, n_c)
    cov_m = cov_m[:n_c, :n_c]
    n_edges = edges_m.size
    cov_f = basis.T @ prior @ basis + spread / n_edges
    try:
        info_f = np.linalg.inv(cov_f)
        info_m = np.linalg.inv(cov_m)
        cov_c = np.linalg.inv(info_f + info_m)
    except np.linalg.LinAlgError:
        return unchanged
    theta = cov_c @ (info_m @ theta_m)
    # The result is P x_f + Q cov_c (V_f^-1 Q^T x_f + V_m^-1 theta_m): its covariance from the footprint
    # fit's (widened by the spread on the split) and the exit cells' errors, taken as independent. The
    # split's block is cov_c; the totals' and the gross's are the footprint fit's.
    mix = np.eye(loads.size) - basis @ basis.T + basis @ cov_c @ info_f @ basis.T
    widened = prior + basis @ (spread / n_edges) @ basis.T
    from_cells = basis @ cov_c @ info_m @ cov_c @ basis.T
    covariance: F64 = mix @ widened @ mix.T + from_cells
    return MomentSplit(
        loads + basis @ theta, 0.5 * (covariance + covariance.T), tuple(sorted(used)), variance
    )
