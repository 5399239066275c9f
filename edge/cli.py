"""The ``edge`` command line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import click

from edge.config import Config, ConfigError, load_config

__all__ = ["main"]


def _logging(verbose: bool, to_file: Path | None = None) -> None:
    """To ``to_file``, or stderr: with ``<N>`` priorities and no timestamp of ours under journald."""
    from edge.service import logging_handler

    if to_file:
        handler: logging.Handler = logging.FileHandler(to_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging_handler()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler], force=True)


@click.group()
@click.version_option(package_name="weighlane-edge")
def main() -> None:
    """Edge service for truck weigh stations."""


@main.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def run(config_path: Path, verbose: bool) -> None:
    """Run the lane daemon against real (or simulated) devices."""
    _logging(verbose)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    from edge.service import tag_logs

    tag_logs(config.site.id, config.site.lane)  # SITE_ID and LANE on every journal entry
    from drivers.errors import DriverError
    from edge.calibration import CalibrationStoreError
    from edge.daemon import LaneDaemon
    from edge.evidence import EvidenceError
    from edge.lock import AlreadyRunning
    from edge.rules import LimitTableError

    async def _main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await LaneDaemon(config).run(stop, finish_vehicles=True)  # SIGTERM: the crossing finishes

    try:
        asyncio.run(_main())
    except (LimitTableError, CalibrationStoreError, EvidenceError, DriverError, AlreadyRunning) as exc:
        raise click.ClickException(str(exc)) from exc
    except ExceptionGroup as group:  # a task of the lane failed: say which, in plain words
        messages = "; ".join(f"{type(e).__name__}: {e}" for e in group.exceptions)
        raise click.ClickException(f"the lane stopped: {messages}") from group


@main.command()
@click.option("--vehicles", type=click.IntRange(min=1), default=None, help="Stop after N vehicles.")
@click.option("--scenario", default="default", show_default=True, help="Scenario name or TOML path.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("var/demo"),
    show_default=True,
    help="Each run gets a run-<time> folder here (evidence database, log, camera frames, port links);"
    " the last 3 are kept.",
)
@click.option("--no-broker", is_flag=True, help="Do not start Mosquitto; records stay in the outbox.")
@click.option("--no-camera", is_flag=True, help="No simulated camera and no plate reading.")
@click.option(
    "--site",
    type=click.Choice(["lane", "weighbridge"]),
    default="lane",
    show_default=True,
    help="lane: a toll-entrance WIM lane; weighbridge: a source enterprise's static weighbridge.",
)
@click.option(
    "--platforms",
    default="6,6,6",
    show_default=True,
    help="Platform lengths in metres: 6,6,6 is a full-length scale (整车式), 3.6,3.6 an axle-group scale (轴组式).",
)
def demo(
    vehicles: int | None,
    scenario: str,
    workdir: Path,
    no_broker: bool,
    no_camera: bool,
    site: str,
    platforms: str,
) -> None:
    """Run a complete simulated toll-entrance lane with a live table of verdicts."""
    from rich.console import Console

    from edge.demo import new_run_folder, run_demo

    try:
        lengths = tuple(float(part) for part in platforms.split(","))
    except ValueError:
        raise click.BadParameter(
            "give platform lengths in metres separated by commas, e.g. 3.6,3.6"
        ) from None
    run_dir = new_run_folder(workdir)
    _logging(False, run_dir / "demo.log")
    console = Console()
    if site == "weighbridge":
        from edge.demo import run_weighbridge_demo

        sys.exit(asyncio.run(run_weighbridge_demo(run_dir, not no_broker, console)))
    sys.exit(
        asyncio.run(
            run_demo(vehicles, scenario, run_dir, not no_broker, console, lengths, camera=not no_camera)
        )
    )


@main.group()
def config() -> None:
    """Check configuration files."""


@config.command("check")
@click.argument("path", type=click.Path(path_type=Path))
def config_check(path: Path) -> None:
    """Validate a lane TOML file; errors name the line and key."""
    from edge.rules import LimitTable, LimitTableError

    try:
        config = load_config(path)
        LimitTable.load(config.rules.limits_table or None)
    except (ConfigError, LimitTableError) as exc:
        raise click.ClickException(str(exc)) from exc
    folder = Path(config.evidence.database).resolve().parent
    if folder.exists() and not os.access(folder, os.W_OK):
        raise click.ClickException(f"{folder}: the evidence folder is not writable by this user")
    click.echo(f"{path}: OK")


@config.command("schema")
def config_schema() -> None:
    """Print the JSON schema of the configuration (every key with its description)."""
    click.echo(json.dumps(Config.model_json_schema(), indent=2, ensure_ascii=False))


def _register_subcommands() -> None:
    from edge.cli_calibrate import calibrate
    from edge.cli_central import central
    from edge.cli_evidence import evidence
    from edge.cli_ops import console, doctor, status, tail
    from edge.cli_plate import plate
    from edge.cli_rules import rules
    from edge.cli_wim import wim

    main.add_command(calibrate)
    main.add_command(central)
    main.add_command(evidence)
    main.add_command(doctor)
    main.add_command(status)
    main.add_command(tail)
    main.add_command(plate)
    main.add_command(rules)
    main.add_command(wim)
    main.add_command(console)


_register_subcommands()

if __name__ == "__main__":
    main()
