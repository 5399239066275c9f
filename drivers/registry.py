"""Driver registry: a configuration ``type`` names a driver class, imported only when used.

As in python-can (``can.Bus(interface="socketcan")``), the name is resolved to a class at run time, so a
missing optional dependency of one driver breaks only that driver, with a message that says what to
install, never ``import edge``.  This module imports no driver: the configuration checks a ``type``
against :data:`DRIVERS` without loading any device code.
"""

from __future__ import annotations

import importlib
from typing import Any

from drivers.errors import UnknownDriver

__all__ = ["DRIVERS", "ROLES", "load_driver_class", "types_for"]

#: type -> (module, class, device role)
DRIVERS: dict[str, tuple[str, str, str]] = {
    "wim_digitiser": ("drivers.wim_digitiser.driver", "WimDigitiser", "wim"),
    "light_curtain": ("drivers.separator.driver", "LightCurtain", "separator"),
    "tyre_recogniser": ("drivers.axle_sensor.driver", "TyreRecogniser", "axle_sensor"),
    "led_display": ("drivers.display.driver", "LedDisplay", "display"),
    "barrier": ("drivers.barrier.driver", "Barrier", "barrier"),
    # Weighing indicators of a static weighbridge (docs/protocols/indicators.md), the static_weighbridge
    # site kind's (edge/sites/static_weighbridge.py).
    "xk3190_a9": ("drivers.indicator.driver", "Xk3190", "indicator"),
    "toledo_continuous": ("drivers.indicator.driver", "ToledoContinuous", "indicator"),
    "mt_sics": ("drivers.indicator.driver", "MtSics", "indicator"),
    "modbus_rtu": ("drivers.indicator.modbus", "ModbusTransmitter", "indicator"),
    # RFID / IC card readers of a static weighbridge (docs/protocols/card_reader.md): 125 kHz EM4100 ASCII
    # output (ID-12LA, RDM6300 and compatibles, EM-compatible Mifare UID readers).
    "em4100_ascii": ("drivers.card.driver", "CardReader", "card_reader"),
    # 2-D LiDAR scanners of an outline gantry (docs/protocols/lidar.md); wired into a site with issue 17.
    "sick_lms5xx": ("drivers.lidar.driver", "LidarScanner", "lidar"),
    # Infrared position beams at both ends of a static weighbridge's deck (edge/sites/static_weighbridge.py).
    "position_beams": ("drivers.position.driver", "PositionBeams", "position"),
    # Serial text-to-speech modules of a static weighbridge (docs/protocols/voice.md): SYN6288 frames, GBK.
    "syn6288": ("drivers.voice.driver", "VoiceModule", "voice"),
}

#: The lane's device roles, in the order the lane lists them.
ROLES = ("wim", "separator", "axle_sensor", "display", "barrier")


def types_for(role: str) -> list[str]:
    """The registered driver types that can fill ``role``, sorted."""
    return sorted(name for name, (_module, _class, kind) in DRIVERS.items() if kind == role)


def load_driver_class(type_name: str, role: str) -> type[Any]:
    """Import and return the driver class registered as ``type_name`` for ``role``.

    Raises :class:`UnknownDriver` naming the known types of the role when ``type_name`` is not one of
    them, or the import error when the driver's module cannot be imported.
    """
    entry = DRIVERS.get(type_name)
    if entry is None or entry[2] != role:
        known = ", ".join(types_for(role)) or "none"
        raise UnknownDriver(f"no {role} driver of type {type_name!r}; known types for {role}: {known}")
    module_name, class_name, _role = entry
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UnknownDriver(
            f"driver {type_name!r} cannot be imported ({exc}); install the package it needs"
            " (pip install -e . installs every runtime dependency)"
        ) from exc
    cls = getattr(module, class_name)
    if not isinstance(cls, type):
        raise UnknownDriver(f"driver {type_name!r}: {module_name}.{class_name} is not a class")
    return cls
