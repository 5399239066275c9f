"""A picture of one crossing (``edge wim replay --plot out.png``): each platform's load signal, the load the
fitted axle loads put on it, and the strip events.

matplotlib with its Agg backend (no display needed) is imported here only, so the daemon never loads it.
The fitted curve is the estimator's model at the axles' mean strip speeds: each axle adds its fitted
load to the platform it stands on (edge/wim/estimate.py refines this with a speed profile, tyre
footprints and body dynamics, so a small misfit near the platform joints is expected).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge.errors import EdgeError
from edge.wim.estimate import span_per_cell
from edge.wim.kernels import crossing_kinematics, platform_loads
from edge.wim.weighing import choose_zero

if TYPE_CHECKING:
    from edge.config import Config
    from edge.judge import Judgement
    from edge.lane.crossing import Crossing

__all__ = ["PlotError", "plot_crossing"]


class PlotError(EdgeError):
    """Raised when the picture cannot be written (the message says where and why)."""


def fitted_platform_loads(
    times_s: np.ndarray, crossing: Crossing, config: Config, axle_loads_kg: tuple[float, ...]
) -> np.ndarray:
    """(samples, platforms) kg the fitted axle loads put on each platform, at constant axle speeds."""
    scale = config.scale
    edges = np.concatenate(([0.0], np.cumsum(scale.platform_lengths_m)))
    out = np.zeros((times_s.size, edges.size - 1))
    if not axle_loads_kg or not crossing.complete:
        return out
    speeds, _ = crossing_kinematics(
        crossing.entry_t_s, crossing.exit_t_s, scale.entry_strip_x_m, scale.exit_x_m
    )
    for entry, speed, load in zip(crossing.entry_t_s, speeds, axle_loads_kg, strict=False):
        if not (math.isfinite(load) and math.isfinite(speed)):
            continue
        x = scale.entry_strip_x_m + speed * (times_s - entry)
        platform = np.searchsorted(edges, x, side="right") - 1
        on = (platform >= 0) & (platform < edges.size - 1)
        out[np.flatnonzero(on), platform[on]] += load
    return out


def plot_crossing(path: Path, crossing: Crossing, config: Config, judgement: Judgement, title: str) -> None:
    """Write the PNG (or any format matplotlib knows by ``path``'s suffix); raises :class:`PlotError`."""
    if not path.parent.is_dir():
        raise PlotError(f"cannot write the plot {path}: the folder {path.parent} does not exist")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scale = config.scale
    window = crossing.window
    if window.times_s.size == 0:
        raise PlotError(f"cannot plot {title}: the capture holds no load samples")
    zero, _, _ = choose_zero(crossing, scale)
    if zero is None:  # no usable zero: show the signal relative to its first sample
        zero = window.counts[0].astype(np.float64)
    loads = platform_loads(window.counts, zero, span_per_cell(scale), scale.cells_per_platform)
    t0 = float(crossing.entry_t_s.min()) if crossing.entry_t_s.size else float(window.times_s[0])
    t = window.times_s - t0
    m = judgement.measurement
    fitted = fitted_platform_loads(window.times_s, crossing, config, m.axle_loads_kg if m else ())
    n_platforms = loads.shape[1]
    fig, axes = plt.subplots(
        n_platforms, 1, sharex=True, figsize=(10, 2.2 * n_platforms + 1.2), squeeze=False
    )
    try:
        for p, ax in enumerate(axes[:, 0]):
            ax.plot(t, loads[:, p] / 1000, color="tab:blue", linewidth=0.8, label="measured")
            if m is not None:
                ax.plot(
                    t, fitted[:, p] / 1000, color="tab:orange", linewidth=1.4, linestyle="--", label="fitted"
                )
            for i, entry in enumerate(crossing.entry_t_s):
                ax.axvline(
                    entry - t0, color="tab:green", linewidth=1.0, label="entry strip" if i == 0 else None
                )
            for i, exit_t in enumerate(crossing.exit_t_s[np.isfinite(crossing.exit_t_s)]):
                ax.axvline(
                    exit_t - t0, color="tab:red", linewidth=1.0, label="exit strip" if i == 0 else None
                )
            ax.set_ylabel(f"platform {p + 1}\nload (t)")
            ax.grid(True, alpha=0.3)
        axes[0, 0].legend(loc="upper right", fontsize="small", ncol=4)
        axes[-1, 0].set_xlabel("time from the first axle at the entry strip (s)")
        loads_text = (
            ", ".join("-" if not math.isfinite(v) else f"{v / 1000:.2f}" for v in m.axle_loads_kg)
            if m
            else "-"
        )
        gross = judgement.gross_kg
        fig.suptitle(
            f"{title}: {judgement.decision.verdict.value}, gross "
            f"{'-' if not math.isfinite(gross) else f'{gross / 1000:.2f} t'}; axle loads (t) {loads_text}",
            fontsize="medium",
        )
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=100)
        except (OSError, ValueError) as exc:  # no such folder, no permission, a suffix matplotlib lacks
            raise PlotError(f"cannot write the plot {path}: {exc}") from exc
    finally:
        plt.close(fig)
