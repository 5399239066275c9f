"""Auto-zero tracking between vehicles.

While the lane is empty (no vehicle session open, nothing on the scale), the tracker takes the median
of each cell over the last second.  When every platform is stable (spread below ``max_spread_kg``) and
the new zero is within ``max_step_kg`` of the current one, it becomes the current zero.  A larger step
is not followed silently: it means something lies on the scale (or a cell failed), so it is reported
for a technician.  Each vehicle is still zeroed on its own empty-scale pre-roll; the tracked zero is the
fallback when the pre-roll is not empty, and its drift from the calibration zero is shown in health.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["AutoZeroTracker"]

F64 = npt.NDArray[np.float64]


@dataclass
class AutoZeroTracker:
    kg_per_count: F64
    cells_per_platform: int = 4
    max_spread_kg: float = 60.0  # p95 - p5 of a platform's load; noise of 4 kg a cell spreads about 26 kg
    max_step_kg: float = 200.0
    reference_counts: F64 | None = None  # the calibration zero, to report drift against
    zero_counts: F64 | None = None
    updates: int = 0
    refused: int = 0
    last_problem: str = ""
    _drift_kg: list[float] = field(default_factory=list)

    def observe(self, counts: npt.NDArray[np.int32]) -> bool:
        """Offer the last empty-lane samples; returns True when the zero was updated."""
        if counts.shape[0] < 20:
            return False
        kg = counts.astype(np.float64) * self.kg_per_count
        n = counts.shape[0]
        platform_kg = kg.reshape(n, -1, self.cells_per_platform).sum(axis=2)
        spread = np.percentile(platform_kg, 95, axis=0) - np.percentile(platform_kg, 5, axis=0)
        if np.any(spread > self.max_spread_kg):
            return False  # something moves on the scale: not empty, or vibrating
        candidate = np.median(counts, axis=0).astype(np.float64)
        if self.zero_counts is not None:
            step = (candidate - self.zero_counts) * self.kg_per_count
            step_platform = step.reshape(-1, self.cells_per_platform).sum(axis=1)
            if np.any(np.abs(step_platform) > self.max_step_kg):
                self.refused += 1
                self.last_problem = (
                    f"zero moved by {np.max(np.abs(step_platform)):.0f} kg on an empty lane: something lies on"
                    " the scale or a load cell failed; inspect the platforms"
                )
                return False
        self.zero_counts = candidate
        self.updates += 1
        self.last_problem = ""
        if self.reference_counts is not None:
            drift = ((candidate - self.reference_counts) * self.kg_per_count).reshape(
                -1, self.cells_per_platform
            )
            self._drift_kg = [round(float(v), 1) for v in drift.sum(axis=1)]
        return True

    def state(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "refused": self.refused,
            "last_problem": self.last_problem,
            "zero_drift_from_calibration_kg": self._drift_kg or None,
        }
