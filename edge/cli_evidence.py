"""``edge evidence``: verify the hash chain of an evidence database, export and verify case packages.

Exit status 0 means verified; 1 means a problem was found (the output names the seq and what) or the
input could not be read.  docs/evidence.md describes the chain and the package layout.
Registered in edge/cli.py with ``main.add_command(evidence)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from edge.evidence.chain import EvidenceError, VerifyReport
from edge.evidence.package import export_package, verify_package
from edge.evidence.store import verify_database

__all__ = ["evidence"]


def _database(config_path: Path | None, database: Path | None) -> tuple[Path, Path | None]:
    """The database and the capture folder from --config or --database (at most one); with neither, the
    newest ``edge demo`` run's database under var/demo."""
    if config_path is not None and database is not None:
        raise click.UsageError("give either --config LANE_TOML or --database PATH, not both")
    if config_path is None and database is None:
        from edge.demo import DEFAULT_WORKDIR, latest_database

        database = latest_database(DEFAULT_WORKDIR)
        if database is None:
            raise click.UsageError(
                f"give --config LANE_TOML or --database PATH (no demo run under {DEFAULT_WORKDIR} either)"
            )
        click.echo(f"the newest demo run's database: {database}", err=True)
    if database is not None:
        return database, None
    from edge.config import ConfigError, load_config

    assert config_path is not None
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    capture_dir = Path(config.wim.capture_dir) if config.wim.capture_dir else None
    return Path(config.evidence.database), capture_dir


def _public_key(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as exc:
        raise click.ClickException(f"cannot read the public key {path}: {exc.strerror or exc}") from exc


def _finish(report: VerifyReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    else:
        for line in report.lines():
            click.echo(line)
    sys.exit(0 if report.ok else 1)


_config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None, help="Lane TOML file."
)
_database_option = click.option(
    "--database",
    type=click.Path(path_type=Path),
    default=None,
    help="Evidence SQLite file (default without --config: the newest `edge demo` run's, in var/demo).",
)
_key_option = click.option(
    "--public-key",
    "public_key",
    type=click.Path(path_type=Path),
    default=None,
    help="Trusted station public key (PEM); default: the .pub file beside the database (or in the package).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")


@click.group()
def evidence() -> None:
    """Tamper evidence: verify the signed hash chain, export records for a case file."""


@evidence.command()
@_config_option
@_database_option
@_key_option
@_json_option
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal)."
)
def verify(
    config_path: Path | None, database: Path | None, public_key: Path | None, as_json: bool, quiet: bool
) -> None:
    """Walk the chain of an evidence database; exit 1 on any edited, deleted or wrongly signed record."""
    from edge.progress import progress_bar

    db_path, _ = _database(config_path, database)
    try:
        with progress_bar("verifying records", None, quiet) as update:
            report = verify_database(db_path, _public_key(public_key), progress=update)
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from exc
    _finish(report, as_json)


@evidence.command("verify-package")
@click.argument("package", type=click.Path(path_type=Path))
@_key_option
@_json_option
def verify_package_command(package: Path, public_key: Path | None, as_json: bool) -> None:
    """Check an exported package (folder or ZIP) on its own; exit 1 on any problem."""
    try:
        report = verify_package(package, _public_key(public_key))
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from exc
    _finish(report, as_json)


@evidence.command()
@click.argument("record_id")
@_config_option
@_database_option
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Folder the package is written into."
)
@click.option("--zip", "as_zip", is_flag=True, help="Write <record id>.zip instead of a folder.")
@click.option(
    "--capture-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where raw captures are (default with --config: its [wim] capture_dir).",
)
@_key_option
def export(
    record_id: str,
    config_path: Path | None,
    database: Path | None,
    out: Path,
    as_zip: bool,
    capture_dir: Path | None,
    public_key: Path | None,
) -> None:
    """Write a self-contained package of one record for a case file, then verify it."""
    db_path, configured_captures = _database(config_path, database)
    try:
        result = export_package(
            db_path,
            record_id,
            out,
            capture_dir=capture_dir or configured_captures,
            public_key_pem=_public_key(public_key),
            as_zip=as_zip,
        )
    except (EvidenceError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {result.path}")
    for line in result.report.lines():
        click.echo(line)
    sys.exit(0 if result.report.ok else 1)
