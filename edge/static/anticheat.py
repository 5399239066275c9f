"""Anti-cheating checks of a static weighbridge (防作弊): pure functions, each returning a :class:`Cheat`
or None.  The site (edge/sites/static_weighbridge.py) runs them and puts every one that fired on the
weighing's record (``static.cheating``); docs/weighbridge.md says what each does to the verdict.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from drivers.indicator.driver import IndicatorReading
from edge.static.stability import Judgement

__all__ = [
    "Cheat",
    "deck_intrusion",
    "low_tare",
    "plate_mismatch",
    "remote_control_claim",
    "remote_control_step",
    "zero_not_returned",
]


@dataclass(frozen=True)
class Cheat:
    check: str
    detail: str

    def as_record(self) -> dict[str, str]:
        return {"check": self.check, "detail": self.detail}


def remote_control_claim(
    judgement: Judgement, division_kg: float, band_divisions: float = 10.0
) -> Cheat | None:
    """The indicator claims a stable weight while the host sees it move by far more than any settling
    deck would (a remote-controlled indicator: 遥控器作弊).  ``band_divisions`` e keeps a deck that is
    still ringing slightly (the indicator's own band is often wider than the host's) from being flagged."""
    spread = judgement.spread_kg
    if not judgement.claimed_stable_while_moving or spread is None:
        return None
    if spread <= band_divisions * division_kg:
        return None
    return Cheat(
        "remote_control",
        f"the reading moved {spread:.0f} kg within the stability window while the indicator claimed it stable",
    )


def remote_control_step(
    previous: IndicatorReading, reading: IndicatorReading, min_step_kg: float
) -> Cheat | None:
    """A weight that steps between two consecutive readings by ``min_step_kg`` or more, on a deck that had
    settled and with nothing crossing the beams: loads come on over seconds, axle by axle; only a
    tampered indicator or load cell jumps."""
    if previous.weight_kg is None or reading.weight_kg is None:
        return None
    step = reading.weight_kg - previous.weight_kg
    if abs(step) < min_step_kg:
        return None
    dt = reading.host_time_s - previous.host_time_s
    return Cheat(
        "remote_control",
        f"the reading stepped {step:+.0f} kg in {dt:.2f} s on a settled deck with every beam clear",
    )


def zero_not_returned(residual_kg: float | None, zero_band_kg: float) -> Cheat | None:
    """The empty deck read ``residual_kg`` before this truck came on (None: never read stable empty)."""
    if residual_kg is None or abs(residual_kg) <= zero_band_kg:
        return None
    return Cheat(
        "zero_not_returned",
        f"the empty deck read {residual_kg:+.0f} kg before this truck (zero band +/-{zero_band_kg:.0f} kg)",
    )


def deck_intrusion(beams: Sequence[str], weight_change_kg: float | None) -> Cheat:
    """Something crossed a beam after the truck stood fully on the deck (a second vehicle, a person)."""
    change = "" if weight_change_kg is None else f"; the reading changed {weight_change_kg:+.0f} kg"
    return Cheat(
        "deck_intrusion",
        f"beam {', '.join(sorted(set(beams)))} blocked while the truck stood on the deck{change}",
    )


def plate_mismatch(entry_plate: str | None, exit_plate: str | None) -> Cheat | None:
    """The entry and exit cameras read different plates for one weighing (车牌调包)."""
    if not entry_plate or not exit_plate or entry_plate == exit_plate:
        return None
    return Cheat("plate_mismatch", f"the entry camera read {entry_plate}, the exit camera {exit_plate}")


def low_tare(tare_kg: float, history_kg: Sequence[float], fraction: float) -> Cheat | None:
    """A tare lower than the median of the plate's earlier tares by more than ``fraction``."""
    if not history_kg:
        return None
    median = statistics.median(history_kg)
    if tare_kg >= median * (1.0 - fraction):
        return None
    return Cheat(
        "low_tare",
        f"tare {tare_kg:.0f} kg is {100 * (1 - tare_kg / median):.1f} % below the plate's median of"
        f" {len(history_kg)} earlier tares ({median:.0f} kg)",
    )
