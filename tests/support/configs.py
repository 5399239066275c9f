"""Config pieces that many tests share."""

from __future__ import annotations

# The lane's five serial devices and their driver types (edge/config.py, ``devices``).
LANE_DEVICES = (
    ("wim", "wim_digitiser"),
    ("separator", "light_curtain"),
    ("axle_sensor", "tyre_recogniser"),
    ("display", "led_display"),
    ("barrier", "barrier"),
)


def loop_devices() -> dict[str, dict[str, str]]:
    """The lane's devices on pyserial's ``loop://`` port: a ``devices`` table that validates and opens
    without hardware, for tests that feed the estimator or the recorder directly."""
    return {name: {"type": kind, "port": "loop://"} for name, kind in LANE_DEVICES}
