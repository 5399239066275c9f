"""Auto-zero tracking between vehicles.

While the lane is empty (no vehicle session open, nothing on the scale), the tracker takes the median
of each cell over the last second.  When every platform is stable (spread below ``max_spread_kg``) and
the new zero is within ``max_step_kg`` of the current one, it becomes the current zero.  A larger step
is not followed silently: it means something lies on the scale (or a cell failed), so it is reported
for a technician.  Each vehicle is still zeroed on its own empty-scale pre-roll; the tracked zero is the
fallback when the pre-roll is not empty, and its drift from the calibration zero is shown in health.

Load cells only ever see compression, so an empty scale reads *lower* than a loaded one.  A quiet reading
lower than the current zero by more than ``max_step_kg`` therefore means the current zero was taken with a
load on the scale (a daemon restarted under a truck, say): it is re-acquired at once and reported, never
refused.  A zero that differs from the calibration's by more than ``alarm_kg`` on a platform (a truck's
worth) raises ``alarm`` until a zero within it is acquired again.  Its message says how the zero got there:
in one step (a load on the scale when it was taken, or a failed cell), or in steps each within
``max_step_kg`` (a slow drift, e.g. temperature through the cells' zero coefficient, that weighing has
followed all along: the calibration zero is stale, no load is on the scale).
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
    alarm_kg: float = 1000.0  # a platform's zero this far from the calibration's: an axle's worth of load
    reference_counts: F64 | None = None  # the calibration zero, to report drift against
    zero_counts: F64 | None = None
    updates: int = 0
    refused: int = 0
    reacquired: int = 0  # zeros taken with a load on the scale, replaced by a lower empty reading
    alarm: bool = False
    last_problem: str = ""
    _drift_kg: list[float] = field(default_factory=list)
    _small_steps: int = 0  # updates since the zero was last within alarm_kg, each within max_step_kg

    def observe(self, counts: npt.NDArray[np.int32], acquire: bool = False) -> bool:
        """Offer the last empty-lane samples; returns True when the zero was updated.  With ``acquire``
        (the first provably empty lane of a run) a quiet reading is taken whatever its step."""
        if counts.shape[0] < 20:
            return False
        kg = counts.astype(np.float64) * self.kg_per_count
        n = counts.shape[0]
        platform_kg = kg.reshape(n, -1, self.cells_per_platform).sum(axis=2)
        low, high = np.percentile(platform_kg, (5, 95), axis=0)  # one partition for both
        spread = high - low
        if np.any(spread > self.max_spread_kg):
            return False  # something moves on the scale: not empty, or vibrating
        candidate = np.median(counts, axis=0).astype(np.float64)
        note = ""
        if self.zero_counts is not None and not acquire:
            step_platform = self._per_platform_kg(candidate - self.zero_counts)
            if np.any(step_platform > self.max_step_kg):
                self.refused += 1
                self.last_problem = (
                    f"zero moved by {np.max(step_platform):+.0f} kg on an empty lane: something lies on"
                    " the scale or a load cell failed; inspect the platforms"
                )
                return False
            if np.any(step_platform < -self.max_step_kg):
                self.reacquired += 1
                note = (
                    f"zero re-acquired: the previous one read {-np.min(step_platform):.0f} kg high on a"
                    " platform (it was taken with a load on the scale)"
                )
        self.adopt(candidate)
        if not self.alarm:  # an alarm's own message stays until the zero is back within it
            self.last_problem = note
        return True

    def adopt(self, zero_counts: F64) -> None:
        """Make ``zero_counts`` (checked by the caller) the current zero; update drift and the alarm."""
        new = np.asarray(zero_counts, dtype=np.float64).copy()
        small_step = self.zero_counts is not None and bool(
            np.all(np.abs(self._per_platform_kg(new - self.zero_counts)) <= self.max_step_kg)
        )
        self.zero_counts = new
        self.updates += 1
        if self.reference_counts is None:
            return
        drift = self._per_platform_kg(self.zero_counts - self.reference_counts)
        self._drift_kg = [round(float(v), 1) for v in drift]
        self.alarm = bool(np.any(np.abs(drift) > self.alarm_kg))
        if not self.alarm:
            self._small_steps = 0
            return
        platform = int(np.argmax(np.abs(drift)))
        moved = f"{float(drift[platform]):+.0f} kg from the calibration's on platform {platform + 1}"
        self._small_steps = self._small_steps + 1 if small_step and self._small_steps >= 0 else -1
        if self._small_steps > 0:
            self.last_problem = (
                f"the zero has drifted {moved}, in steps of at most {self.max_step_kg:.0f} kg that weighing"
                " followed (temperature or a creeping cell, not a load on the scale): the calibration's zero"
                " is stale; check the cells and re-zero at the next calibration"
            )
        else:
            self.last_problem = (
                f"the zero differs by {moved}: a load was on the scale when it was taken, or a cell failed;"
                " it is taken again when the lane is empty"
            )

    def _per_platform_kg(self, counts: F64) -> F64:
        kg: F64 = (counts * self.kg_per_count).reshape(-1, self.cells_per_platform).sum(axis=1)
        return kg

    def state(self) -> dict[str, Any]:
        return {
            "updates": self.updates,
            "refused": self.refused,
            "reacquired": self.reacquired,
            "alarm": self.alarm,
            "last_problem": self.last_problem,
            "zero_drift_from_calibration_kg": self._drift_kg or None,
        }
