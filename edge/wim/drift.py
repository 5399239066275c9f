"""Drift self-monitoring: the steer-axle load of loaded six-axle trucks as a travelling reference.

A loaded six-axle tractor-semitrailer (1 + 2 + 3 axles) carries a steer-axle load that varies little
from truck to truck: the tractor's front end and fifth-wheel position fix it, whatever the cargo.  The
technique is borrowed from US WIM practice (front-axle weight of loaded 5-axle semis, FHWA LTPP "WIM
calibration with traffic stream" / ASTM E1318 data-quality checks).  The monitor learns the
distribution on a baseline of such trucks, then compares the mean of the most recent ones with it.  A
shift beyond ``alarm_fraction`` with a z-score beyond ``alarm_z`` raises an alarm: the scale has
drifted (or a cell failed) long before a reference-truck test would find it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["DriftMonitor"]


@dataclass
class DriftMonitor:
    baseline_n: int = 100
    window_n: int = 50
    alarm_fraction: float = 0.025
    alarm_z: float = 4.0
    min_gross_kg: float = 35_000.0  # loaded trucks only: an empty trailer moves the steer load
    class_prefix: str = "6-combination"
    _baseline: list[float] = field(default_factory=list)
    _recent: deque[float] = field(default_factory=deque)
    baseline_mean_kg: float | None = None
    baseline_std_kg: float | None = None
    alarm: bool = False
    message: str = ""
    observations: int = 0

    def observe(self, vehicle_class: str, gross_kg: float, steer_axle_kg: float) -> None:
        """Feed one judged vehicle; only loaded six-axle combinations count."""
        if not vehicle_class.startswith(self.class_prefix) or gross_kg < self.min_gross_kg:
            return
        if not math.isfinite(steer_axle_kg):
            return
        self.observations += 1
        if self.baseline_mean_kg is None:
            self._baseline.append(steer_axle_kg)
            if len(self._baseline) >= self.baseline_n:
                values = np.asarray(self._baseline)
                self.baseline_mean_kg = float(values.mean())
                self.baseline_std_kg = float(values.std(ddof=1))
            return
        self._recent.append(steer_axle_kg)
        while len(self._recent) > self.window_n:
            self._recent.popleft()
        self._evaluate()

    def _evaluate(self) -> None:
        if self.baseline_mean_kg is None or self.baseline_std_kg is None or len(self._recent) < self.window_n:
            return
        recent_mean = float(np.mean(self._recent))
        shift = (recent_mean - self.baseline_mean_kg) / self.baseline_mean_kg
        standard_error = max(self.baseline_std_kg, 1e-9) / math.sqrt(len(self._recent))
        z = (recent_mean - self.baseline_mean_kg) / standard_error
        self.alarm = abs(shift) > self.alarm_fraction and abs(z) > self.alarm_z
        self.message = (
            f"steer axle of loaded six-axle trucks now {recent_mean:.0f} kg vs baseline"
            f" {self.baseline_mean_kg:.0f} kg ({shift:+.1%}, z = {z:+.1f})"
            + ("; the scale has drifted or a load cell fails: check zero and span" if self.alarm else "")
        )

    def state(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "message": self.message,
            "observations": self.observations,
            "baseline_mean_kg": None if self.baseline_mean_kg is None else round(self.baseline_mean_kg, 1),
            "baseline_n": min(len(self._baseline), self.baseline_n),
            "recent_n": len(self._recent),
        }

    def snapshot(self) -> dict[str, Any]:
        """Everything the monitor learned, JSON-able: :meth:`restore` in the next run takes it back (the
        station keeps it in its database, :mod:`edge.counters`)."""
        return {
            "baseline": list(self._baseline),
            "recent": list(self._recent),
            "baseline_mean_kg": self.baseline_mean_kg,
            "baseline_std_kg": self.baseline_std_kg,
            "alarm": self.alarm,
            "message": self.message,
            "observations": self.observations,
        }

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Take back a :meth:`snapshot` of an earlier run: the baseline, the recent window and the alarm
        go on where they were; an alarm is re-judged with this run's thresholds once the window is full."""
        self._baseline = [float(v) for v in snapshot.get("baseline", [])][: self.baseline_n]
        self._recent = deque(float(v) for v in list(snapshot.get("recent", []))[-self.window_n :])
        mean, std = snapshot.get("baseline_mean_kg"), snapshot.get("baseline_std_kg")
        self.baseline_mean_kg = None if mean is None else float(mean)
        self.baseline_std_kg = None if std is None else float(std)
        self.alarm = bool(snapshot.get("alarm", False))
        self.message = str(snapshot.get("message", ""))
        self.observations = int(snapshot.get("observations", 0))
        self._evaluate()
