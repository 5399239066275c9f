"""Configuration of a static weighbridge's indicator and card reader: a few lines of TOML, validated
strictly per driver type with file:line errors, and the drivers built from them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drivers.card.driver import CardReader
from drivers.indicator.driver import MtSics, ToledoContinuous, Xk3190
from edge.config import (
    ConfigError,
    ModbusIndicatorConfig,
    MtSicsIndicatorConfig,
    ToledoIndicatorConfig,
    Xk3190IndicatorConfig,
    parse_config,
)
from edge.lane.devices import build_driver

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"


def _with(section: str) -> str:
    return EXAMPLE.read_text(encoding="utf-8") + "\n" + section.strip() + "\n"


def _line_of(text: str, needle: str) -> int:
    return max(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_lane_config_has_no_indicator_or_card_reader() -> None:
    config = parse_config(EXAMPLE.read_text(encoding="utf-8"), "lane.toml")
    assert config.devices.indicator is None and config.devices.card_reader is None


@pytest.mark.parametrize(
    ("section", "model", "driver", "attributes"),
    [
        (
            '[devices.indicator]\ntype = "xk3190_a9"\nport = "/dev/ttyUSB0"\n'
            'mode = "command"\naddress = "B"\nunit_kg = 1000',
            Xk3190IndicatorConfig,
            Xk3190,
            {"mode": "command", "address": "B", "unit_kg": 1000.0, "poll_interval_s": 0.1},
        ),
        (
            '[devices.indicator]\ntype = "toledo_continuous"\nport = "socket://10.0.0.7:4001"',
            ToledoIndicatorConfig,
            ToledoContinuous,
            {"PROTOCOL": "toledo"},
        ),
        (
            '[devices.indicator]\ntype = "mt_sics"\nport = "/dev/ttyS1"\nmode = "stream"\nreply_timeout_s = 1.5',
            MtSicsIndicatorConfig,
            MtSics,
            {"mode": "stream", "reply_timeout_s": 1.5, "poll_interval_s": None},
        ),
    ],
)
def test_each_indicator_type_is_a_few_lines_and_builds_its_driver(
    section: str, model: type[Any], driver: type[Any], attributes: dict[str, Any]
) -> None:
    config = parse_config(_with(section), "site.toml")
    device = config.devices.indicator
    assert isinstance(device, model) and device.baudrate == 9600  # indicators default to 9600 Bd
    built = build_driver(device, driver, on_reading=None)
    assert built.link.config.url == device.port and built.link.config.baudrate == 9600
    for name, value in attributes.items():
        assert getattr(built, name) == value, name


def test_a_modbus_transmitter_builds_with_its_address() -> None:
    pytest.importorskip("pymodbus")
    from drivers.indicator.modbus import ModbusTransmitter

    text = _with('[devices.indicator]\ntype = "modbus_rtu"\nport = "/dev/ttyUSB3"\ndevice_id = 7')
    device = parse_config(text, "site.toml").devices.indicator
    assert isinstance(device, ModbusIndicatorConfig) and device.device_id == 7
    built = build_driver(device, ModbusTransmitter, on_reading=None)
    assert built.url == "/dev/ttyUSB3"


def test_the_card_reader_builds_with_its_hold_off() -> None:
    text = _with('[devices.card_reader]\ntype = "em4100_ascii"\nport = "/dev/weigh/card0"\nhold_off_s = 2.5')
    device = parse_config(text, "site.toml").devices.card_reader
    assert device is not None
    reader = build_driver(device, CardReader)
    assert reader.hold_off_s == 2.5 and reader.link.config.baudrate == 9600


@pytest.mark.parametrize(
    ("section", "needle", "key", "message"),
    [
        (
            '[devices.indicator]\ntype = "xk3190_a9"\nport = "/dev/ttyUSB0"\naddress = "b"',
            'address = "b"',
            "devices.indicator.address",
            "should match pattern",
        ),
        (
            '[devices.indicator]\ntype = "xk3190_a9"\nport = "/dev/ttyUSB0"\nmode = "stream"',
            'mode = "stream"',
            "devices.indicator.mode",
            "'continuous' or 'command'",
        ),
        (  # a key of another indicator type
            '[devices.indicator]\ntype = "toledo_continuous"\nport = "/dev/ttyUSB0"\naddress = "A"',
            'address = "A"',
            "devices.indicator.address",
            "unknown key",
        ),
        (
            '[devices.indicator]\ntype = "modbus_rtu"\nport = "/dev/ttyUSB0"\ndevice_id = 300',
            "device_id = 300",
            "devices.indicator.device_id",
            "less than or equal to 247",
        ),
        (
            '[devices.indicator]\ntype = "mt_sics"\nport = "/dev/ttyUSB0"\npoll_interval_s = "0.1"',
            'poll_interval_s = "0.1"',
            "devices.indicator.poll_interval_s",
            "without quotes",
        ),
        (
            '[devices.indicator]\ntype = "xk3190"\nport = "/dev/ttyUSB0"',
            "[devices.indicator]",
            "devices.indicator",
            "'xk3190_a9', 'toledo_continuous', 'mt_sics', 'modbus_rtu'",
        ),
        (
            '[devices.card_reader]\ntype = "em4100"\nport = "/dev/ttyUSB0"',
            'type = "em4100"',
            "devices.card_reader.type",
            "known types for card_reader: em4100_ascii",
        ),
        (
            '[devices.card_reader]\ntype = "em4100_ascii"\nport = "/dev/ttyUSB0"\nhold_off_s = -1',
            "hold_off_s = -1",
            "devices.card_reader.hold_off_s",
            "greater than or equal to 0",
        ),
    ],
)
def test_errors_name_the_file_line_and_key(section: str, needle: str, key: str, message: str) -> None:
    text = _with(section)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "site.toml")
    problem = str(info.value)
    assert f"site.toml:{_line_of(text, needle)}: {key}" in problem
    assert message in problem
