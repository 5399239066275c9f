"""The project's error root, and the small error tree shared by every driver.

:class:`EdgeError` is the root of every exception the project raises.  It lives here, in the lowest
layer, because drivers must not import ``edge``; ``edge.errors`` re-exports it, and ``firmware_sim``
(which may use drivers but nothing of ``edge``) derives from it here too.
"""

__all__ = [
    "DeviceRejected",
    "DeviceTimeout",
    "DeviceUnavailable",
    "DriverError",
    "EdgeError",
    "FrameError",
    "UnknownDriver",
]


class EdgeError(Exception):
    """Raised when anything in weighlane-edge fails in a way it knows about: the root of every
    project exception (``except EdgeError`` catches them all, and no bug or library error)."""


class DriverError(EdgeError):
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
