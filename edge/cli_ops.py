"""Field operations on the station itself: ``edge doctor``, ``edge status``, ``edge tail``."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

import click

from edge.config import ConfigError, load_config

__all__ = ["console", "doctor", "status", "tail"]


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


def _config(config_path: Path) -> Any:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _age(utc: str | None) -> str:
    if not utc:
        return "-"
    try:
        then = time.mktime(time.strptime(utc[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except ValueError:
        return utc
    seconds = max(0.0, time.time() - then)
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def _record_line(row: dict[str, Any]) -> str:
    gross = "-" if row.get("gross_kg") is None else f"{row['gross_kg']:.0f} kg"
    limit = "-" if row.get("limit_kg") is None else f"{row['limit_kg']} kg"
    return (
        f"#{row['seq']:<6} {row['time_utc'] or '-':<24} {row.get('plate') or '(no plate)':<10} "
        f"{row['axle_count'] or '-'} axles  {gross:>9} / {limit:<9} {row['verdict']}"
    )


def local_status(config: Any, vehicles: int = 5) -> dict[str, Any]:
    """What ``edge status`` shows: the daemon's status file and the evidence database (read-only)."""
    from edge.evidence.store import EvidenceError, outbox_backlog, recent_records
    from edge.health import STATUS_EVERY_S, status_candidates
    from edge.lock import database_held

    document: dict[str, Any] | None = None
    for path in status_candidates(config.evidence.database):
        try:
            candidate = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if document is None or float(candidate.get("written_unix", 0)) > float(
            document.get("written_unix", 0)
        ):
            document = candidate
    # The database lock says whether a daemon runs, whatever the status file (a full disk may keep it old).
    locked = database_held(config.evidence.database)
    if document is None:
        daemon: dict[str, Any] = {
            "running": locked,
            "why": "no status file yet"
            if locked
            else "no status file: the daemon has not run with this config",
        }
    else:
        age = time.time() - float(document.get("written_unix", 0))
        fresh = document.get("state") == "running" and age < 3 * STATUS_EVERY_S
        running = locked or fresh
        why = ""
        if not running:
            why = f"last status {age:.0f} s ago, state {document.get('state')}"
        elif not fresh:
            why = f"the daemon holds the database but its status is {age:.0f} s old: is the disk full?"
        daemon = {"running": running, "pid": document.get("pid"), "status_age_s": round(age, 1), "why": why}
    out: dict[str, Any] = {"daemon": daemon, "status": document}
    try:
        out["outbox"] = outbox_backlog(config.evidence.database)
        out["last_vehicles"] = recent_records(config.evidence.database, limit=vehicles)
    except EvidenceError as exc:
        out["evidence_error"] = str(exc)
    return out


def _alarms(summary: dict[str, Any]) -> list[str]:
    alarms = []
    if summary.get("records_waiting_for_disk"):
        alarms.append(f"disk full: {summary['records_waiting_for_disk']} records wait in the spool")
    if summary.get("drift_alarm"):
        alarms.append("WIM drift alarm")
    if summary.get("zero_alarm"):
        alarms.append("zero tracking alarm")
    if summary.get("evidence_budget_alarm"):
        alarms.append("evidence budget alarm")
    if (summary.get("calibration") or {}).get("overdue"):
        alarms.append("calibration overdue")
    if summary.get("clock_synchronised") is False:
        alarms.append("clock not synchronised")
    if summary.get("evidence_write_errors"):
        alarms.append(f"{summary['evidence_write_errors']} evidence write errors")
    return alarms


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option(
    "-n", "vehicles", type=click.IntRange(0, 100), default=5, show_default=True, help="Last vehicles shown."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
def status(config_path: Path, vehicles: int, as_json: bool) -> None:
    """The station at a glance, from this machine alone (no broker needed): daemon, devices, lane,
    outbox, alarms, last vehicles.  Exit 0 when the daemon is running."""
    config = _config(config_path)
    info = local_status(config, vehicles)
    daemon = info["daemon"]
    if as_json:
        click.echo(json.dumps(info, default=str, ensure_ascii=False))
        raise SystemExit(0 if daemon["running"] else 1)
    site = f"site {config.site.id} lane {config.site.lane}"
    if daemon["running"] and "status_age_s" in daemon:
        click.echo(f"{site}: daemon running (PID {daemon['pid']}, status {daemon['status_age_s']:.0f} s old)")
        if daemon["why"]:
            click.echo(f"  warning         {daemon['why']}")
    elif daemon["running"]:
        click.echo(f"{site}: daemon running ({daemon['why']})")
    else:
        click.echo(f"{site}: daemon NOT running ({daemon['why']})")
    document = info["status"] or {}
    summary, health = document.get("summary") or {}, document.get("health") or {}
    for name, device in (health.get("devices") or {}).items():
        bad = device.get("frames_bad")
        click.echo(
            f"  device {name:<12} {device.get('state', '?'):<8} {device.get('port') or device.get('source') or ''}"
            + (f"  bad frames {bad}" if bad else "")
            + (f"  ({device['last_error']})" if device.get("last_error") else "")
        )
    lane = health.get("lane") or {}
    if lane:
        on_lane = lane.get("open_session")
        click.echo(
            f"  lane            {f'vehicle {on_lane} crossing' if on_lane else 'idle'},"
            f" {lane.get('vehicles_on_scale', 0)} on the scale; vehicles {summary.get('vehicles', '-')}"
        )
    outbox = info.get("outbox")
    if outbox is not None:
        click.echo(
            f"  outbox          {outbox['unsent']} unsent"
            + (f", oldest queued {_age(outbox['oldest_unsent_queued_utc'])} ago" if outbox["unsent"] else "")
            + (f"; uplink {(health.get('uplink') or {}).get('state', '?')}" if health else "")
        )
    if "evidence_error" in info:
        click.echo(f"  evidence        {info['evidence_error']}")
    alarms = _alarms(summary)
    click.echo("  alarms          " + ("; ".join(alarms) if alarms else "none"))
    if info.get("last_vehicles"):
        click.echo("  last vehicles:")
        for row in info["last_vehicles"]:
            click.echo("    " + _record_line(row))
    raise SystemExit(0 if daemon["running"] else 1)


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option(
    "-n",
    "backlog",
    type=click.IntRange(0, 1000),
    default=10,
    show_default=True,
    help="Earlier records shown first.",
)
@click.option("--json", "as_json", is_flag=True, help="Each record's columns as one JSON line.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Exit after N new records.")
@click.option(
    "--interval", type=click.FloatRange(0.05, 60), default=0.5, show_default=True, help="Poll interval (s)."
)
def tail(config_path: Path, backlog: int, as_json: bool, count: int | None, interval: float) -> None:
    """Follow records as the daemon stores them (read-only; Ctrl-C ends)."""
    from edge.evidence.store import EvidenceError, recent_records

    config = _config(config_path)
    database = config.evidence.database

    def show(rows: list[dict[str, Any]]) -> None:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False) if as_json else _record_line(row))

    last: int | None = None
    while last is None:
        try:
            rows = recent_records(database, limit=max(backlog, 1))
        except EvidenceError as exc:
            click.echo(f"waiting for the evidence database: {exc}", err=True)
            time.sleep(max(interval, 2.0))
            continue
        last = rows[-1]["seq"] if rows else 0
        show(rows[-backlog:] if backlog else [])
    seen = 0
    try:
        while count is None or seen < count:
            rows = recent_records(database, after_seq=last, limit=100)
            if count is not None:
                rows = rows[: count - seen]
            show(rows)
            if rows:
                last = rows[-1]["seq"]
                seen += len(rows)
            else:
                time.sleep(interval)
    except KeyboardInterrupt:
        pass


@click.group()
def console() -> None:
    """The technician's web console (docs/console.md)."""


@console.command("hash-password")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from the first line of stdin (scripts)."
)
def console_hash_password(password_stdin: bool) -> None:
    """Print a console.password_hash line (scrypt) for the lane's TOML file."""
    from edge.console.auth import hash_password

    password: str
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Console password", hide_input=True, confirmation_prompt=True)
    if len(password) < 8:
        raise click.ClickException("use at least 8 characters for the console password")
    click.echo(f'password_hash = "{hash_password(password)}"')
