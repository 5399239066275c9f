"""Actuation: lane display and barrier."""

from edge.actuate.lane_output import LaneOutput, verdict_text

__all__ = ["LaneOutput", "verdict_text"]
