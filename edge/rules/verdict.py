"""The whole verdict beyond the weight: the outline (oversize, 超高/超宽/超长) joins the weight's decision.

Pure code, called by the site after :func:`edge.judge.judge_weighed` and before the permit (a permit may
cover an oversize vehicle as it covers an overweight one).  The rules, as a field engineer reads them:

* a dimension **over** its limit beyond the measurement's uncertainty (value - k u > limit, k =
  ``outline.coverage``) refuses the vehicle (verdict ``overweight``: 超限, refused entry), whatever its
  weight, even one the scale would send back to re-weigh: the height will not change on a second pass;
* a dimension **uncertain** (within k u of its limit) follows ``outline.uncertain``: ``pass`` (the
  default: the measurement does not show the vehicle over, as the 105 % rule gives the weight the benefit
  of its uncertainty), ``refuse``, or ``reweigh`` (drive through again); the reasons say which;
* an outline **unavailable** (a scanner unplugged, too few points) changes nothing: the weight decides,
  and the reasons and the record say the outline was not measured.

Limits: 交通运输部令2016年第62号 第三条 (:data:`edge.outline.limits.ORDER_62_LIMITS`).
"""

from __future__ import annotations

import dataclasses

from edge.outline.limits import OversizeVerdict
from edge.rules.limits import Decision, Verdict

__all__ = ["DIMENSION_WORDS", "OUTLINE_UNAVAILABLE", "apply_outline", "board_detail"]

#: Each dimension's word on the board and in the reasons.
DIMENSION_WORDS = {"height": "超高", "width": "超宽", "length": "超长"}
#: What the board and the reasons say when the outline could not be measured.
OUTLINE_UNAVAILABLE = "外廓未测"


def _describe(verdict: OversizeVerdict, state: str) -> list[str]:
    return [
        f"{DIMENSION_WORDS[d.name]}: {d.name} {d.value_m:.2f} +/- {d.uncertainty_m:.3f} m"
        f" {'above' if state == 'over' else 'within its uncertainty of'} the {d.limit_m:g} m limit"
        f" ({verdict.source}, k = {verdict.coverage:g})"
        for d in verdict.dimensions
        if d.state == state
    ]


def apply_outline(
    decision: Decision, verdict: OversizeVerdict | None, uncertain_rule: str, unavailable_reason: str = ""
) -> Decision:
    """``decision`` (the weight's) with the outline's verdict taken into account (module docstring)."""
    if verdict is None:
        if not unavailable_reason:
            return decision
        reason = f"{OUTLINE_UNAVAILABLE}: outline not measured ({unavailable_reason}); weight only"
        return dataclasses.replace(decision, reasons=(*decision.reasons, reason))
    over = _describe(verdict, "over")
    if over:
        refused = Verdict.OVERWEIGHT if decision.verdict is Verdict.OVERWEIGHT else Verdict.OVERSIZE
        return dataclasses.replace(decision, verdict=refused, reasons=(*decision.reasons, *over))
    uncertain = _describe(verdict, "uncertain")
    if not uncertain:
        return decision
    notes = tuple(f"{text}; the site's rule for such vehicles: {uncertain_rule}" for text in uncertain)
    if uncertain_rule == "refuse" or decision.verdict is not Verdict.PASS:
        if uncertain_rule == "refuse" and decision.verdict is not Verdict.OVERWEIGHT:
            verdict_now = Verdict.OVERSIZE
        else:
            verdict_now = decision.verdict
    else:
        verdict_now = Verdict.REWEIGH if uncertain_rule == "reweigh" else Verdict.PASS
    return dataclasses.replace(decision, verdict=verdict_now, reasons=(*decision.reasons, *notes))


def board_detail(verdict: OversizeVerdict | None, unavailable: bool) -> str:
    """The board's line about the outline: the dimensions over (``超高 4.35m``), 外廓未测 when it was
    not measured, else nothing."""
    if unavailable:
        return OUTLINE_UNAVAILABLE
    return "" if verdict is None else verdict.board_text()
