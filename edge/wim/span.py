"""Span check: notice a load cell whose gain has moved, from the trucks that cross.

A platform rests on four cells, one at each corner (entry-left, entry-right, exit-left, exit-right).  A
load at ``u`` along the platform and ``w`` across goes to the corners bilinearly (lever rule), so each
cell's share is a product of an along-factor and an across-factor: ``EL = W a l``, ``ER = W a r``,
``XL = W b l``, ``XR = W b r``.  Several axles of one vehicle on the platform keep the product form as long
as they share a lateral position, and summing over the samples of a crossing keeps it too.  So the cross
ratio

    EL x XR / (ER x XL)

is 1 for every truck, wherever it drives and however it bounces, and with cell gains ``g`` it is
``g_EL g_XR / (g_ER g_XL)``: a cell whose gain moved by 1 % moves its logarithm by about 0.01 on every
crossing.  The monitor keeps the log cross ratio of the last ``window_n`` crossings per platform and
raises a calibration alarm when their median is beyond ``alarm_fraction``.  It cannot tell which of the
four cells moved (nor a gain change shared by all four, which the steer-axle drift monitor sees): it says
which platform needs a span check.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from edge.wim.kernels import cross_ratios as kernel_cross_ratios

__all__ = ["SpanMonitor", "cross_ratios"]

F64 = npt.NDArray[np.float64]


def cross_ratios(
    counts: npt.NDArray[np.int32] | F64,
    zero_counts: F64 | None = None,
    kg_per_count: F64 | None = None,
    min_platform_kg: float = 2000.0,
    min_cell_share: float = 0.05,
) -> F64:
    """Log cross ratio ``log(EL XR / (ER XL))`` of each 4-cell platform over one crossing (NaN where the
    platform never carried ``min_platform_kg`` with every cell above ``min_cell_share`` of it in 10
    samples or more).

    ``counts``: (samples, 4 x platforms) the cells' readings, in the documented corner order, made kg by
    ``(counts - zero_counts) * kg_per_count`` (default: already zeroed kg).  In one pass over the raw
    window, the Numba kernel :func:`edge.wim.kernels.cross_ratios` (its reference:
    :func:`edge.wim.reference.cross_ratios_ref`); the array of zeroed loads and a pass over it for each
    condition cost more than the estimate's moment split on a fast truck."""
    n_cells = counts.shape[1]
    return kernel_cross_ratios(
        cast("npt.NDArray[np.int32] | F64", np.ascontiguousarray(counts)),  # its dtype kept
        np.zeros(n_cells) if zero_counts is None else np.ascontiguousarray(zero_counts, dtype=np.float64),
        np.ones(n_cells) if kg_per_count is None else np.ascontiguousarray(kg_per_count, dtype=np.float64),
        float(min_platform_kg),
        float(min_cell_share),
    )


@dataclass
class SpanMonitor:
    n_platforms: int
    window_n: int = 20
    min_n: int = 10
    alarm_fraction: float = 0.005  # half the log ratio a 1 % gain change on one cell gives
    _recent: list[deque[float]] = field(default_factory=list)
    alarm: bool = False
    message: str = ""
    observations: int = 0

    def __post_init__(self) -> None:
        self._recent = [deque(maxlen=self.window_n) for _ in range(self.n_platforms)]

    def observe(self, ratios: F64) -> None:
        """Feed one crossing's :func:`cross_ratios` (NaN: that platform said nothing)."""
        self.observations += 1
        for recent, value in zip(self._recent, ratios, strict=False):
            if math.isfinite(float(value)):
                recent.append(float(value))
        medians = [float(np.median(r)) if len(r) >= self.min_n else math.nan for r in self._recent]
        off = [(p, m) for p, m in enumerate(medians) if math.isfinite(m) and abs(m) > self.alarm_fraction]
        self.alarm = bool(off)
        self.message = (
            "; ".join(
                f"platform {p + 1}: its cells disagree by {m:+.2%} on the last {len(self._recent[p])} trucks"
                f" (entry-left x exit-right against entry-right x exit-left): a cell's gain has moved;"
                " check the span"
                for p, m in off
            )
            if off
            else ""
        )

    def state(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "message": self.message,
            "observations": self.observations,
            "cross_ratio_median": [round(float(np.median(r)), 5) if len(r) else None for r in self._recent],
        }
