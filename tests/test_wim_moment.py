"""The split of a group's load from the platforms' exit cells (edge.wim.moment, issue 16).

The signals here are built from the lever rule alone, sample by sample, with a tandem whose split moves
along the scale as an uneven deck makes an independently sprung tandem's do; the true static split is
the mean of that movement, which the footprint fit samples only at the platform edges.  The last test
replays crossings of the independent physics model (bench/independent_wim_model.py), which the
estimator never sees: there the footprint fit's k = 2 uncertainty of a tandem's or tridem's axle covered
about 61 % of their errors on the full-length scale, against 95 % it should.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.independent_wim_model import simulate_crossing, write_capture
from edge.judge import judge
from edge.rules import LimitTable
from edge.wim.capture import read_capture
from edge.wim.moment import STRETCH_RCOND, MomentSplit, _stretch_pinv, moment_split, sum_zero_basis

EDGES = np.array([0.0, 6.0, 12.0, 18.0])
FOOTPRINT = 0.25
RATE = 1000.0


def _lever(x: np.ndarray, edges: np.ndarray = EDGES) -> tuple[np.ndarray, np.ndarray]:
    """Each axle's share on each platform (samples x axles x platforms) and its exit cells' part: the
    footprint as a uniform pressure, cut into 11 strips, each putting its fraction along the platform on
    the exit cells (a simply supported platform)."""
    strips = x[..., None] + np.linspace(-FOOTPRINT / 2, FOOTPRINT / 2, 11)
    share = np.zeros((*x.shape, edges.size - 1))
    exit_part = np.zeros_like(share)
    for p in range(edges.size - 1):
        on = (strips >= edges[p]) & (strips < edges[p + 1])
        share[..., p] = on.mean(axis=-1)
        exit_part[..., p] = (on * (strips - edges[p]) / (edges[p + 1] - edges[p])).mean(axis=-1)
    return share, exit_part


def _tandem(
    speed: float = 1.5, spacing: float = 1.35, wave_kg: float = 150.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A lone tandem (4,000 + 5,000 kg static) crossing three 6 m platforms: its positions, the
    platforms' sums and exit cells (with 3 kg noise per sample), and its static loads.  Its split moves
    by ``wave_kg`` along the deck (a 1.7 m and a 3.1 m wave, as a deck's unevenness does), so the
    loads at any one edge are off the static ones."""
    rng = np.random.default_rng(seed)
    static = np.array([4000.0, 5000.0])
    t = np.arange(0.0, (EDGES[-1] + spacing + 2.0) / speed, 1.0 / RATE)
    front = -0.5 + speed * t
    x = np.stack([front, front - spacing], axis=1)
    phase = rng.uniform(0, 2 * np.pi, 2)
    wave = wave_kg * (
        np.sin(2 * np.pi * x[:, 0] / 1.7 + phase[0]) + np.sin(2 * np.pi * x[:, 0] / 3.1 + phase[1])
    )
    load = static[None, :] + np.stack([wave, -wave], axis=1)
    share, exit_share = _lever(x)
    total = np.einsum("sa,sap->sp", load, share) + rng.normal(0, 3.0, (t.size, 3))
    exit_ = np.einsum("sa,sap->sp", load, exit_share) + rng.normal(0, 1.5, (t.size, 3))
    return x, total, exit_, static


def _split(
    x: np.ndarray,
    total: np.ndarray,
    exit_: np.ndarray,
    prior_loads: np.ndarray,
    prior_sd: float = 10.0,
    position_sd: float = 0.002,
) -> MomentSplit:
    # At 1.5 m/s: residuals correlated over 1/3 s (the estimator's 0.5 m and half a 1.5 Hz period).
    block = round(RATE / 3.0)
    return moment_split(
        x,
        total,
        exit_,
        EDGES,
        FOOTPRINT,
        0.1,
        prior_loads,
        np.eye(2) * prior_sd**2,
        [[0, 1]],
        position_sd,
        block,
        RATE / 1.5,
    )


def test_sum_zero_basis_is_orthonormal_and_keeps_each_group_total() -> None:
    basis = sum_zero_basis([[0], [1, 2], [3, 4, 5]], 6)
    assert basis.shape == (6, 3)
    assert basis.T @ basis == pytest.approx(np.eye(3))
    for group in ([0], [1, 2], [3, 4, 5]):
        assert basis[group].sum(axis=0) == pytest.approx(np.zeros(3))


def test_the_exit_cells_move_a_wrong_split_towards_the_static_one() -> None:
    """A footprint fit that read the tandem 150 kg apart from its static split, and claimed 10 kg: the
    exit cells' mean over the whole residence moves it at least 45 % of the way back in each of 8 decks,
    and half of it on average (what is left is partly the deck's own mean over the travel used), and the
    total does not move.  Its uncertainty grows by the deck's spread, sampled at 4 edges."""
    errors = []
    for seed in range(8):
        x, total, exit_, static = _tandem(seed=seed)
        wrong = static + np.array([150.0, -150.0])
        out = _split(x, total, exit_, wrong)
        assert out.platforms == (0, 1, 2)
        assert out.loads_kg.sum() == pytest.approx(wrong.sum(), abs=1e-6)
        errors.append(float(np.abs(out.loads_kg - static).max()))
        assert errors[-1] < 85.0, (seed, out.loads_kg)
        sd = np.sqrt(np.diag(out.covariance_kg2))
        assert sd.min() > 15.0  # the deck's spread, sampled at 4 edges, widened the prior
        assert np.all(np.linalg.eigvalsh(out.covariance_kg2) > -1e-6)
    assert np.mean(errors) < 75.0, errors


def test_an_uncertain_place_leaves_the_split_to_the_footprint_fit() -> None:
    """The same tandem, its places off by 3 cm (strips at speed): said so (position_sd 3 cm), the split
    stays near the footprint fit's; said to be exact, it follows the shifted centre of load."""
    x, total, exit_, static = _tandem(seed=3, wave_kg=0.0)
    shifted = x + 0.03
    honest = _split(shifted, total, exit_, static, position_sd=0.03)
    trusting = _split(shifted, total, exit_, static, position_sd=0.0005)
    assert np.abs(honest.loads_kg - static).max() < 25.0
    # 3 cm of a 9,000 kg group's centre over 1.35 m of spacing: about 200 kg from the front to the rear.
    assert np.abs(trusting.loads_kg - static).max() > 120.0


def test_cells_that_do_not_follow_the_lever_rule_leave_the_loads_alone() -> None:
    """Exit cells wired as entry cells: the fitted loads do not explain them, no platform is used."""
    x, total, exit_, static = _tandem(seed=1)
    out = _split(x, total, total - exit_, static + np.array([100.0, -100.0]))
    assert out.platforms == ()
    assert out.loads_kg == pytest.approx(static + np.array([100.0, -100.0]))


def test_independent_model_group_axles_uncertainty_covers_their_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Full-length 3 x 6 m scale, 3- and 4-axle rigid trucks at 3-40 km/h on the independent model: the k = 2
    uncertainty of each axle of a group covers at least 80 % of their errors (the footprint fit's own
    covered 60 % on this model; 40 of these 48 axles, 41 with the tighter load-sharing prior of 0.05).
    The gross is the same with and without the exit cells (to 1e-5: the pitch transfer's correction
    after the split depends on each axle's load), and so is its uncertainty (to 1 %, likewise)."""
    limits = LimitTable.load(None)
    covered = []
    for seed in range(16):
        kind = "3-rigid" if seed % 2 else "4-rigid"
        crossing = simulate_crossing("full-length", "steady", np.random.default_rng(100 + seed), kind=kind)
        truth = crossing.meta["extra"]["truth"]
        capture = read_capture(write_capture(crossing, tmp_path / f"{seed}.wlcap"))
        off = capture.config.model_copy(
            update={"wim": capture.config.wim.model_copy(update={"moment_split": False})}
        )
        with_cells = judge(capture.crossing, capture.config, limits).measurement
        without = judge(capture.crossing, off, limits).measurement
        assert with_cells is not None and without is not None
        assert with_cells.gross_kg == pytest.approx(without.gross_kg, rel=1e-5)
        assert with_cells.gross_uncertainty_kg == pytest.approx(without.gross_uncertainty_kg, rel=0.01)
        static = np.array(truth["axle_loads_kg"])
        group = slice(1, 3) if kind == "3-rigid" else slice(0, 4)
        error = np.abs(np.array(with_cells.axle_loads_kg) - static)[group]
        covered.extend(error <= np.array(with_cells.axle_uncertainties_kg)[group])
    assert np.mean(covered) >= 0.80, np.mean(covered)


def test_unplaced_axles_or_no_travel_leave_the_loads_alone() -> None:
    """A position that is not a number (an axle the profile could not place), or no travel per sample,
    gives the footprint fit's loads and covariance back rather than an error."""
    x, total, exit_, static = _tandem(seed=2)
    x[100, 1] = np.nan
    out = _split(x, total, exit_, static)
    assert out.platforms == ()
    assert out.loads_kg == pytest.approx(static)
    x, total, exit_, static = _tandem(seed=2)
    still = moment_split(
        x, total, exit_, EDGES, FOOTPRINT, 0.1, static, np.eye(2) * 100.0, [[0, 1]], 0.002, 333, 0.0
    )
    assert still.platforms == ()
    assert still.covariance_kg2 == pytest.approx(np.eye(2) * 100.0)


def _crossing(
    offsets: list[float],
    static: list[float],
    speed: float = 1.5,
    speed_skew: float = 0.0,
    seed: int = 0,
    edges: np.ndarray = EDGES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Axles at ``offsets`` behind the front one, steady loads, crossing the platforms; axle i moves at
    ``speed + i * speed_skew`` (per-axle constant speeds, as the strips alone give them)."""
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, (edges[-1] + offsets[-1] + 2.0) / speed, 1.0 / RATE)
    v = speed + speed_skew * np.arange(len(offsets))
    x = -0.5 + t[:, None] * v[None, :] - np.array(offsets)[None, :]
    share, exit_share = _lever(x, edges)
    load = np.array(static)
    n_platforms = edges.size - 1
    total = np.einsum("a,sap->sp", load, share) + rng.normal(0, 3.0, (t.size, n_platforms))
    exit_ = np.einsum("a,sap->sp", load, exit_share) + rng.normal(0, 1.5, (t.size, n_platforms))
    return x, total, exit_


def _tridem_split(
    x: np.ndarray,
    total: np.ndarray,
    exit_: np.ndarray,
    loads: np.ndarray,
    edges: np.ndarray = EDGES,
    position_sd: float = 0.002,
) -> MomentSplit:
    """moment_split on one tridem (axles 0-2) whose fitted loads claim 30 kg each, at 1.5 m/s."""
    return moment_split(
        x,
        total,
        exit_,
        edges,
        FOOTPRINT,
        0.1,
        loads,
        np.eye(3) * 30.0**2,
        [[0, 1, 2]],
        position_sd,
        333,
        RATE / 1.5,
    )


def test_a_tridem_seen_in_one_direction_does_not_amplify_noise() -> None:
    """A tridem whose axles the strips give speeds 0.1 mm/s apart: its stretches see one direction of
    its split, nearly; the other must not be read from noise (a review found it could be, with the
    least-norm cut-off at 1e-10 of the largest eigenvalue).  With the loads exactly the fitted ones, no
    axle moves by more than 20 kg."""
    static = [6000.0, 6000.0, 6000.0]
    x, total, exit_ = _crossing([0.0, 1.3, 2.6], static, speed_skew=1e-4)
    out = _tridem_split(x, total, exit_, np.array(static))
    assert out.platforms
    assert np.abs(out.loads_kg - static).max() < 20.0, out.loads_kg


def test_totals_lone_axles_and_an_empty_group_keep_their_place() -> None:
    """A lone steer, a tandem and a group the fit weighed at nothing: the tandem's split moves, the
    steer, every group's total and the gross keep their loads and their variances exactly, the covariance
    stays positive semi-definite, and the empty group stops nothing."""
    static = np.array([6000.0, 8000.0, 8000.0, 0.0, 0.0])
    offsets = [0.0, 6.6, 7.95, 14.5, 15.8]
    x, total, exit_ = _crossing(offsets, list(static), seed=4)
    fitted = static + np.array([0.0, 120.0, -120.0, 0.0, 0.0])
    rng = np.random.default_rng(9)
    root = rng.normal(0, 20.0, (5, 5))
    prior = root @ root.T + np.eye(5) * 25.0
    out = moment_split(
        x, total, exit_, EDGES, FOOTPRINT, 0.1, fitted, prior, [[0], [1, 2], [3, 4]], 0.002, 333, RATE / 1.5
    )
    assert out.platforms
    assert abs(out.loads_kg[1] - 8000.0) < 60.0  # moved back from +120
    assert out.loads_kg[0] == pytest.approx(6000.0)
    assert out.loads_kg[1] + out.loads_kg[2] == pytest.approx(16000.0)
    cov = out.covariance_kg2
    assert cov[0, 0] == pytest.approx(prior[0, 0])
    for group in ([1, 2], [3, 4], [0, 1, 2, 3, 4]):
        assert cov[np.ix_(group, group)].sum() == pytest.approx(prior[np.ix_(group, group)].sum())
    assert np.linalg.eigvalsh(cov).min() > -1e-6


def test_a_tridem_middle_axle_is_read_while_the_tridem_enters_and_leaves() -> None:
    """A tridem standing on one platform shows its exit cells one direction of its split, front against
    rear; its middle axle against the two ends it shows only while part of it is on the platform (two
    axles on, the third off or on the next platform).  A fit that read the middle axle 240 kg heavy and
    each end 120 kg light, and claimed 30 kg, is moved at least five sixths of the way back, and the
    tridem's total does not move."""
    static = np.array([6000.0, 7000.0, 6500.0])
    x, total, exit_ = _crossing([0.0, 1.3, 2.6], list(static), seed=5)
    wrong = static + np.array([-120.0, 240.0, -120.0])
    out = _tridem_split(x, total, exit_, wrong)
    assert out.platforms == (0, 1, 2)
    assert out.loads_kg.sum() == pytest.approx(wrong.sum(), abs=1e-6)
    assert abs(out.loads_kg[1] - static[1]) < 40.0, out.loads_kg
    assert np.linalg.eigvalsh(out.covariance_kg2).min() > -1e-6


def test_a_tridem_never_whole_on_a_short_platform_keeps_the_footprint_fits_split() -> None:
    """On one 4.2 m platform a tridem of 2.6 m never stands whole on it for its spacing, so nothing shows
    how its split moves along the scale; its two-axle parts, read only as it enters and leaves (when a
    brake pulse swings the split), are not used, and the loads and covariance stay the footprint fit's."""
    static = np.array([6000.0, 7000.0, 6500.0])
    short = np.array([0.0, 4.2])
    x, total, exit_ = _crossing([0.0, 1.3, 2.6], list(static), seed=6, edges=short)
    wrong = static + np.array([-120.0, 240.0, -120.0])
    out = _tridem_split(x, total, exit_, wrong, short)
    assert out.platforms == ()
    assert out.loads_kg == pytest.approx(wrong)
    assert out.covariance_kg2 == pytest.approx(np.eye(3) * 30.0**2)


def test_a_tridem_placed_off_by_the_strips_keeps_its_split() -> None:
    """The tridem's places 3 cm off (a strip's timing at speed), said so: its whole runs and its parts
    see the same shift of place, each in proportion to the load on the platform, and no axle moves by
    more than 20 kg (a place column scaled by the whole group's load in a part's rows moved them 100 kg)."""
    static = np.array([6000.0, 7000.0, 6500.0])
    for seed in range(3):
        x, total, exit_ = _crossing([0.0, 1.3, 2.6], list(static), seed=seed)
        out = _tridem_split(x + 0.03, total, exit_, static, position_sd=0.03)
        assert out.platforms == (0, 1, 2)
        assert np.abs(out.loads_kg - static).max() < 20.0, (seed, out.loads_kg)


def test_parts_wait_for_the_spread_of_the_whole_group() -> None:
    """One 6 m platform: the tridem stands on it whole for about two of its spacings, too few stretches
    to show how its split moves; its whole run still gives its centre of load, its parts are not read,
    and the middle axle the fit read 240 kg heavy stays so (the centre of load cannot see it)."""
    static = np.array([6000.0, 7000.0, 6500.0])
    six = np.array([0.0, 6.0])
    x, total, exit_ = _crossing([0.0, 1.3, 2.6], list(static), seed=7, edges=six)
    wrong = static + np.array([-120.0, 240.0, -120.0])
    out = _tridem_split(x, total, exit_, wrong, six)
    assert out.platforms == (0,)
    assert out.loads_kg == pytest.approx(wrong, abs=5.0)


def test_stretch_pseudo_inverse_is_numpys_at_its_cutoff() -> None:
    """The stretches' batched pseudo-inverse (closed form for a tridem's 2 x 2 blocks) is
    np.linalg.pinv's at STRETCH_RCOND: on full-rank blocks, on rank-1 blocks (a whole group's, one
    direction), on blocks whose two directions are nearly one (either side of the cutoff), on zero blocks,
    on 1 x 1 and 3 x 3 blocks and on none."""
    rng = np.random.default_rng(7)
    kinds = {"full": 0, "rank 1": 0}
    for k in range(900):
        n_cols = (1, 2, 2, 2, 3)[k % 5]
        rows = rng.normal(size=(int(rng.integers(0, 6)), int(rng.integers(1, 30)), n_cols))
        rows *= rng.uniform(0.01, 100)
        if n_cols > 1 and k % 3 == 1:  # one direction: a whole group's block
            rows[..., 1] = rows[..., 0] * rng.uniform(-3.0, 3.0)
        if n_cols > 1 and k % 3 == 2:  # two directions nearly the same: either side of the cutoff
            rows[..., 1] = rows[..., 0] * (1.0 + rng.uniform(-1.0, 1.0) * 10 ** rng.uniform(-9, -1))
        if k % 29 == 0:
            rows[:] = 0.0
        normal = np.einsum("bij,bik->bjk", rows, rows)
        want = np.linalg.pinv(normal, rcond=STRETCH_RCOND, hermitian=True)
        got = _stretch_pinv(normal)
        assert got.shape == want.shape
        scale = float(np.abs(want).max()) if want.size else 0.0
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-11 * scale)
        if n_cols == 2 and normal.shape[0] and scale > 0:
            ratio = np.linalg.eigvalsh(normal)
            kinds["rank 1" if np.all(np.abs(ratio[:, 0]) < 1e-9 * ratio[:, 1]) else "full"] += 1
    assert min(kinds.values()) > 50  # both closed forms exercised
