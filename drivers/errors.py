"""The small error tree shared by every driver."""

__all__ = [
    "DeviceRejected",
    "DeviceTimeout",
    "DeviceUnavailable",
    "DriverError",
    "FrameError",
    "UnknownDriver",
]


class DriverError(Exception):
    """Raised when a device driver cannot do what was asked of it."""


class DeviceUnavailable(DriverError):
    """Raised when a command is sent to a device whose serial link is down."""


class DeviceTimeout(DriverError):
    """Raised when a device does not answer or acknowledge within its configured timeout."""


class DeviceRejected(DriverError):
    """Raised when a device acknowledges a command but refuses it or reports a fault doing it."""


class FrameError(DriverError):
    """Raised when a frame is asked to be encoded with fields out of range.

    Decoders never raise this on bad input bytes: they count them instead.
    """


class UnknownDriver(DriverError):
    """Raised when the configuration names a driver ``type`` that is not registered."""
