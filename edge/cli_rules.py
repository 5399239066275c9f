"""``edge rules explain RECORD_ID``: why a stored record's verdict was reached, in Chinese and English.

Reads the record (read-only) from the evidence database given by --config or --database (the newest
demo run's by default) and prints :func:`edge.evidence.explain.explain`, or the facts as JSON.  Exit
status 1 when there is no such record.  Registered in edge/cli.py with ``main.add_command(rules)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

__all__ = ["rules"]


@click.group()
def rules() -> None:
    """The legal limits and the verdicts they give."""


@rules.command()
@click.argument("record_id")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The lane's TOML (its evidence database).",
)
@click.option(
    "--database", type=click.Path(dir_okay=False, path_type=Path), default=None, help="An evidence database."
)
@click.option("--json", "as_json", is_flag=True, help="The explanation's lines as JSON.")
def explain(record_id: str, config_path: Path | None, database: Path | None, as_json: bool) -> None:
    """Say why record RECORD_ID got its verdict: limit row and source, tolerance, measurement, permit and
    watch-list facts."""
    from edge.cli_evidence import _database
    from edge.evidence.chain import EvidenceError
    from edge.evidence.explain import explain as explain_record
    from edge.evidence.record import EvidenceRecord
    from edge.evidence.store import read_stored_record

    path, _ = _database(config_path, database)
    try:
        stored = read_stored_record(path, record_id)
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from exc
    if stored is None:
        click.echo(f"Error: no record {record_id} in {path}", err=True)
        sys.exit(1)
    if stored.evicted_utc is not None:
        click.echo(
            f"Error: record {record_id} was evicted at {stored.evicted_utc} (uploaded first)", err=True
        )
        sys.exit(1)
    data = json.loads(stored.record_text)
    data.setdefault("seq", stored.seq)
    lines = explain_record(EvidenceRecord.from_json_dict(data))
    if as_json:
        click.echo(json.dumps({"record_id": record_id, "lines": lines}, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(lines))
