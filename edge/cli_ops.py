"""Field operations on the station itself: ``edge doctor``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click

from edge.config import ConfigError, load_config

__all__ = ["doctor"]


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(0.5, 60),
    default=3.0,
    show_default=True,
    help="Seconds to listen on each port and camera.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def doctor(config_path: Path, wait_s: float, as_json: bool) -> None:
    """Check everything the station depends on; exit 0 only when every check passes.

    Stop the daemon first (systemctl stop weighlane-edge@<lane>): the doctor opens the ports itself."""
    from edge.doctor import run_checks

    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    checks = asyncio.run(run_checks(config, wait_s))
    ok = all(check.ok for check in checks)
    if as_json:
        click.echo(
            json.dumps({"ok": ok, "checks": [c.as_dict() for c in checks]}, default=str, ensure_ascii=False)
        )
    else:
        for check in checks:
            click.echo(check.line())
        failed = sum(not c.ok for c in checks)
        click.echo("all checks pass" if ok else f"{failed} of {len(checks)} checks fail")
    raise SystemExit(0 if ok else 1)
