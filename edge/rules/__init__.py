"""Rules that turn measurements into a lane verdict: legal gross-mass limits, classification, tolerance;
the axle-group limits and the sum rule are in :mod:`edge.rules.axles`."""

from edge.rules.limits import (
    Body,
    Decision,
    LimitDecision,
    LimitRule,
    LimitTable,
    LimitTableError,
    Tyre,
    VehicleClass,
    VehicleFacts,
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
    "VehicleFacts",
    "Verdict",
    "classify",
    "decide",
    "gross_limit",
]
