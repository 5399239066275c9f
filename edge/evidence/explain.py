"""Why a record's verdict was reached, in plain words (Chinese and English): ``edge rules explain``.

Everything comes from the record itself (the signed text), never from today's tables or documents: the
limit row, its source and clause, the deductions, the sum of the axle(-group) limits, the vehicle facts
assumed (air suspension...) and their origin, each axle group's limit, source, load, uncertainty and finding
(with the site's rule for a load within its uncertainty of the threshold), the tolerance and
the threshold, the measurement and its misfit, the permit and watch-list facts used, and the reasons.
"""

from __future__ import annotations

from typing import Any

from edge.evidence.record import EvidenceRecord, RecordAxleGroup
from edge.rules import Verdict

__all__ = ["explain"]

_VERDICT = {
    Verdict.PASS: ("通行", "pass: allowed in"),
    Verdict.OVERWEIGHT: ("超限，禁止驶入", "overweight: refused entry"),
    Verdict.OVERSIZE: ("外廓超限，禁止驶入", "oversize: refused entry"),
    Verdict.REWEIGH: ("复检", "re-weigh: the measurement cannot decide"),
}

_PERMIT = {
    "covers": ("许可证覆盖本车", "the permit covers the vehicle"),
    "exceeded": ("大车小证：超出许可", "大车小证: beyond the permit"),
    "mismatch": ("大车小证：车辆与许可不符", "大车小证: the vehicle does not match the permit"),
    "expired": ("许可证已过期", "the permit has expired"),
    "not_yet_valid": ("许可证尚未生效", "the permit is not valid yet"),
    "not_on_route": ("本站不在许可路线上", "this station is not on the permitted route"),
}


def _kg(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} kg"


def _yes_no(value: object) -> str:
    return "未知 unknown" if value is None else ("是 yes" if value else "否 no")


_KIND = {"single": "单轴 single axle", "tandem": "二轴组 tandem", "tridem": "三轴组 tridem"}


def _axle_line(group: RecordAxleGroup) -> str:
    axles = "+".join(str(axle) for axle in group.axles)
    head = f"轴组 Axle group {group.group} (轴 axles {axles}, {_KIND.get(group.kind, group.kind)}, {group.position})"
    if group.limit_kg is None:
        return f"{head}: 无适用限值 no limit row; " + "; ".join(group.notes)
    sure = "" if group.verified else " [未核实 unverified]"
    text = f"{head}: 限值 limit {_kg(group.limit_kg)} ({group.rule_id}; {group.source}){sure}"
    if group.deductions:
        text += f"; 扣减 deductions: {', '.join(group.deductions)}"
    if group.load_kg is not None and group.uncertainty_kg is not None and group.finding is not None:
        text += _finding_text(group)
    elif group.load_kg is not None:
        if group.over_kg:
            beyond = (
                "，超出容差 beyond the tolerance"
                if group.beyond_tolerance
                else "，在容差内 within the tolerance"
            )
            text += f"; 实测 measured {_kg(group.load_kg)}, 超 over by {_kg(group.over_kg)}{beyond}"
        else:
            text += f"; 实测 measured {_kg(group.load_kg)}, 未超 within"
    return text


_FINDING = {
    "over": ("超出阈值（超出不确定度）", "over the threshold by more than its uncertainty"),
    "within": ("低于阈值（超出不确定度）", "below the threshold by more than its uncertainty"),
    "uncertain": ("在不确定度内接近阈值", "within its uncertainty of the threshold"),
}
_COUNTS_AS = {
    "over": ("按超限", "counts as over"),
    "within": ("按未超", "counts as within"),
    "reweigh": ("复检", "re-weigh"),
}


def _finding_text(group: RecordAxleGroup) -> str:
    """The load, its uncertainty, the finding, the site's rule applied to an uncertain one, and whether
    the finding changes the verdict (the table's ``findings``)."""
    load = f"{_kg(group.load_kg)} ±{_kg(group.uncertainty_kg)} (k = 2)"
    over = f", 超 over by {_kg(group.over_kg)}" if group.over_kg else ""
    zh, en = _FINDING.get(group.finding or "", (group.finding or "", group.finding or ""))
    text = f"; 实测 measured {load}{over}; 阈值 threshold {_kg(group.threshold_kg)}: {zh} {en}"
    if group.finding == "uncertain":
        zh_as, en_as = _COUNTS_AS.get(group.counts_as or "", (group.counts_as or "", group.counts_as or ""))
        text += f"; 现场规则 site rule (rules.near_threshold = {group.rule_applied}): {zh_as} {en_as}"
    if group.counts_as in ("over", "reweigh"):
        text += (
            "; 影响判定 changes the verdict (findings = refuse)"
            if group.findings_rule == "refuse"
            else "; 仅记录 reported only (findings = report)"
        )
    return text


def explain(record: EvidenceRecord) -> list[str]:
    """The explanation, one line per fact, each line Chinese then English."""
    lines = [
        f"记录 Record {record.id} (seq {record.seq}), {record.site_id} 车道 lane {record.lane}, {record.time_utc}"
    ]
    reading: dict[str, Any] = record.plate_reading or {}
    plate = record.plate or reading.get("text")
    if plate:
        sure = "" if record.plate else "（不确定 uncertain）"
        alternatives = reading.get("alternatives") or []
        alt = f"; 备选 alternatives: {', '.join(alternatives)}" if alternatives else ""
        lines.append(f"车牌 Plate: {plate}{sure}{alt}")
    else:
        lines.append("车牌 Plate: 未识别 not read")
    zh, en = _VERDICT[record.verdict]
    lines.append(f"结论 Verdict: {zh} / {en}")
    if record.vehicle_class:
        groups = "+".join(str(g) for g in record.axle_groups or [])
        lines.append(
            f"车型 Class: {record.vehicle_class} ({record.body}), {record.axle_count} 轴 axles"
            + (f", 轴组 groups {groups}" if groups else "")
        )
    limit = record.limit
    if limit is not None:
        lines.append(f"限值 Limit rule {limit.rule_id}: {limit.rule_text}")
        lines.append(f"依据 Source: {limit.source}")
        if limit.row_source:
            lines.append(f"条款 Clause: {limit.row_source}")
        lines.append(f"表内限值 Table limit: {_kg(limit.base_limit_kg)}")
        for deduction in limit.deductions:
            lines.append(f"扣减 Deduction: {deduction}")
        for note in limit.notes:
            lines.append(f"说明 Note: {note}")
        if limit.axle_sum_kg is not None:
            how = (
                "低于表内限值，按轴荷之和 lower than the row: the sum applies"
                if limit.axle_sum_applied
                else (
                    "不低于表内限值 not lower than the row"
                    if limit.axle_sum_kg >= limit.base_limit_kg
                    else "低于表内限值，仅记录 lower than the row: reported only"
                )
            )
            lines.append(
                f"轴荷之和 Sum of axle(-group) limits: {_kg(limit.axle_sum_kg)} ({how}; 第62号令第三条第二款第(三)项"
                " / Order 62 art. 3 para 2 item 3)"
            )
        lines.append(f"适用限值 Limit applied: {_kg(limit.limit_kg)}")
        lines.append(
            f"容差 Tolerance: x{limit.tolerance_factor:g} -> 判定阈值 threshold {_kg(limit.threshold_kg)}"
        )
    wim = record.wim
    if wim is not None:
        loads = ", ".join(_kg(load) for load in wim.axle_loads_kg)
        lines.append(f"测量 Measured gross: {_kg(wim.gross_kg)} (轴重 axle loads: {loads})")
        speed = "—" if wim.speed_kmh is None else f"{wim.speed_kmh:.1f} km/h"
        misfit = "—" if wim.residual_rms_kg is None else _kg(wim.residual_rms_kg)
        lines.append(f"车速 Speed: {speed}; 测量不确定度 model misfit (RMS): {misfit}")
        if wim.gross_uncertainty_kg is not None:
            lines.append(
                f"总重扩展不确定度 Gross expanded uncertainty (k = 2): ±{_kg(wim.gross_uncertainty_kg)}"
            )
        common, moved = wim.site_sd_fraction or 0.0, wim.site_axle_sd_fraction or 0.0
        if common > 0 or moved > 0:
            parts = [f"{100 * common:.2f} % common to every axle"] if common > 0 else []
            parts += [f"{100 * moved:.2f} % moved between axles"] if moved > 0 else []
            effect = (
                f"adds ±{_kg(wim.site_error_kg)} to the gross's uncertainty above"
                if common > 0 and wim.site_error_kg is not None
                else "widens the axles' and groups' uncertainties only, not the gross's"
            )
            lines.append(f"现场散布 Site scatter (calibrated): {', '.join(parts)}; {effect}")
        if limit is not None and wim.gross_kg is not None:
            over = wim.gross_kg > limit.threshold_kg
            relation = "超过 above" if over else "未超过 not above"
            lines.append(f"比较 Comparison: {_kg(wim.gross_kg)} {relation} {_kg(limit.threshold_kg)}")
    facts = record.vehicle_facts
    if facts:
        lines.append(
            f"车辆事实 Vehicle facts ({facts.get('source')}): 空气悬架 air suspension {_yes_no(facts.get('air_suspension'))}"
            f", 铰接列车 articulated {_yes_no(facts.get('articulated'))}"
            + (
                f", 行驶证总质量 registered gross {_kg(facts['registered_gross_kg'])}"
                if facts.get("registered_gross_kg") is not None
                else ""
            )
        )
    for group in record.axle_limits or []:
        lines.append(_axle_line(group))
    if record.calibration is not None and record.calibration.dynamic_correction_factor != 1.0:
        lines.append(f"动态修正 Dynamic correction: x{record.calibration.dynamic_correction_factor:g}")
    permit = record.permit
    if permit is not None:
        zh, en = _PERMIT.get(permit.status, (permit.status, permit.status))
        used = (
            "用于判定 used in the verdict"
            if permit.applied_to_verdict
            else "判定后识别 read after the verdict"
        )
        lines.append(
            f"许可证 Permit {permit.permit_id} (许可总质量 permitted gross {_kg(permit.max_gross_kg)}): {zh} / {en}; {used}"
        )
        for problem in permit.problems:
            lines.append(f"  不符项 Field: {problem}")
    lines += _outline_and_registry(record)
    for match in record.watchlist or []:
        how = "车牌一致 plate as read" if match.exact else "备选车牌 one of the reader's alternatives"
        sent = "已即时告警 alert sent" if match.alert_sent else "告警未即时送达 alert not sent at once"
        lines.append(f"黑名单 Watch-list {match.plate}: {match.reason} ({how}; {sent})")
    for reason in record.reasons:
        lines.append(f"原因 Reason: {reason}")
    return lines


_STATE = {"over": "over", "uncertain": "uncertain"}
_WORD = {"height": ("超高", "高"), "width": ("超宽", "宽"), "length": ("超长", "长")}
_REGISTRY = {
    "matches": ("与登记一致", "matches its registration"),
    "modified": (
        "非法改装",
        "outside the GB 21861 tolerance of its registration (possibly illegally modified)",
    ),
    "axles_differ": ("轴数与登记不符", "axle count differs from the registration"),
    "not_checked": ("外廓未测，未比对", "outline not measured: not compared"),
}


def _m(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} m"


def _outline_and_registry(record: EvidenceRecord) -> list[str]:
    """The outline (measured or not), the light curtain's height and the registry's facts."""
    lines: list[str] = []
    outline = record.outline
    if outline is not None and outline.status == "measured":
        u = f"u {_m(outline.u_height_m)} / {_m(outline.u_width_m)} / {_m(outline.u_length_m)}"
        lines.append(
            f"外廓 Outline: 高 height {_m(outline.height_m)}, 宽 width {_m(outline.width_m)},"
            f" 长 length {_m(outline.length_m)} ({u}; k = {outline.coverage:g})"
        )
        if outline.speed_correction is not None and outline.u_speed_rel is not None:
            lines.append(
                f"  测速校正 Speed pair: WIM speed profile {outline.speed_correction * 100:+.2f} % off, corrected;"
                f" speed u {outline.u_speed_rel * 100:.2f} % (docs/outline.md)"
            )
        limits = outline.limits_m
        lines.append(
            f"外廓限值 Oversize limits: 高 height {limits.get('height_m', 0):g} m, 宽 width"
            f" {limits.get('width_m', 0):g} m, 长 length {limits.get('length_m', 0):g} m ({outline.source})"
        )
        for name, state in outline.states.items():
            if state in _STATE and name in _WORD:
                value, sigma = getattr(outline, f"{name}_m"), getattr(outline, f"u_{name}_m")
                word = _WORD[name][0] if state == "over" else f"{_WORD[name][1]}（不确定）"
                rule = "" if state == "over" else f"; 规则 rule: {outline.uncertain_rule}"
                lines.append(
                    f"  {word} {_STATE[state]}: {name} {_m(value)} +/- {_m(sigma)} vs"
                    f" {limits.get(name + '_m', 0):g} m{rule}"
                )
    elif outline is not None:
        lines.append(f"外廓 Outline: 未测 not measured ({outline.reason}); 仅按重量 weight only")
    if record.curtain_max_height_mm:
        lines.append(f"光栅高度 Light curtain height: {record.curtain_max_height_mm} mm")
    registry = record.registry
    if registry is not None:
        zh, en = _REGISTRY.get(registry.status, (registry.status, registry.status))
        groups = "+".join(str(g) for g in registry.axle_groups or [])
        lines.append(
            f"登记 Registry {registry.plate}: {zh} / {en}; 轴数 axles {registry.axle_count or '—'}"
            + (f", 轴组 groups {groups}" if groups else "")
            + f"; 长宽高 L/W/H {_m(registry.length_m)} / {_m(registry.width_m)} / {_m(registry.height_m)};"
            f" 容差 tolerance {registry.tolerance}"
        )
        for problem in registry.problems:
            lines.append(f"  不符项 Field: {problem}")
        said = [
            f"空气悬架 air suspension {_yes_no(registry.drive_air_suspension)}"
            if registry.drive_air_suspension is not None
            else "",
            f"铰接列车 articulated {_yes_no(registry.articulated)}"
            if registry.articulated is not None
            else "",
            f"行驶证总质量 registered gross {_kg(registry.registered_gross_kg)}"
            if registry.registered_gross_kg is not None
            else "",
        ]
        if any(said):
            lines.append(
                "  登记事实 Registered facts (the limit's, 124号 备注1/4): " + ", ".join(w for w in said if w)
            )
    return lines
