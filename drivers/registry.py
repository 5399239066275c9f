"""Driver registry: a configuration ``type`` names a driver class, imported only when used.

A missing optional dependency of one driver therefore breaks only that driver, with a message that
says what to install, never ``import edge``.
"""

from __future__ import annotations

import importlib
from typing import Any

from drivers.errors import UnknownDriver

__all__ = ["DRIVERS", "load_driver_class"]

#: type -> (module, class, device role)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "wim_digitiser": ("drivers.wim_digitiser.driver", "WimDigitiser", "wim"),
    "light_curtain": ("drivers.separator.driver", "LightCurtain", "separator"),
    "tyre_recogniser": ("drivers.axle_sensor.driver", "TyreRecogniser", "axle_sensor"),
    "led_display": ("drivers.display.driver", "LedDisplay", "display"),
    "barrier": ("drivers.barrier.driver", "Barrier", "barrier"),
    "sick_lms5xx": ("drivers.lidar.driver", "LidarScanner", "lidar"),
}


def load_driver_class(type_name: str) -> Any:
    try:
        module_name, class_name, _role = DRIVERS[type_name]
    except KeyError:
        known = ", ".join(sorted(DRIVERS))
        raise UnknownDriver(f"no driver of type {type_name!r}; known types: {known}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownDriver(
            f"driver {type_name!r} cannot be imported ({exc}); install the package it needs"
            " (pip install -e . installs every runtime dependency)"
        ) from exc
    return getattr(module, class_name)
