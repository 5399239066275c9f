"""``edge wim``: weigh-in-motion tools; ``edge wim replay`` re-judges raw captures (docs/capture-format.md).

Replay calls the same :func:`edge.judge.judge` as the lane, on the crossing and settings the capture
holds, so a capture the daemon wrote replays to the result the lane produced; ``matches_live`` says so.
Registered in edge/cli.py with ``main.add_command(wim)``.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from pathlib import Path
from typing import Any

import click

from edge.config import Config, ConfigError, load_config
from edge.judge import judge
from edge.rules import LimitTable, LimitTableError
from edge.wim.capture import Capture, CaptureError, read_capture

__all__ = ["replay_file", "wim"]

#: Live and replayed gross masses agree when they differ by at most this (the record rounds to 0.1 kg).
MATCH_TOLERANCE_KG = 0.1


@click.group()
def wim() -> None:
    """Weigh-in-motion tools: replay raw captures."""


@wim.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One compact JSON object per line (per vehicle).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Lane TOML whose [scale], [rules], [wim] corrections and limit table replace the capture's:"
    " re-judge with new settings.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Draw the crossing into this PNG: each platform's signal, the fitted axle loads, the strip events"
    " (one capture only).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal)."
)
def replay(
    files: tuple[Path, ...], as_json: bool, config_path: Path | None, plot_path: Path | None, quiet: bool
) -> None:
    """Re-weigh and re-judge raw captures (.wlcap); exit status 1 when any file could not be replayed."""
    from edge.crossing_plot import PlotError  # the daemon (edge run) never loads these
    from edge.progress import progress_bar

    if plot_path is not None and len(files) != 1:
        raise click.UsageError(f"--plot draws one crossing: give one capture, not {len(files)}")
    if plot_path is not None and not plot_path.parent.is_dir():
        raise click.UsageError(f"--plot {plot_path}: the folder {plot_path.parent} does not exist")
    override: Config | None = None
    override_limits: LimitTable | None = None
    if config_path is not None:
        try:
            override = load_config(config_path)
            override_limits = LimitTable.load(override.rules.limits_table or None)
        except (ConfigError, LimitTableError) as exc:
            raise click.ClickException(str(exc)) from exc
    tables = _TableCache()
    failed = False
    # A bar over many files (on stderr, and only on a terminal): stdout stays one result per file.
    with progress_bar("replaying captures", len(files), quiet or len(files) < 2) as update:
        for done, path in enumerate(files):
            try:
                result = replay_file(path, tables, override, override_limits, plot_path)
            except (CaptureError, LimitTableError) as exc:
                failed = True
                result = {"file": str(path), "error": str(exc)}
            except PlotError as exc:
                raise click.ClickException(str(exc)) from exc
            except Exception as exc:  # one capture that breaks the weighing must not hide the others
                failed = True
                result = {"file": str(path), "error": f"internal error while judging: {exc!r}"}
            if as_json:
                click.echo(json.dumps(result, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
            else:
                click.echo(_text(result), err="error" in result)
            update(done + 1, None)
    if failed:
        raise SystemExit(1)


def replay_file(
    path: Path,
    tables: _TableCache | None = None,
    override: Config | None = None,
    override_limits: LimitTable | None = None,
    plot: Path | None = None,
) -> dict[str, Any]:
    """Replay one capture; the JSON-ready result (raises CaptureError or LimitTableError).  With ``plot``,
    the crossing is drawn into that file too (raises PlotError)."""
    capture = read_capture(path)
    config = capture.config
    if override is not None:
        if override.scale.n_channels != config.scale.n_channels:
            raise CaptureError(
                f"{path}: the capture has {config.scale.n_channels} load-cell channels but the --config"
                f" scale has {override.scale.n_channels}; use the configuration of the lane that recorded it"
            )
        config = config.model_copy(
            update={"scale": override.scale, "rules": override.rules, "wim": override.wim}
        )
    if override_limits is not None:
        limits, limits_origin = override_limits, override_limits.path
    else:
        limits, limits_origin = (tables or _TableCache()).for_capture(capture)
    judgement = judge(capture.crossing, config, limits)
    m = judgement.measurement
    wim_json = m.as_dict() if m else {}  # the record's rounding and nulls
    result: dict[str, Any] = {
        "file": str(path),
        "vehicle_number": capture.meta.vehicle_number,
        "axle_count": int(capture.crossing.entry_t_s.size),
        "axle_loads_kg": wim_json.get("axle_loads_kg", []),
        "axle_spacings_m": wim_json.get("axle_spacings_m", []),
        "speed_kmh": wim_json.get("speed_kmh"),
        "gross_kg": _finite(judgement.gross_kg, 1),
        "gross_uncertainty_kg": wim_json.get("gross_uncertainty_kg"),
        "axle_uncertainties_kg": wim_json.get("axle_uncertainties_kg", []),
        "acceleration_mps2": wim_json.get("acceleration_mps2"),
        "verdict": judgement.decision.verdict.value,
        "reasons": list(judgement.decision.reasons),
        "vehicle_class": judgement.vehicle_class.code,
        "limit_kg": judgement.limit.limit_kg,
        "correction_factor": judgement.correction_factor,
        "limits_table": limits_origin,
    }
    if plot is not None:
        from edge.crossing_plot import plot_crossing

        plot_crossing(
            plot, capture.crossing, config, judgement, f"{path.name}, vehicle {capture.meta.vehicle_number}"
        )
        result["plot"] = str(plot)
    live = capture.meta.live_result
    if live is not None:
        result["matches_live"] = live.verdict == result["verdict"] and _same_gross(
            live.gross_kg, judgement.gross_kg
        )
    return result


class _TableCache:
    """Limit tables by origin: a capture's embedded table, the path its rules name, or the packaged one."""

    def __init__(self) -> None:
        self._tables: dict[str, LimitTable] = {}

    def for_capture(self, capture: Capture) -> tuple[LimitTable, str]:
        if capture.limits_toml is not None:
            digest = hashlib.sha256(capture.limits_toml.encode("utf-8")).hexdigest()
            key = f"embedded:{digest}"
            if key not in self._tables:
                self._tables[key] = _load_text(capture.limits_toml, f"{capture.path}:limits.toml")
            return self._tables[key], "embedded"
        named = capture.config.rules.limits_table
        if named and Path(named).is_file():
            key, origin = f"path:{named}", named
        else:
            key, origin = "packaged", "packaged"
        if key not in self._tables:
            self._tables[key] = LimitTable.load(named if key != "packaged" else None)
        return self._tables[key], origin


def _load_text(text: str, shown_as: str) -> LimitTable:
    """LimitTable.load reads files only: go through a temporary file, and name the capture in errors."""
    with tempfile.TemporaryDirectory(prefix="weighlane-limits-") as directory:
        path = Path(directory) / "limits.toml"
        path.write_text(text, encoding="utf-8")
        try:
            return LimitTable.load(path)
        except LimitTableError as exc:
            raise LimitTableError(str(exc).replace(str(path), shown_as)) from None


def _same_gross(live_kg: float | None, replay_kg: float) -> bool:
    if live_kg is None or not math.isfinite(live_kg):
        return not math.isfinite(replay_kg)
    return math.isfinite(replay_kg) and abs(live_kg - replay_kg) <= MATCH_TOLERANCE_KG


def _finite(value: float, digits: int) -> float | None:
    return round(value, digits) if math.isfinite(value) else None


def _text(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"error: {result['error']}"  # the message names the file

    def kg(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f} kg"

    loads = ", ".join("-" if v is None else f"{v:,.0f}" for v in result["axle_loads_kg"]) or "-"
    spacings = ", ".join("-" if v is None else f"{v:.2f}" for v in result["axle_spacings_m"]) or "-"
    speed = "-" if result["speed_kmh"] is None else f"{result['speed_kmh']:.1f} km/h"
    lines = [
        f"{result['file']}: vehicle {result['vehicle_number']}: {result['verdict'].upper()}",
        f"  class {result['vehicle_class']}, {result['axle_count']} axles, speed {speed}",
        f"  axle loads (kg) {loads}; spacings (m) {spacings}",
        f"  gross {kg(result['gross_kg'])}, limit {kg(result['limit_kg'])} (limit table: {result['limits_table']})",
    ]
    lines += [f"  reason: {reason}" for reason in result["reasons"]]
    if "plot" in result:
        lines.append(f"  plot: {result['plot']}")
    if "matches_live" in result:
        lines.append(
            "  matches the live result" if result["matches_live"] else "  DIFFERS from the live result"
        )
    return "\n".join(lines)
