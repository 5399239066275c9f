"""``edge evidence``: verify the hash chain of an evidence database, export and verify case packages,
print weighing tickets and check them (``edge evidence ticket``, docs/weighbridge_tickets.md).

Exit status 0 means verified; 1 means a problem was found (the output names the seq and what) or the
input could not be read.  docs/evidence.md describes the chain and the package layout.
Registered in edge/cli.py with ``main.add_command(evidence)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from edge.evidence.chain import EvidenceError, VerifyReport, check_entry, record_hash
from edge.evidence.package import export_package, verify_package
from edge.evidence.store import StoredRecord, read_stored_record, station_verifier, verify_database

__all__ = ["check_ticket", "evidence"]


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


# -- weighing tickets (docs/weighbridge_tickets.md) ----------------------------------------------------


def _stored_checks(
    db_path: Path, record_id: str, public_key: bytes | None
) -> tuple[StoredRecord | None, list[str], str]:
    """The stored record, what its own chain entry says is wrong with it, and where its key came from."""
    stored = read_stored_record(db_path, record_id)
    if stored is None:
        return None, [], ""
    if stored.chain is None:
        return stored, [], ""
    verifier, key_source = station_verifier(db_path, public_key)
    if verifier is None:
        raise EvidenceError(
            f"{db_path}: no public key to check the record's signature; pass the station's public key"
            " (--public-key)"
        )
    text = None if stored.evicted_utc is not None else stored.record_text.encode("utf-8")
    problems = [detail for _kind, detail in check_entry(text, stored.chain, verifier)]
    return stored, problems, key_source


def _write_ticket(
    db_path: Path,
    record_id: str,
    out: Path,
    public_key: bytes | None,
    tz: str | None,
    folders: list[Path],
    font_file: Path | None,
) -> None:
    from edge.static.ticket import TicketError, load_images, ticket_from_record, write_ticket

    stored, problems, _ = _stored_checks(db_path, record_id, public_key)
    if stored is None:
        raise click.ClickException(f"{db_path}: no record with id {record_id!r}")
    if stored.evicted_utc is not None:
        raise click.ClickException(
            f"record {record_id}: its content was evicted after upload ({stored.evicted_utc}); the central"
            " system holds it"
        )
    if problems:
        raise click.ClickException(
            f"record {record_id} fails its own chain check, no ticket printed: {'; '.join(problems)};"
            " run `edge evidence verify`"
        )
    record = json.loads(stored.record_text)
    images, missing = load_images(record, folders, record_id)
    try:
        ticket = ticket_from_record(
            record,
            None if stored.chain is None else stored.chain.as_dict(),
            record_hash=record_hash(stored.record_text.encode("utf-8")).hex(),
            images=images,
            images_missing=missing,
            tz=tz,
        )
        write_ticket(ticket, out, font_file)
    except (TicketError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {out} (ticket {ticket.number}, {len(images)} image(s))")
    for line in missing:
        click.echo(f"image missing: {line}", err=True)
    click.echo(ticket.code.text())


def check_ticket(
    db_path: Path, code_text: str, public_key: bytes | None = None, tz: str | None = None
) -> dict[str, Any]:
    """Check a ticket code against the evidence database: the record it names exists with that seq and
    site, its stored text hashes to the code's record hash, its chain hash is the code's, and its
    signature verifies.  Returns ``{"ok", "problems", "record": [[label, value], ...], ...}``; the
    record's lines are what the paper must say."""
    from edge.static.ticket import parse_ticket_code, ticket_from_record

    code = parse_ticket_code(code_text)
    result: dict[str, Any] = {"code": code.text(), "database": str(db_path), "problems": [], "notes": []}
    problems: list[str] = result["problems"]
    stored, entry_problems, key_source = _stored_checks(db_path, code.record_id, public_key)
    result["key_source"] = key_source
    if stored is None:
        problems.append(
            f"no record {code.record_id!r} in {db_path}: the ticket is not from this database, or the"
            " record was deleted"
        )
    else:
        problems += entry_problems
        if stored.seq != code.seq:
            problems.append(f"the record is seq {stored.seq}, the ticket says seq {code.seq}")
        entry = stored.chain
        evicted = stored.evicted_utc is not None
        if entry is None:
            result["notes"].append("the record was stored before chaining: it has no signature")
            digest = record_hash(stored.record_text.encode("utf-8"), code.hash_alg).hex()
            if digest != code.record_hash:
                problems.append("the stored record does not hash to the ticket's record hash")
        else:
            if entry.hash_alg != code.hash_alg or entry.record_hash != code.record_hash:
                problems.append(
                    f"record hash differs: the ticket says {code.hash_alg} {code.record_hash[:16]}...,"
                    f" the chain {entry.hash_alg} {entry.record_hash[:16]}..."
                )
            if code.chain_hash is not None and entry.chain_hash != code.chain_hash:
                problems.append(
                    f"chain hash differs: ticket {code.chain_hash[:16]}..., chain {entry.chain_hash[:16]}..."
                )
            result["key_id"] = entry.key_id
        if evicted:
            result["notes"].append(
                f"the record's content was evicted after upload ({stored.evicted_utc}): its chain entry"
                " was checked; the central system holds the text"
            )
        else:
            record = json.loads(stored.record_text)
            if str(record.get("site_id")) != code.site_id:
                problems.append(
                    f"the record is of site {record.get('site_id')!r}, the ticket says {code.site_id!r}"
                )
            chain = None if entry is None else entry.as_dict()
            ticket = ticket_from_record(record, chain, record_hash=code.record_hash, tz=tz)
            result["record"] = [list(row) for row in ticket.rows()]
    result["notes"].append(
        "this checks the one record; `edge evidence verify` checks the whole chain (that no record was"
        " deleted or replaced)"
    )
    result["ok"] = not problems
    return result


@evidence.command()
@click.argument("record_id", required=False)
@_config_option
@_database_option
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="The ticket file: NAME.pdf or NAME.html."
)
@click.option(
    "--check",
    "check",
    default=None,
    metavar="CODE_OR_FILE",
    help="Check a ticket instead: its code (the QR code's text) or its PDF or HTML file.",
)
@click.option(
    "--tz",
    default="Asia/Shanghai",
    show_default=True,
    help="Time zone of the local time printed beside UTC ('' for UTC only).",
)
@click.option(
    "--attachments",
    "attachment_dirs",
    type=click.Path(path_type=Path),
    multiple=True,
    help="Where the record's images are (default: attachments/ beside the database).",
)
@click.option(
    "--font",
    "font_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="PDF: a TrueType font with Chinese glyphs to embed (simsun.ttc); default the built-in STSong-Light.",
)
@_key_option
@_json_option
def ticket(
    record_id: str | None,
    config_path: Path | None,
    database: Path | None,
    out: Path | None,
    check: str | None,
    tz: str,
    attachment_dirs: tuple[Path, ...],
    font_file: Path | None,
    public_key: Path | None,
    as_json: bool,
) -> None:
    """Print a weighing ticket of one record (PDF or HTML), or check a ticket against the database.

    \b
    edge evidence ticket RECORD_ID --out ticket.pdf
    edge evidence ticket --check ticket.pdf        (or the QR code's text, or an .html ticket)
    """
    from edge.static.ticket import TicketError, find_ticket_code

    if (record_id is None) == (check is None):
        raise click.UsageError("give RECORD_ID with --out to print a ticket, or --check CODE_OR_FILE")
    db_path, _ = _database(config_path, database)
    key = _public_key(public_key)
    if record_id is not None:
        if out is None:
            raise click.UsageError("--out NAME.pdf or NAME.html is required to print a ticket")
        folders = list(attachment_dirs) or [db_path.parent / "attachments"]
        try:
            _write_ticket(db_path, record_id, out, key, tz or None, folders, font_file)
        except EvidenceError as exc:
            raise click.ClickException(str(exc)) from exc
        return
    assert check is not None
    source = Path(check)
    code = None
    if source.is_file():
        try:
            code = find_ticket_code(source.read_bytes())
        except OSError as exc:
            raise click.ClickException(f"cannot read {source}: {exc.strerror or exc}") from exc
        if code is None:
            raise click.ClickException(f"{source}: no ticket code found (not a weighlane ticket?)")
    else:
        code = find_ticket_code(check) or check
    try:
        result = check_ticket(db_path, code, key, tz or None)
    except (TicketError, EvidenceError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
    else:
        click.echo(f"ticket {result['code']}")
        click.echo(
            f"database {result['database']}"
            + (f", key {result['key_source']}" if result.get("key_source") else "")
        )
        if result.get("record"):
            click.echo("the record says (compare with the paper):")
            for label, value in result["record"]:
                click.echo(f"  {label}: {value}")
        for problem in result["problems"]:
            click.echo(f"PROBLEM {problem}")
        for note in result["notes"]:
            click.echo(f"note: {note}")
        click.echo(
            "OK: the ticket matches the signed record"
            if result["ok"]
            else "FAILED: the ticket does not match"
        )
    sys.exit(0 if result["ok"] else 1)
