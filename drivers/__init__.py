"""Device drivers: one package per device family, each a pure codec plus an async driver.

Drivers are looked up by the ``type`` string used in the configuration (see :mod:`drivers.registry`)
and imported only when used, so a missing optional dependency breaks only that driver.
"""

from drivers.errors import DeviceTimeout, DeviceUnavailable, DriverError, FrameError

__all__ = ["DeviceTimeout", "DeviceUnavailable", "DriverError", "FrameError"]
