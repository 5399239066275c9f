"""``edge calibrate``: the static calibration wizard for field technicians, and the calibration history.

Registered in edge/cli.py with ``main.add_command(calibrate)``.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from edge.calibration.static import (
    CORNER_NAMES,
    CalibrationError,
    DigitiserCountSource,
    calibrate_static,
)
from edge.calibration.store import (
    Calibration,
    CalibrationStoreError,
    activate_calibration,
    active_calibration,
    calibration_history,
    is_overdue,
    save_calibration,
)
from edge.config import Config, ConfigError, load_config

__all__ = ["ClickPrompter", "calibrate"]

T = TypeVar("T")


def _succeed(future: asyncio.Future[T], value: T) -> None:
    if not future.done():
        future.set_result(value)


def _fail(future: asyncio.Future[T], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


async def _in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run a blocking prompt off the event loop, so the digitiser keeps being read meanwhile.

    A daemon thread rather than the default executor: after Ctrl-C, asyncio.run would otherwise wait for
    the thread blocked in input() until the technician presses Enter.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def run() -> None:
        try:
            value = fn()
        except BaseException as exc:  # handed to the awaiting task (click.Abort at the end of input)
            loop.call_soon_threadsafe(_fail, future, exc)
        else:
            loop.call_soon_threadsafe(_succeed, future, value)

    threading.Thread(target=run, name="prompt", daemon=True).start()
    return await future


class ClickPrompter:
    """The wizard's :class:`~edge.calibration.static.Prompter` on a terminal."""

    async def step(self, instruction: str) -> None:
        click.echo("")
        click.secho(instruction, bold=True)
        await _in_daemon_thread(
            lambda: click.prompt(
                "  完成后按回车 / press Enter when done", default="", show_default=False, prompt_suffix=" "
            )
        )

    async def ask_float(self, question: str) -> float:
        value: float = await _in_daemon_thread(lambda: click.prompt(question, type=float))
        return value

    def show(self, message: str) -> None:
        click.echo(f"  {message}")


def _load(config_path: Path) -> Config:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def _database(config: Config) -> Path:
    return Path(config.evidence.database)


def results_text(cal: Calibration) -> str:
    """The calibration as a technician reads it: who, when, spans and the check weighings."""
    lines = [
        f"calibration   {cal.calibration_id}  ({cal.method} method)",
        f"created       {cal.created_utc}   valid until {cal.valid_until_utc}"
        + ("  OVERDUE / 已过期" if is_overdue(cal) else ""),
        f"technician    {cal.technician}",
        f"reference     {cal.reference}",
    ]
    if cal.notes:
        lines.append(f"notes         {cal.notes}")
    lines += [
        "",
        f"{'platform':>8} {'weight kg':>10} {'span x nom':>10} {'check kg':>10} {'error kg':>9}"
        f" {'error %':>8} {'corner rms kg':>13}  result",
    ]
    for check in cal.checks:
        residual = "-" if check.corner_residual_kg is None else f"{check.corner_residual_kg:.1f}"
        lines.append(
            f"{check.platform + 1:>8} {check.test_weight_kg:>10.1f} {check.span_factor:>10.5f}"
            f" {check.check_measured_kg:>10.1f} {check.check_error_kg:>+9.1f} {check.check_error_pct:>+8.3f}"
            f" {residual:>13}  {'OK' if check.passed else 'FAILED / 超差'}"
        )
    lines += [
        "",
        f"{'channel':>7} {'platform':>8} {'cell':<12} {'zero counts':>12} {'kg/count':>11} {'x nominal':>9}",
    ]
    for channel, (zero, span) in enumerate(zip(cal.zero_counts, cal.kg_per_count, strict=True)):
        nominal = cal.nominal_kg_per_count[channel] if cal.nominal_kg_per_count else float("nan")
        lines.append(
            f"{channel:>7} {channel // 4 + 1:>8} {CORNER_NAMES[channel % 4]:<12} {zero:>12.1f}"
            f" {span:>11.7f} {span / nominal:>9.5f}"
        )
    return "\n".join(lines)


@click.group()
def calibrate() -> None:
    """Calibrate the scale with certified test weights, and list calibrations."""


@calibrate.command("static")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option("--technician", required=True, prompt="技术员 / Technician", help="Who calibrates (name).")
@click.option(
    "--reference",
    required=True,
    prompt="砝码检定证书号 / Test-weight certificate",
    help="Certificate number or id of the test weights.",
)
@click.option(
    "--per-cell", is_flag=True, help="Also calibrate each cell with corner tests (7 readings per platform)."
)
@click.option("--yes", is_flag=True, help="Activate without asking when every check weighing passed.")
@click.option(
    "--settle-s",
    type=click.FloatRange(min=0),
    default=2.0,
    show_default=True,
    help="Wait before a reading (s).",
)
@click.option(
    "--average-s",
    type=click.FloatRange(min=0.05),
    default=3.0,
    show_default=True,
    help="Averaging time of a reading (s).",
)
@click.option(
    "--max-noise-kg",
    type=click.FloatRange(min=0, min_open=True),
    default=25.0,
    show_default=True,
    help="Refuse readings whose samples scatter more than this (standard deviation per cell, kg).",
)
@click.option(
    "--max-span-deviation",
    type=click.FloatRange(min=0.01, max=0.5),
    default=0.10,
    show_default=True,
    help="Refuse spans further than this fraction from the configured kg_per_count.",
)
@click.option(
    "--valid-days",
    type=click.IntRange(1, 3650),
    default=365,
    show_default=True,
    help="Days until the calibration is due.",
)
@click.option("--notes", default="", help="Free text stored with the calibration.")
def static_command(
    config_path: Path,
    technician: str,
    reference: str,
    per_cell: bool,
    yes: bool,
    settle_s: float,
    average_s: float,
    max_noise_kg: float,
    max_span_deviation: float,
    valid_days: int,
    notes: str,
) -> None:
    """Guided zero and span of every platform with a certified test weight (静态标定).

    Stop the lane service first: the wizard opens the digitiser's port itself.
    """
    config = _load(config_path)
    scale = config.scale

    async def wizard() -> Calibration:
        async with DigitiserCountSource.from_config(config) as source:
            return await calibrate_static(
                source,
                ClickPrompter(),
                n_platforms=len(scale.platform_lengths_m),
                cells_per_platform=scale.cells_per_platform,
                nominal_kg_per_count=scale.kg_per_count,
                technician=technician,
                reference=reference,
                per_cell=per_cell,
                settle_s=settle_s,
                average_s=average_s,
                max_noise_kg=max_noise_kg,
                max_span_deviation=max_span_deviation,
                valid_days=valid_days,
                notes=notes,
            )

    try:
        cal = asyncio.run(wizard())
    except CalibrationError as exc:
        raise click.ClickException(
            f"{exc}\n标定未完成，未保存 / Calibration not completed; nothing saved."
        ) from exc
    click.echo("")
    click.echo(results_text(cal))
    click.echo("")
    if yes:
        activate = cal.all_checks_passed
    else:
        if not cal.all_checks_passed:
            click.secho(
                "A check weighing is outside the limit: activating is not recommended; look for binding"
                " (something touching a platform) and calibrate again.",
                fg="yellow",
            )
        activate = click.confirm("启用此标定？/ Activate this calibration?", default=cal.all_checks_passed)
    try:
        save_calibration(_database(config), cal, activate=activate)
    except CalibrationStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if activate:
        click.echo(
            f"saved and activated {cal.calibration_id} in {_database(config)}; restart the lane service so"
            " that it weighs with it"
        )
    else:
        click.echo(
            f"saved {cal.calibration_id} in {_database(config)} (not active; `edge calibrate activate` makes"
            " it active)"
        )
        if yes:
            raise click.ClickException("a check weighing failed, so --yes did not activate the calibration")


def _summary(cal: Calibration, active: bool) -> dict[str, object]:
    return {
        **cal.to_dict(),
        "active": active,
        "overdue": is_overdue(cal),
    }


@calibrate.command("history")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (newest first) instead of a table.")
def history_command(config_path: Path, as_json: bool) -> None:
    """List every stored calibration, newest first; * marks the active one."""
    database = _database(_load(config_path))
    try:
        history = calibration_history(database)
        active = active_calibration(database)
    except CalibrationStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    active_id = active.calibration_id if active is not None else None
    if as_json:
        click.echo(
            json.dumps(
                [_summary(c, c.calibration_id == active_id) for c in history], ensure_ascii=False, indent=2
            )
        )
        return
    if not history:
        click.echo(f"no calibrations in {database}; run `edge calibrate static --config ...`")
        return
    click.echo(
        f"  {'id':<20} {'created':<21} {'method':<8} {'technician':<14} {'reference':<18} {'valid until':<21} checks"
    )
    for cal in history:
        mark = "*" if cal.calibration_id == active_id else " "
        due = " OVERDUE" if is_overdue(cal) else ""
        click.echo(
            f"{mark} {cal.calibration_id:<20} {cal.created_utc:<21} {cal.method:<8} {cal.technician:<14}"
            f" {cal.reference:<18} {cal.valid_until_utc:<21} {'OK' if cal.all_checks_passed else 'FAILED'}{due}"
        )


@calibrate.command("show")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (null when none is active).")
def show_command(config_path: Path, as_json: bool) -> None:
    """Show the active calibration."""
    config = _load(config_path)
    database = _database(config)
    try:
        cal = active_calibration(database)
    except CalibrationStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(None if cal is None else _summary(cal, True), ensure_ascii=False, indent=2))
        return
    if cal is None:
        click.echo(
            f"no active calibration in {database}: the lane weighs with the configured scale.kg_per_count;"
            " run `edge calibrate static --config ...`"
        )
        return
    click.echo(results_text(cal))
    if cal.n_channels != config.scale.n_channels:
        click.secho(
            f"warning: this calibration has {cal.n_channels} cells but the configured scale has"
            f" {config.scale.n_channels}; calibrate again",
            fg="yellow",
        )


@calibrate.command("activate")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), required=True, help="Lane TOML file."
)
@click.argument("calibration_id")
def activate_command(config_path: Path, calibration_id: str) -> None:
    """Make a stored calibration the active one (e.g. go back to the previous one)."""
    database = _database(_load(config_path))
    try:
        activate_calibration(database, calibration_id)
    except CalibrationStoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{calibration_id} is now the active calibration; restart the lane service to use it")


@calibrate.command("dynamic")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    required=True,
    help="Lane TOML (its speed bands).",
)
@click.option(
    "--reference-gross",
    "reference_gross_kg",
    type=click.FloatRange(min=1000),
    required=True,
    help="Static gross of the reference vehicle (kg), from a verified static scale.",
)
@click.option(
    "--reference-axles",
    "reference_axles",
    default="",
    metavar="KG,KG,...",
    help="Static axle loads of the reference vehicle (kg, front first, comma-separated; they must sum to"
    " the reference gross within 1 %): the site's scatter is then also fitted per axle"
    " (site_axle_sd_fraction).",
)
@click.option(
    "--vehicle-class", default="default", show_default=True, help="Factors for this class code only."
)
@click.option("--json", "as_json", is_flag=True, help="Print the fit as JSON.")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bar (there is none unless stderr is a terminal)."
)
@click.argument("captures", nargs=-1, required=True, type=click.Path(path_type=Path))
def dynamic_command(
    config_path: Path,
    reference_gross_kg: float,
    reference_axles: str,
    vehicle_class: str,
    as_json: bool,
    quiet: bool,
    captures: tuple[Path, ...],
) -> None:
    """Speed-band correction factors from raw captures of reference-vehicle runs.

    Turn capture on ([wim] capture_dir), drive the reference vehicle over the lane many times at low and
    higher speeds, then pass its captures here.  Each is replayed without corrections; the factor of a
    speed band is the median of reference / measured in that band.  The same runs give the site's own
    scatter per band (site_sd_fraction): how far their corrected errors spread beyond the uncertainty each
    crossing stated, which the lane then adds to every load's (with several reference vehicles, run this
    for each and keep each band's largest).  With --reference-axles the axle loads give the share moved
    between the axles (site_axle_sd_fraction), which widens axles and groups, not the gross.  Paste the
    printed lines into the lane config and restart the lane.
    """
    from edge.judge import judge
    from edge.progress import progress_bar
    from edge.rules import LimitTable, Verdict
    from edge.wim.capture import CaptureError, read_capture
    from edge.wim.corrections import ReferenceRun, fit_speed_band_factors

    axles_kg = _reference_axles(reference_axles, reference_gross_kg)
    config = _load(config_path)
    limits = LimitTable.load(config.rules.limits_table or None)
    runs: list[ReferenceRun] = []
    skipped: list[str] = []
    axles_left_out: list[str] = []  # runs used for the gross, not for the share moved between the axles
    with progress_bar("replaying reference runs", len(captures), quiet) as update:
        for done, path in enumerate(captures, start=1):
            update(done - 1, None)
            try:
                capture = read_capture(path)
            except CaptureError as exc:
                skipped.append(f"{path}: {exc}")
                continue
            # Uncorrected weights, with the uncertainty the lane's estimator states before the site's
            # scatter is added: the lane's own estimator settings, none of its calibration.
            raw_config = capture.config.model_copy(
                update={
                    "wim": capture.config.wim.model_copy(
                        update={"corrections": {}, "site_sd_fraction": (), "site_axle_sd_fraction": ()}
                    )
                }
            )
            judgement = judge(capture.crossing, raw_config, limits)
            if judgement.measurement is None or judgement.decision.verdict is Verdict.REWEIGH:
                skipped.append(f"{path}: crossing not judged ({'; '.join(judgement.decision.reasons)})")
                continue
            m = judgement.measurement
            with_axles = len(axles_kg) == len(m.axle_loads_kg)
            if axles_kg and not with_axles:
                axles_left_out.append(
                    f"{path}: {len(m.axle_loads_kg)} axles seen, {len(axles_kg)} in --reference-axles"
                )
            runs.append(
                ReferenceRun(
                    m.speed_kmh,
                    judgement.gross_kg,
                    reference_gross_kg,
                    m.gross_uncertainty_kg,
                    m.axle_loads_kg if with_axles else (),
                    axles_kg if with_axles else (),
                    m.axle_uncertainties_kg if with_axles else (),
                )
            )
    if not runs:
        raise click.ClickException("no usable reference runs:\n  " + "\n  ".join(skipped))
    fit = fit_speed_band_factors(runs, config.wim.speed_band_edges_kmh)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "vehicle_class": vehicle_class,
                    "speed_band_edges_kmh": fit.edges_kmh,
                    "factors": fit.factors,
                    "runs_per_band": fit.runs_per_band,
                    "spread_pct": fit.spread_pct,
                    "site_sd_pct": fit.site_sd_pct,
                    "site_sd_fraction": fit.site_sd_fraction(),
                    "site_axle_sd_pct": fit.site_axle_sd_pct,
                    "site_axle_sd_fraction": fit.site_axle_sd_fraction(),
                    "skipped": skipped,
                    "axles_left_out": axles_left_out,
                }
            )
        )
        return
    click.echo(f"{len(runs)} runs used, {len(skipped)} skipped")
    site = fit.site_sd_fraction()
    for lo, hi, factor, n, spread, own, each in zip(
        fit.edges_kmh,
        fit.edges_kmh[1:],
        fit.factors,
        fit.runs_per_band,
        fit.spread_pct,
        fit.site_sd_pct,
        fit.site_axle_sd_pct,
        strict=False,
    ):
        note = (
            "no runs: drive the reference vehicle at these speeds"
            if n == 0
            else f"{n} runs, spread {spread} %"
            if own is None
            else f"{n} runs, spread {spread} %, beyond their stated uncertainty {own:.3f} %"
        )
        if axles_kg and n:
            note += f", moved between the axles {each:.3f} %" if each is not None else ", too few axle runs"
        click.echo(f"  {lo:5g}-{hi:<5g} km/h  factor {factor:.5f}  ({note})")
    if all(own is None for own in fit.site_sd_pct):
        click.echo(
            "  no speed band has 2 runs that stated their uncertainty: the site's scatter is unknown and"
            " left at 0; drive more runs"
        )
    elif any(own is None for own in fit.site_sd_pct):
        click.echo(
            "  bands with fewer than 2 runs take the largest site scatter of the others: drive more runs there"
        )
    if axles_kg and all(each is None for each in fit.site_axle_sd_pct):
        click.echo(
            "  no speed band has 2 runs whose axles match --reference-axles: the share moved between the"
            " axles is unknown and left at 0; check the axle loads given, and drive more runs"
        )
    for line in skipped:
        click.echo(f"  skipped {line}")
    for line in axles_left_out:
        click.echo(f"  axles left out (gross used) {line}")
    edges = ", ".join(f"{e:g}" for e in fit.edges_kmh)
    factors = ", ".join(f"{f:.5f}" for f in fit.factors)
    scatter = ", ".join(f"{f:.5f}" for f in site)
    per_axle = (
        f"site_axle_sd_fraction = [{', '.join(f'{f:.5f}' for f in fit.site_axle_sd_fraction())}]\n"
        if axles_kg
        else ""
    )
    click.echo(
        f"\n[wim]\nspeed_band_edges_kmh = [{edges}]\nsite_sd_fraction = [{scatter}]\n{per_axle}\n"
        f"[wim.corrections]\n{vehicle_class!r} = [{factors}]".replace("'", '"')
    )


def _reference_axles(text: str, gross_kg: float) -> tuple[float, ...]:
    """``--reference-axles``: the axle loads, checked against the reference gross."""
    if not text.strip():
        return ()
    try:
        axles = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: give the axle loads in kg, front first, separated by commas (e.g. 6500,12800)",
            param_hint="--reference-axles",
        ) from None
    if len(axles) < 2 or not all(math.isfinite(a) and a > 0 for a in axles):
        raise click.BadParameter(
            f"{text!r}: give 2 or more positive axle loads in kg", param_hint="--reference-axles"
        )
    if abs(sum(axles) - gross_kg) > 0.01 * gross_kg:
        raise click.BadParameter(
            f"the axle loads sum to {sum(axles):,.0f} kg, not the --reference-gross {gross_kg:,.0f} kg"
            " (within 1 %): weigh the vehicle's axles and its gross on the same static scale",
            param_hint="--reference-axles",
        )
    return axles
