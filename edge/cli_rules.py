"""``edge rules explain RECORD_ID``: why a stored record's verdict was reached, in Chinese and English.

``edge rules explain --vehicle 7000,12000,12000 --spacings 4.2,1.35 [--air-suspension]`` is the what-if:
the station's rules (the gross row and its variants, each axle group's GB 1589 row, the sum rule) applied
to a vehicle given on the command line.

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


def _numbers(text: str | None, name: str) -> tuple[float, ...]:
    if not text:
        return ()
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r}: give numbers separated by commas", param_hint=name) from None


def _what_if(
    config_path: Path | None,
    loads: tuple[float, ...],
    spacings: tuple[float, ...],
    tyres: str | None,
    plate: str | None,
    air_suspension: bool | None = None,
    articulated: bool | None = None,
) -> list[str]:
    """The explanation of a vehicle described on the command line, judged by the station's rules (and its
    applied permits) under --config, else by the defaults."""
    from datetime import UTC, datetime

    from edge import __version__
    from edge.config import ConfigError, RulesConfig, load_config
    from edge.downlink import DownlinkStore
    from edge.evidence.explain import explain as explain_record
    from edge.evidence.record import (
        EvidenceRecord,
        RecordAxleGroup,
        RecordLimit,
        RecordPermit,
        RecordWim,
        Software,
    )
    from edge.judge import axle_refusal
    from edge.rules import LimitTable, LimitTableError, Tyre, VehicleFacts, classify, decide
    from edge.rules.axles import assess
    from edge.rules.permits import apply_permit, check_permit

    if len(spacings) != len(loads) - 1:
        raise click.UsageError(f"{len(loads)} axle loads need {len(loads) - 1} spacings (--spacings)")
    rules_config, site_id, permits = RulesConfig(), "what-if", ()
    if config_path is not None:
        try:
            config = load_config(config_path)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
        rules_config, site_id = config.rules, config.site.id
        if Path(config.evidence.database).is_file():
            applied = DownlinkStore(config.evidence.database).load().get("permits")
            permits = () if applied is None else tuple(applied.document.permits)
    try:
        table = LimitTable.load(rules_config.limits_table or None)
        vclass = classify(
            spacings,
            group_max_spacing_m=rules_config.group_max_spacing_m,
            steer_group_max_spacing_m=rules_config.steer_group_max_spacing_m,
        )
        tyre_list = [Tyre(t) for t in tyres.split(",")] if tyres else [Tyre.DUAL] * vclass.axle_count
        facts = VehicleFacts(
            air_suspension=rules_config.assume_air_suspension if air_suspension is None else air_suspension,
            articulated=rules_config.assume_articulated if articulated is None else articulated,
            source="what-if" if (air_suspension, articulated) != (None, None) else "config",
        )
        assessment = assess(
            vclass,
            tyre_list,
            table,
            spacings_m=spacings,
            loads_kg=loads,
            facts=facts,
            tolerance_factor=rules_config.tolerance_factor,
        )
        limit = assessment.limit
    except (LimitTableError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
    gross = sum(loads)
    decision = decide(gross, limit, tolerance_factor=rules_config.tolerance_factor)
    decision = axle_refusal(decision, assessment)
    finding = check_permit(
        permits,
        plate,
        when=datetime.now(UTC),
        site_id=site_id,
        axle_count=vclass.axle_count,
        gross_kg=gross,
        axle_loads_kg=loads,
        tolerance_factor=rules_config.tolerance_factor,
    )
    decision = apply_permit(decision, finding)
    record = EvidenceRecord(
        id="what-if",
        site_id=site_id,
        lane=0,
        vehicle_number=0,
        time_utc=None,
        plate=plate,
        axle_count=vclass.axle_count,
        tyres=[t.value for t in tyre_list],
        vehicle_class=vclass.code,
        body=vclass.body.value,
        axle_groups=list(vclass.groups),
        wim=RecordWim(axle_loads_kg=list(loads), axle_spacings_m=list(spacings), gross_kg=gross),
        limit=RecordLimit(
            limit_kg=limit.limit_kg,
            base_limit_kg=limit.base_limit_kg,
            rule_id=limit.rule_id,
            rule_text=limit.rule_text,
            source=limit.source,
            deductions=list(limit.deductions),
            notes=list(limit.notes),
            tolerance_factor=decision.tolerance_factor,
            threshold_kg=round(decision.threshold_kg, 1),
            row_source=limit.row_source or None,
            axle_sum_kg=limit.axle_sum_kg,
            axle_sum_applied=limit.axle_sum_applied if limit.axle_sum_kg is not None else None,
        ),
        axle_limits=[RecordAxleGroup(**g.as_record()) for g in assessment.groups] or None,
        vehicle_facts=facts.as_record(),
        verdict=decision.verdict,
        reasons=list(decision.reasons),
        software=Software(version=__version__),
        permit=None if finding is None else RecordPermit(**finding.as_record(), applied_to_verdict=True),
    )
    lines = explain_record(record)
    return [
        "假设 What-if: 非记录 not a record; 由命令行给出的车辆 a vehicle given on the command line",
        *lines[1:],
    ]


@rules.command()
@click.argument("record_id", required=False)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The lane's TOML (its evidence database; for --vehicle its rules and applied permits).",
)
@click.option(
    "--database", type=click.Path(dir_okay=False, path_type=Path), default=None, help="An evidence database."
)
@click.option("--vehicle", default=None, help="What-if: axle loads in kg, front to rear (7000,12000,12000).")
@click.option("--spacings", default=None, help="What-if: axle spacings in m (4.2,1.35).")
@click.option(
    "--tyres", default=None, help="What-if: single or dual per axle (single,dual,dual); default dual."
)
@click.option("--plate", default=None, help="What-if: the plate (its permit applies).")
@click.option(
    "--air-suspension/--no-air-suspension",
    default=None,
    help="What-if: the drive axle has air suspension (default: the config's assume_air_suspension).",
)
@click.option(
    "--articulated/--not-articulated",
    default=None,
    help="What-if: tractor + semi-trailer (default: the config's assume_articulated).",
)
@click.option("--json", "as_json", is_flag=True, help="The explanation's lines as JSON.")
def explain(
    record_id: str | None,
    config_path: Path | None,
    database: Path | None,
    vehicle: str | None,
    spacings: str | None,
    tyres: str | None,
    plate: str | None,
    air_suspension: bool | None,
    articulated: bool | None,
    as_json: bool,
) -> None:
    """Say why record RECORD_ID got its verdict (limit row and source, tolerance, measurement, permit and
    watch-list facts), or, with --vehicle, what a vehicle would get."""
    if vehicle is not None:
        if record_id is not None:
            raise click.UsageError("give either RECORD_ID or --vehicle, not both")
        lines = _what_if(
            config_path,
            _numbers(vehicle, "--vehicle"),
            _numbers(spacings, "--spacings"),
            tyres,
            plate,
            air_suspension,
            articulated,
        )
        _print(None, lines, as_json)
        return
    if record_id is None:
        raise click.UsageError("give RECORD_ID, or --vehicle for a what-if")
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
    _print(record_id, explain_record(EvidenceRecord.from_json_dict(data)), as_json)


def _print(record_id: str | None, lines: list[str], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"record_id": record_id, "lines": lines}, ensure_ascii=False, indent=2))
    else:
        click.echo("\n".join(lines))
