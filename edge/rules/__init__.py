"""Rules that turn measurements into a lane verdict: legal gross-mass limits, classification, tolerance."""

from edge.rules.limits import (
    Body,
    Decision,
    LimitDecision,
    LimitRule,
    LimitTable,
    LimitTableError,
    Tyre,
    VehicleClass,
    Verdict,
    classify,
    decide,
    gross_limit,
)

__all__ = [
    "Body",
    "Decision",
    "LimitDecision",
    "LimitRule",
    "LimitTable",
    "LimitTableError",
    "Tyre",
    "VehicleClass",
    "Verdict",
    "classify",
    "decide",
    "gross_limit",
]
