"""Configuration: the example validates; bad files get errors naming the line and key."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from edge.cli import main
from edge.config import Config, ConfigError, load_config, parse_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "lane.example.toml"


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert config.scale.n_channels == 12
    assert config.scale.exit_x_m == 18.0
    assert config.rules.tolerance_factor == 1.05
    assert config.devices.wim.type == "wim_digitiser"


def _broken(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    return text.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "key", "needle"),
    [
        ("baudrate = 921600", 'baudrate = "fast"', "devices.wim.baudrate", 'baudrate = "fast"'),
        (
            "tolerance_factor = 1.05 ",
            "tolerance_factor = 2.0 ",
            "rules.tolerance_factor",
            "tolerance_factor = 2.0",
        ),
        ("edge_margin_m = 0.1", "edge_margn_m = 0.1", "scale.edge_margn_m", "edge_margn_m"),
        ('type = "barrier"', 'type = "barier"', "devices.barrier.type", 'type = "barier"'),
        ('port = "/dev/weigh/axles"', "", "devices.axle_sensor.port", "[devices.axle_sensor]"),
    ],
)
def test_errors_name_line_and_key(old: str, new: str, key: str, needle: str) -> None:
    text = _broken(old, new)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "lane.toml")
    message = str(info.value)
    assert f"lane.toml:{_line_of(text, needle)}: {key}" in message


def test_unknown_key_says_how_to_find_allowed_keys() -> None:
    with pytest.raises(ConfigError, match="edge config schema"):
        parse_config(_broken("[lane]", "[lane]\nbogus = 1"), "lane.toml")


def test_toml_syntax_error_names_the_line() -> None:
    with pytest.raises(ConfigError, match=r"lane\.toml: not valid TOML: .*line 2"):
        parse_config("[site]\nid = = 1\n", "lane.toml")


def test_per_cell_span_must_match_the_cell_count() -> None:
    with pytest.raises(ConfigError, match="kg_per_count has 3 values but the scale has 12 cells"):
        parse_config(_broken("kg_per_count = 0.02", "kg_per_count = [0.02, 0.02, 0.02]"), "lane.toml")


def test_missing_file_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_cli_config_check(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["config", "check", str(EXAMPLE)])
    assert ok.exit_code == 0 and "OK" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text(_broken("lane = 1", "lane = 0"), encoding="utf-8")
    result = runner.invoke(main, ["config", "check", str(bad)])
    assert result.exit_code == 1
    assert "site.lane" in result.output


def test_password_is_never_printed() -> None:
    config = parse_config(_broken('topic_prefix = "site"', 'topic_prefix = "site"\npassword = "s3cret"'), "x")
    assert "s3cret" not in repr(config)
    assert config.mqtt.password.get_secret_value() == "s3cret"


def test_axle_group_example_config_is_valid() -> None:
    config = load_config(EXAMPLE.with_name("axle-group.example.toml"))
    assert config.scale.platform_lengths_m == (3.6, 3.6)
    assert config.scale.n_channels == 8
    assert config.scale.exit_x_m == 7.2


def test_idle_lines_longer_than_the_board_takes_are_refused() -> None:
    with pytest.raises(ConfigError, match="at most 64"):
        parse_config(
            _broken('idle_lines = ["减速慢行", "依次称重"]', 'idle_lines = ["' + "超" * 30 + '"]'), "x"
        )


def test_body_frequency_band_must_not_be_reversed() -> None:
    text = (
        EXAMPLE.read_text(encoding="utf-8")
        + "\n[wim]\nbody_min_frequency_hz = 3.0\nbody_max_frequency_hz = 2.0\n"
    )
    with pytest.raises(ConfigError, match="body_max_frequency_hz must be at least body_min_frequency_hz"):
        parse_config(text, "lane.toml")


@pytest.mark.parametrize(
    ("old", "new", "key", "fix"),
    [
        ("lane = 1", 'lane = "3"', "site.lane", "whole number"),
        (
            "tolerance_factor = 1.05 ",
            'tolerance_factor = "1.05" ',
            "rules.tolerance_factor",
            "without quotes",
        ),
        ("enabled = true", 'enabled = "yes"', "mqtt.enabled", "true or false"),
        ("baudrate = 921600", "baudrate = 921600.0", "devices.wim.baudrate", "whole number"),
        ("kg_per_count = 0.02", 'kg_per_count = ["0.02"]', "scale.kg_per_count", "without quotes"),
    ],
)
def test_wrong_types_are_refused_not_converted(old: str, new: str, key: str, fix: str) -> None:
    text = _broken(old, new)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "lane.toml")
    message = str(info.value)
    assert f"lane.toml:{_line_of(text, new.strip())}: {key}" in message
    assert fix in message


def test_whole_numbers_are_valid_floats_and_arrays_become_tuples() -> None:
    config = parse_config(
        _broken("tolerance_factor = 1.05 ", "tolerance_factor = 1 ").replace(
            "[lane]", "[lane]\nidle_after_s = 5", 1
        ),
        "lane.toml",
    )
    assert config.rules.tolerance_factor == 1.0 and isinstance(config.rules.tolerance_factor, float)
    assert config.lane.idle_after_s == 5.0
    assert isinstance(config.scale.platform_lengths_m, tuple)


def _models(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for field in model.model_fields.values():
        for arg in (field.annotation, *get_args(field.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in found:
                found += [m for m in _models(arg) if m not in found]
    return found


def test_every_key_has_a_description_and_models_hold_data_only() -> None:
    models = _models(Config)
    assert len(models) >= 15
    for model in models:
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
        assert model.model_config.get("strict") and model.model_config.get("extra") == "forbid"
        methods = [
            name
            for name, value in vars(model).items()
            if callable(value) and not name.startswith("_") and name not in ("model_post_init",)
        ]
        assert methods == [], f"{model.__name__} has behaviour: {methods}"


def test_config_imports_nothing_above_it() -> None:
    """Leaf modules only: the error root, the error formatter and the driver registry's names (no driver)."""
    code = (
        "import sys, edge.config; print(sorted(m for m in sys.modules if m.startswith(('edge', 'drivers'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert ast.literal_eval(result.stdout) == [
        "drivers",
        "drivers.errors",
        "drivers.registry",
        "edge",
        "edge.config",
        "edge.configerrors",
        "edge.errors",
    ]
