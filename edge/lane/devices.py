"""Build a lane device's driver from its configuration: the ``type`` selects the class through the
driver registry (imported only now), the link keys make its serial link, the rest go to its constructor.
"""

from __future__ import annotations

from typing import Any, TypeVar

from drivers.errors import UnknownDriver
from drivers.link import LinkConfig
from drivers.registry import load_driver_class
from edge.config import DeviceConfig, LidarScannerConfig, StaticDeviceConfig

__all__ = ["build_driver", "build_lidar", "link_config"]

D = TypeVar("D")

_LINK_KEYS = frozenset({"type", "port", "baudrate", "read_timeout_s"})


def link_config(device: DeviceConfig | StaticDeviceConfig | LidarScannerConfig) -> LinkConfig:
    """The serial link settings of ``device``."""
    return LinkConfig(url=device.port, baudrate=device.baudrate, read_timeout_s=device.read_timeout_s)


def build_driver(
    device: DeviceConfig | StaticDeviceConfig, expected: type[D], name: str = "", **wiring: Any
) -> D:
    """The driver for ``device``: an instance of the class its ``type`` names for its role, named after
    the role, on its serial link, with its own keys (``ack_timeout_s``) and ``wiring`` (the role's
    callbacks: ``on_samples`` and ``expected_channels`` for the wim, ``on_edge``, ``on_axle``) as keyword
    arguments.

    ``name``: the driver's name in logs and health when it is not the role's (a second barrier).

    ``expected`` is the class (or base class) the caller drives it as, e.g. ``WimDigitiser``; a
    registered class that is not one raises :class:`UnknownDriver`, as does a type the registry cannot
    import.
    """
    cls: Any = load_driver_class(device.type, device.role)
    if not issubclass(cls, expected):
        raise UnknownDriver(
            f"devices.{device.role}: driver type {device.type!r} ({cls.__name__}) is not a {expected.__name__}"
        )
    settings = {key: value for key, value in device if key not in _LINK_KEYS}
    driver: D = cls(name or device.role, link_config(device), **settings, **wiring)
    return driver


#: A gantry scanner's keys that say where it hangs (edge/outline), not how to talk to it.
_MOUNT_KEYS = frozenset({"name", "y_m", "z_m", "mount_deg", "x_m", "speed_pair"})


def build_lidar(scanner: LidarScannerConfig, expected: type[D], **wiring: Any) -> D:
    """The driver of one outline gantry scanner, named after the scanner (``on_scan`` in ``wiring``);
    its mounting keys stay with the measurement."""
    cls: Any = load_driver_class(scanner.type, scanner.role)
    if not issubclass(cls, expected):
        raise UnknownDriver(
            f"outline.scanners {scanner.name}: driver type {scanner.type!r} ({cls.__name__}) is not a"
            f" {expected.__name__}"
        )
    settings = {key: value for key, value in scanner if key not in _LINK_KEYS | _MOUNT_KEYS}
    driver: D = cls(scanner.name, link_config(scanner), **settings, **wiring)
    return driver
