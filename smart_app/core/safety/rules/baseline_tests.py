"""PRE-ECG and PRE-LFT: pre-infusion tests (ASRA Q5 and Table 6, Grade C).

A test is recommended only when its risk condition holds and no qualifying result is in the look-back window (a
local default); a recent result, or the test drafted alongside the ketamine order (an accepted suggestion), satisfies
it. With no risk the rule is not applicable: ASRA Table 6 "No testing is necessary for healthy individuals".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from smart_app.core.model import ServiceOrder
from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.evidence import age_label, days_before, latest, observation_evidence
from smart_app.core.safety.rules.cardiovascular import CV_DISEASE, bp_control
from smart_app.core.safety.rules.hepatic import recent_liver_tests
from smart_app.core.safety.terminology import value_set

_ECG_GUIDELINE = (
    "ASRA Table 6: in individuals with suspected or at high risk of cardiovascular disease, **baseline ECG testing "
    "should be used** to rule out poorly controlled ischemic heart disease (Q5 text: 'may be considered'; Grade C, "
    "low certainty). Heart failure and ischaemic heart disease are project proxies for high risk."
)
_LFT_GUIDELINE = (
    "ASRA Table 6: with baseline liver dysfunction, risk of liver toxicity (eg, alcohol abusers, chronic hepatitis) "
    "or expected high doses at frequent intervals, **baseline and postinfusion liver function tests should be "
    "considered on a case-by-case basis** (Grade C, low certainty)."
)


_CUMULATIVE = (
    "ASRA: after a second 100-hour infusion 16 days after the first (mean 1813 mg), 3 of 6 patients had liver enzymes "
    "at 3 times baseline or more; about 10% of people receiving high-dose infusions have significant rises "
    "(L1399-1411). The cumulative risks (cystitis, hepatic dysfunction) of serial infusions should be considered "
    "before a scheduled multiday regimen (L1211-1214)."
)


@dataclass(frozen=True, slots=True)
class BaselineTestStatus:
    test: Literal["ECG", "LFT"]
    needed: bool  # a risk condition holds
    reasons: tuple[str, ...]  # why it is needed
    satisfied_by: tuple[Evidence, ...]  # recent results, or the test drafted with this order (empty: still to do)
    lookback_setting: str

    @property
    def outstanding(self) -> bool:
        return self.needed and not self.satisfied_by


def _drafted(ctx: SafetyContext, value_set_name: str) -> list[ServiceOrder]:
    """Test orders of this kind drafted in the same ordering session (e.g. a suggestion the clinician accepted)."""
    codes = value_set(value_set_name)
    return [o for o in ctx.record.service_orders if o.is_draft_order and codes.contains(o.code)]


def _draft_evidence(order: ServiceOrder) -> Evidence:
    return Evidence(order.reference, f"Ordered with this order: {order.code.label}", order.authored)


def _ecg_status(ctx: SafetyContext) -> tuple[BaselineTestStatus, list[Evidence]]:
    matches = ctx.conditions(*CV_DISEASE)
    reasons = [m.condition.code.label for m in matches]
    trigger_evidence = [m.evidence for m in matches]
    bp = bp_control(ctx)
    if bp.poorly_controlled and bp.reading:
        reasons.append(f"BP {bp.reading.text} on {bp.reading.when:%Y-%m-%d} (suspected cardiovascular disease)")
        trigger_evidence.extend(bp.reading.evidence)
    recent = latest(ctx.record, "ecg", ctx.on, ctx.settings.ecg_lookback_days)
    satisfied_by = [observation_evidence(recent, "12-lead ECG on file")] if recent else []
    satisfied_by += [_draft_evidence(o) for o in _drafted(ctx, "ecg")]
    status = BaselineTestStatus(
        "ECG", bool(reasons), tuple(dict.fromkeys(reasons)), tuple(satisfied_by), "ecg_lookback_days"
    )
    return status, trigger_evidence


def _high_dose(ctx: SafetyContext) -> tuple[list[str], list[Missing], list[str], list[Evidence]]:
    """Reasons the regimen counts as 'high doses at frequent intervals', and what kept it from being judged.

    Each part is a local definition (ASRA gives no number): a high ordered rate; another course within the
    repeat window; a multi-day or serial course ordered at once; the ketamine of the last 30 days, given, ordered
    and planned, at or above a cumulative amount. Also returns the local defaults behind the reasons and the
    treatments that made the regimen frequent."""
    s = ctx.settings
    reasons: list[str] = []
    missing: list[Missing] = []
    used: list[str] = []
    evidence: list[Evidence] = []
    for order in ctx.orders:
        highest = order.highest_rate(ctx.weight_kg)
        rate = highest.mg_per_kg(ctx.weight_kg) if highest else None
        if highest is not None and rate is None:
            missing.append(Missing("body-weight", f"whether {order.reference} is a high dose (mg/kg/h) needs a weight"))
        if rate is not None and rate > s.high_dose_rate_mg_per_kg_h:
            reasons.append(f"ordered rate {rate:.2g} mg/kg/h (high dose: {ctx.local('high_dose_rate_mg_per_kg_h')})")
            used.append("high_dose_rate_mg_per_kg_h")
        if order.drug == "ketamine" and order.duration_h is not None and order.duration_h >= s.multiday_course_hours:
            reasons.append(
                f"multi-day infusion ordered: {order.duration_h:g} h (multi-day: {ctx.local('multiday_course_hours')})"
            )
            used.append("multiday_course_hours")
        elif order.drug == "ketamine" and order.is_serial:
            reasons.append(f"serial course ordered: {order.sessions} sessions (ASRA: serial infusions)")
    if not ctx.orders:
        return reasons, missing, used, evidence
    since = (ctx.on - timedelta(days=s.repeat_course_days)).date()
    recent = ctx.history.since(since)
    if recent:
        reasons.append(
            f"another ketamine course on {recent[-1]:%Y-%m-%d} (frequent: {ctx.local('repeat_course_days')})"
        )
        used.append("repeat_course_days")
        evidence.extend(e for e in ctx.history.evidence if e.date is not None and e.date.date() >= since)
    exposure = ctx.exposure
    if exposure is not None:
        month = exposure.window(30)
        total = month.total_mg + exposure.planned_mg
        if total >= s.cumulative_ketamine_mg_30d:
            bound = "at least " if month.unknown or exposure.planned_unknown else ""
            reasons.append(
                f"{bound}{total:.0f} mg of ketamine in 30 days with this order ({month.sentence()}; planned "
                f"{exposure.planned_mg:.0f} mg; high: {ctx.local('cumulative_ketamine_mg_30d')})"
            )
            used.append("cumulative_ketamine_mg_30d")
            if not recent:
                evidence.extend(exposure.evidence(30))
    return reasons, missing, used, evidence


@dataclass(frozen=True, slots=True)
class _LftFacts:
    status: BaselineTestStatus
    triggers: list[Evidence]
    missing: list[Missing]
    defaults: tuple[str, ...]  # local defaults behind the reasons
    regimen_only: bool  # needed only because of the regimen (high dose, multi-day, frequent), not a liver risk


def _lft_status(ctx: SafetyContext) -> _LftFacts:
    matches = ctx.conditions("severe-liver-disease", "chronic-hepatitis", "liver-disease", "alcohol-use-disorder")
    reasons = [m.condition.code.label for m in matches]
    trigger_evidence = [m.evidence for m in matches]
    tests = recent_liver_tests(ctx)
    abnormal = [t for t in tests if t.abnormal]
    if abnormal:
        reasons.append("abnormal liver tests: " + ", ".join(t.analyte for t in abnormal))
    high_dose, missing, used, frequent = _high_dose(ctx)
    reasons.extend(high_dose)
    trigger_evidence.extend(frequent)
    have = {t.analyte for t in tests}
    satisfied_by = [t.evidence for t in tests] if {"ALT", "AST"} <= have else []
    drafted = [_draft_evidence(o) for o in _drafted(ctx, "alt")]
    status = BaselineTestStatus(
        "LFT", bool(reasons), tuple(dict.fromkeys(reasons)), tuple(satisfied_by + drafted), "lft_lookback_days"
    )
    defaults = ("lft_lookback_days", *dict.fromkeys(used))
    return _LftFacts(status, trigger_evidence, missing, defaults, bool(high_dose) and not (matches or abnormal))


def _ecg(ctx: SafetyContext) -> tuple[Outcome, BaselineTestStatus]:
    status, triggers = _ecg_status(ctx)
    if not status.needed:
        return (
            not_applicable(
                "PRE-ECG",
                "No cardiovascular risk on record: no baseline ECG needed (ASRA: no testing for healthy individuals)",
            ),
            status,
        )
    why = "; ".join(status.reasons)
    window = ctx.local("ecg_lookback_days")
    if status.satisfied_by:
        ev = status.satisfied_by[0]
        ago = days_before(ctx.on, ev.date)
        when = f"{age_label(ago)} " if ago is not None else ""
        summary = (
            f"Baseline ECG on file: 12-lead ECG on {ev.date:%Y-%m-%d}"
            if ev.date and ev.reference.startswith("Observation/")
            else "Baseline ECG ordered with this order"
        )
        return (
            satisfied(
                "PRE-ECG",
                summary,
                [*status.satisfied_by, *triggers],
                detail=f"Cardiovascular risk ({why}). {ev.description} {when}(look-back: {window}).",
                local_defaults=("ecg_lookback_days",),
            ),
            status,
        )
    older = latest(ctx.record, "ecg", ctx.on)
    evidence = list(triggers)
    note = f"No 12-lead ECG within the look-back window ({window})."
    if older is not None and older.when is not None:
        evidence.append(observation_evidence(older, "outside the look-back window"))
        note = f"The most recent 12-lead ECG is from {older.when:%Y-%m-%d}, outside the look-back window ({window})."
    else:
        evidence.append(Evidence("(absent)", "no 12-lead ECG in the record"))
    outcome = fired(
        "PRE-ECG",
        "warning",
        "Baseline 12-lead ECG recommended: cardiovascular risk and no recent ECG",
        f"Cardiovascular risk ({why}). {note} {_ECG_GUIDELINE}",
        evidence,
        wording="should be used (Table 6) / may be considered (Q5)",
        local_defaults=("ecg_lookback_days",),
        plans=("order-ecg",),
    )
    return outcome, status


def _lft(ctx: SafetyContext) -> tuple[Outcome, BaselineTestStatus]:
    facts = _lft_status(ctx)
    status, triggers, missing, defaults = facts.status, facts.triggers, facts.missing, facts.defaults
    risk = "High doses at frequent intervals" if facts.regimen_only else "Liver risk"
    if not status.needed:
        if missing:
            return (
                not_evaluable(
                    "PRE-LFT",
                    "No liver risk on record; whether the ordered rate is a high dose could not be judged",
                    missing,
                    local_defaults=("high_dose_rate_mg_per_kg_h",),
                ),
                status,
            )
        return (
            not_applicable(
                "PRE-LFT",
                "No liver risk or high-dose regimen: no liver tests needed (ASRA: no testing for healthy individuals)",
            ),
            status,
        )
    why = "; ".join(status.reasons)
    window = ctx.local("lft_lookback_days")
    if status.satisfied_by:
        post_drafted = any(e.reference.startswith("ServiceRequest/") for e in status.satisfied_by)
        if post_drafted:
            return (
                satisfied(
                    "PRE-LFT",
                    "Liver function tests ordered with this order",
                    [*status.satisfied_by, *triggers],
                    detail=f"{risk} ({why}). {_LFT_GUIDELINE}",
                    local_defaults=defaults,
                ),
                status,
            )
        # The baseline is on file; ASRA asks for post-infusion tests too, which only an order can satisfy.
        outcome = fired(
            "PRE-LFT",
            "info",
            "Baseline liver tests on file; order post-infusion liver tests",
            f"{risk} ({why}). ALT and AST are within the look-back window ({window}); plan liver tests after the "
            f"infusion or course. {_LFT_GUIDELINE}",
            [*status.satisfied_by, *triggers],
            wording="should be considered case-by-case",
            local_defaults=defaults,
            plans=("order-lft-post",),
        )
        return outcome, status
    outcome = fired(
        "PRE-LFT",
        "warning",
        "Baseline and post-infusion liver tests recommended: "
        + ("multi-day, serial or high-dose course" if facts.regimen_only else "liver risk")
        + " and no recent ALT/AST",
        f"{risk} ({why}). No ALT and AST pair within the look-back window ({window}). {_LFT_GUIDELINE}"
        + (f" {_CUMULATIVE}" if facts.regimen_only else ""),
        [*triggers, Evidence("(absent)", "no ALT and AST within the look-back window")],
        wording="should be considered case-by-case",
        local_defaults=defaults,
        plans=("order-lft-baseline", "order-lft-post"),
    )
    return outcome, status


def assess(ctx: SafetyContext) -> tuple[list[Outcome], tuple[BaselineTestStatus, ...]]:
    ecg_outcome, ecg = _ecg(ctx)
    lft_outcome, lft = _lft(ctx)
    return [ecg_outcome, lft_outcome], (ecg, lft)
