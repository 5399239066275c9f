"""The position beams read against a weighing: is the truck fully on the deck, and did anything else
come on once it was?  Pure: beam readings in, refusals and intrusion events out."""

from __future__ import annotations

from dataclasses import dataclass, field

from drivers.position.driver import BeamReading

__all__ = ["IntrusionWatch", "position_refusal"]


def position_refusal(beams: BeamReading | None) -> str | None:
    """Why the beams forbid a weighing now, or None.

    ``position_unknown``: the controller is silent (never weigh blind); ``beam_fault``: a beam cannot see
    its reflector; ``off_deck``: an end beam is blocked (a wheel over the deck's edge: off-centre, the
    truck not fully on); ``deck_intrusion``: a side beam is blocked (someone or something beside the
    truck).
    """
    if beams is None:
        return "position_unknown"
    if beams.faults:
        return "beam_fault"
    if {"entry", "exit"} & beams.blocked:
        return "off_deck"
    if beams.blocked:
        return "deck_intrusion"
    return None


@dataclass
class IntrusionWatch:
    """Armed once the truck stands fully on the deck; every beam blocked after that is an intrusion
    (until :meth:`disarm` at the decision, after which the truck itself crosses a beam to leave)."""

    armed: bool = False
    weight_at_arming_kg: float | None = None
    beams: list[str] = field(default_factory=list)

    def arm(self, weight_kg: float | None) -> None:
        if not self.armed:
            self.armed = True
            self.weight_at_arming_kg = weight_kg

    def observe(self, beams: BeamReading | None) -> bool:
        """Note the beams; True when a new intrusion began with this reading."""
        if not self.armed or beams is None or not beams.blocked:
            return False
        new = [b for b in beams.blocked if b not in self.beams]
        self.beams.extend(new)
        return bool(new)

    @property
    def intruded(self) -> bool:
        return bool(self.beams)

    def disarm(self) -> None:
        self.armed = False

    def reset(self) -> None:
        self.armed = False
        self.weight_at_arming_kg = None
        self.beams = []
