"""Oversize limits and the verdict with each dimension's uncertainty.

Limits: article 3 of 《超限运输车辆行驶公路管理规定》(交通运输部令2016年第62号): a vehicle is oversize when its
height exceeds 4.0 m, its width 2.55 m or its length 18.1 m.  A site may override them (for example a
corridor with its own limits); the source goes with them onto the record.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ORDER_62_LIMITS", "DimensionVerdict", "OversizeLimits", "OversizeVerdict", "judge_outline"]


@dataclass(frozen=True)
class OversizeLimits:
    height_m: float = 4.0
    width_m: float = 2.55
    length_m: float = 18.1
    source: str = "交通运输部令2016年第62号 第三条"


ORDER_62_LIMITS = OversizeLimits()


@dataclass(frozen=True)
class DimensionVerdict:
    """One dimension against its limit.  ``state`` is ``over`` when even the low end of the coverage
    interval (value - k u) exceeds the limit, ``within`` when its high end does not, else ``uncertain``."""

    name: str
    value_m: float
    uncertainty_m: float
    limit_m: float
    state: str

    @property
    def excess_m(self) -> float:
        return self.value_m - self.limit_m


@dataclass(frozen=True)
class OversizeVerdict:
    dimensions: tuple[DimensionVerdict, ...]
    coverage: float
    source: str

    @property
    def oversize(self) -> bool:
        """At least one dimension is over its limit beyond the measurement's uncertainty."""
        return any(d.state == "over" for d in self.dimensions)

    @property
    def uncertain(self) -> bool:
        return not self.oversize and any(d.state == "uncertain" for d in self.dimensions)

    def board_text(self) -> str:
        """Short text for the lane board, e.g. ``超高 4.12m`` (empty when nothing is over)."""
        words = {"height": "超高", "width": "超宽", "length": "超长"}
        return " ".join(f"{words[d.name]} {d.value_m:.2f}m" for d in self.dimensions if d.state == "over")


def judge_outline(
    length_m: float,
    width_m: float,
    height_m: float,
    u_length_m: float,
    u_width_m: float,
    u_height_m: float,
    limits: OversizeLimits = ORDER_62_LIMITS,
    coverage: float = 2.0,
) -> OversizeVerdict:
    """Judge each dimension at coverage factor ``coverage`` (2 = about 95 % for a normal error)."""

    def one(name: str, value: float, u: float, limit: float) -> DimensionVerdict:
        if value - coverage * u > limit:
            state = "over"
        elif value + coverage * u <= limit:
            state = "within"
        else:
            state = "uncertain"
        return DimensionVerdict(name, value, u, limit, state)

    return OversizeVerdict(
        (
            one("height", height_m, u_height_m, limits.height_m),
            one("width", width_m, u_width_m, limits.width_m),
            one("length", length_m, u_length_m, limits.length_m),
        ),
        coverage,
        limits.source,
    )
