"""``edge central query``: ask a station what it holds, as the central office does (MQTT 5 request/response).

Prints the response envelope as JSON; with ``--out DIR`` also writes the files that came with it (images,
raw captures) under DIR, each already checked against its sha256.  Exit status 0 for an answer, 1 for an
error response, 2 when no answer came in time.  Registered in edge/cli.py with
``main.add_command(central)``; docs/central-queries.md describes the protocol.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from edge.rules import Verdict

__all__ = ["central"]


@click.group()
def central() -> None:
    """Talk to stations as the central office does."""


@central.group()
@click.option("--host", default="127.0.0.1", show_default=True, help="Broker host.")
@click.option("--port", type=int, default=1883, show_default=True, help="Broker port.")
@click.option("--site", "site_id", required=True, help="Station (site) id.")
@click.option("--lane", type=click.IntRange(1, 99), default=1, show_default=True, help="Lane number.")
@click.option("--topic-prefix", default="site", show_default=True, help="Topic root (mqtt.topic_prefix).")
@click.option("--response-topic", default=None, help="Default: <prefix>/<site>/response/<client id>.")
@click.option("--username", default=None, help="Broker user name.")
@click.option(
    "--password",
    envvar="EDGE_CENTRAL_PASSWORD",
    default=None,
    help="Broker password (or $EDGE_CENTRAL_PASSWORD).",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="CA certificate: turns TLS on.",
)
@click.option(
    "--cert-file", type=click.Path(exists=True, dir_okay=False), default=None, help="Client certificate."
)
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False), default=None, help="Client key.")
@click.option(
    "--key-password",
    envvar="EDGE_CENTRAL_KEY_PASSWORD",
    default=None,
    help="Key password (or $EDGE_CENTRAL_KEY_PASSWORD).",
)
@click.option(
    "--token",
    envvar="EDGE_CENTRAL_TOKEN",
    default=None,
    help="The station's query.token (or $EDGE_CENTRAL_TOKEN).",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds to wait for the answer.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write received files here.",
)
@click.pass_context
def query(ctx: click.Context, /, **options: Any) -> None:
    """Send one request to a station and print its answer."""
    ctx.obj = options


def _run(ctx: click.Context, request: dict[str, Any] | bytes) -> None:
    from edge.query.client import Broker, QueryProtocolError, QueryTimeout, ask

    o = ctx.obj
    broker = Broker(
        host=o["host"],
        port=o["port"],
        username=o["username"],
        password=o["password"],
        ca_file=o["ca_file"],
        cert_file=o["cert_file"],
        key_file=o["key_file"],
        key_password=o["key_password"],
    )
    if isinstance(request, dict) and o["token"]:
        request = {**request, "token": o["token"]}
    import aiomqtt

    try:
        answer = asyncio.run(
            ask(
                broker,
                request,
                site_id=o["site_id"],
                lane=o["lane"],
                topic_prefix=o["topic_prefix"],
                response_topic=o["response_topic"],
                timeout_s=o["timeout_s"],
            )
        )
    except QueryTimeout as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except (aiomqtt.MqttError, QueryProtocolError) as exc:
        raise click.ClickException(f"{type(exc).__name__}: {exc}") from exc
    output = dict(answer.envelope)
    output["messages"] = answer.messages
    if answer.files and o["out_dir"] is not None:
        out: Path = o["out_dir"]
        written = []
        for name, data in answer.files.items():
            target = out / name  # names are checked by the reassembly: attachments/<n> or capture/<n>
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(str(target))
        output["written"] = written
    click.echo(json.dumps(output, ensure_ascii=False, indent=2))
    sys.exit(0 if answer.ok else 1)


class _AwareTime(click.ParamType[str]):  # checked here for a clear message, and again by the station
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value).replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time (2026-11-22T08:00:00+08:00)", param, ctx)
        if moment.tzinfo is None:
            self.fail(f"{value!r} has no time zone: add +08:00 or Z", param, ctx)
        return moment.isoformat()


@query.command()
@click.option(
    "--from", "from_utc", type=_AwareTime(), default=None, help="At or after this time (with zone)."
)
@click.option("--to", "to_utc", type=_AwareTime(), default=None, help="Before this time (with zone).")
@click.option("--plate", default=None, help="Exact plate.")
@click.option("--verdict", type=click.Choice([verdict.value for verdict in Verdict]), default=None)
@click.option("--after-seq", type=click.IntRange(min=0), default=0, show_default=True, help="Page cursor.")
@click.option("--page-size", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--full", is_flag=True, help="Whole records with their chain entries, not summaries.")
@click.pass_context
def records(ctx: click.Context, /, **filters: Any) -> None:
    """Records by time, plate and verdict, one page (next_after_seq continues)."""
    request = {"method": "records", **{key: value for key, value in filters.items() if value is not None}}
    _run(ctx, request)


@query.command()
@click.argument("record_id")
@click.option("--no-attachments", is_flag=True, help="The record only, without its images.")
@click.pass_context
def record(ctx: click.Context, record_id: str, no_attachments: bool) -> None:
    """One record with its chain entry and images (--out DIR writes them)."""
    _run(ctx, {"method": "record", "id": record_id, "attachments": not no_attachments})


@query.command()
@click.argument("record_id")
@click.pass_context
def capture(ctx: click.Context, record_id: str) -> None:
    """The raw capture (.wlcap) of a record's crossing (--out DIR writes it)."""
    _run(ctx, {"method": "capture", "record_id": record_id})


@query.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Device health, uplink state, newest seq and outbox backlog."""
    _run(ctx, {"method": "status"})


@query.command()
@click.pass_context
def calibrations(ctx: click.Context) -> None:
    """Calibration history, newest first, and the active one."""
    _run(ctx, {"method": "calibrations"})


@query.command()
@click.argument("payload")
@click.pass_context
def raw(ctx: click.Context, payload: str) -> None:
    """Send PAYLOAD exactly as given (testing a station's validation)."""
    _run(ctx, payload.encode("utf-8"))


@central.command()
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where to write the private key (PEM, mode 0600); keep it off the stations.",
)
@click.option("--key-id", required=True, help="The key's name, as stations will list it.")
def keygen(out_file: Path, key_id: str) -> None:
    """Make an Ed25519 key pair for signing downlink documents; prints the stations' config lines."""
    from edge.downlink.signing import generate_ed25519

    if out_file.exists():
        raise click.ClickException(f"{out_file} exists; refusing to overwrite a signing key")
    pem, public = generate_ed25519()
    out_file.touch(mode=0o600)
    out_file.write_bytes(pem)
    click.echo(f'[[downlink.trusted_keys]]\nid = "{key_id}"\nscheme = "ed25519"\npublic_key = "{public}"')


@central.command()
@click.argument("document", type=click.File("rb"))
@click.option(
    "--kind",
    type=click.Choice(["watchlist", "permits", "config", "registry"]),
    required=True,
    help="The document's kind (its topic): the signature is bound to it.",
)
@click.option(
    "--key",
    "key_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The central office's private key (PEM, from `edge central keygen`).",
)
@click.option("--key-id", required=True, help="The name the stations know the key by.")
@click.option("--scheme", type=click.Choice(["ed25519"]), default="ed25519", show_default=True)
def sign(document: Any, kind: str, key_file: Path, key_id: str, scheme: str) -> None:
    """Sign DOCUMENT (a downlink JSON file, or - for stdin) and print the envelope to publish, retained,
    on <prefix>/<site>/downlink/<kind>.  The document is validated first, as a station would."""
    from edge.downlink import DocumentError, parse_document
    from edge.downlink.signing import sign_document

    body = document.read()
    try:
        parse_document(kind, body)
    except DocumentError as exc:
        raise click.ClickException("the document would be rejected: " + "; ".join(exc.errors)) from exc
    try:
        envelope = sign_document(kind, body, key_file.read_bytes(), key_id, scheme)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(envelope.decode("utf-8"))
