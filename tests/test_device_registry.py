"""A device's `type` selects its driver class through the registry, resolved (and imported) at run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.display.driver import LedDisplay
from drivers.errors import UnknownDriver
from drivers.registry import DRIVERS, load_driver_class, types_for
from drivers.separator.driver import LightCurtain
from drivers.wim_digitiser.driver import WimDigitiser
from edge.config import Config, ConfigError, parse_config
from edge.lane.devices import build_driver

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"


class RecordingDisplay(LedDisplay):
    """A display of another make: same protocol, one more key in its table."""

    def __init__(self, name: str, link_config: object, ack_timeout_s: float = 0.5) -> None:
        super().__init__(name, link_config, ack_timeout_s)  # type: ignore[arg-type]
        self.made_by_registry = True


def _config_text(old: str = "", new: str = "") -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def test_each_role_has_its_types() -> None:
    assert types_for("wim") == ["wim_digitiser"]
    assert types_for("display") == ["led_display"]
    assert types_for("nothing") == []


def test_the_configured_type_selects_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    config = parse_config(_config_text(), "lane.toml")
    display = build_driver(config.devices.display, LedDisplay)
    assert type(display) is LedDisplay and display.name == "display"
    assert display.ack_timeout_s == config.devices.display.ack_timeout_s

    monkeypatch.setitem(DRIVERS, "recording_display", (__name__, "RecordingDisplay", "display"))
    text = _config_text('type = "led_display"', 'type = "recording_display"')
    text = text.replace("[devices.display]", "[devices.display]\nack_timeout_s = 2.5", 1)
    config = parse_config(text, "lane.toml")
    display = build_driver(config.devices.display, LedDisplay)
    assert type(display) is RecordingDisplay and display.made_by_registry
    assert display.ack_timeout_s == 2.5


def test_wiring_reaches_the_constructor() -> None:
    config = parse_config(_config_text(), "lane.toml")
    seen: list[object] = []
    wim = build_driver(config.devices.wim, WimDigitiser, on_samples=seen.append, expected_channels=12)
    assert type(wim) is WimDigitiser and wim.name == "wim"
    with pytest.raises(TypeError, match="on_edge"):
        build_driver(config.devices.separator, LightCurtain)


def test_unknown_and_wrong_role_types_name_the_known_ones() -> None:
    text = _config_text('type = "led_display"', 'type = "barrier"')
    with pytest.raises(ConfigError) as info:
        parse_config(text, "lane.toml")
    line = text.splitlines().index('type = "barrier"') + 1
    assert f"lane.toml:{line}: devices.display.type: no display driver of type 'barrier'" in str(info.value)
    assert "known types for display: led_display" in str(info.value)
    with pytest.raises(UnknownDriver, match="known types for wim: wim_digitiser"):
        load_driver_class("barrier", "wim")


def test_a_class_of_the_wrong_kind_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        DRIVERS, "curtain_as_display", ("drivers.separator.driver", "LightCurtain", "display")
    )
    config = parse_config(_config_text('type = "led_display"', 'type = "curtain_as_display"'), "lane.toml")
    with pytest.raises(UnknownDriver, match=r"LightCurtain.*is not a LedDisplay"):
        build_driver(config.devices.display, LedDisplay)


def test_a_driver_that_cannot_be_imported_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DRIVERS, "gone", ("drivers.no_such_module", "Gone", "barrier"))
    with pytest.raises(UnknownDriver, match="cannot be imported"):
        load_driver_class("gone", "barrier")


def test_the_schema_lists_each_roles_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(DRIVERS, "recording_display", (__name__, "RecordingDisplay", "display"))
    definitions = Config.model_json_schema()["$defs"]
    assert definitions["DisplayConfig"]["properties"]["type"]["enum"] == ["led_display", "recording_display"]
    assert definitions["WimDigitiserConfig"]["properties"]["type"]["enum"] == ["wim_digitiser"]
