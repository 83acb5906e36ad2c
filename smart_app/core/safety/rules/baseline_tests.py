"""PRE-ECG, PRE-LFT and PRE-NONE: pre-infusion tests (ASRA Q5 and Table 6, Grade C).

A test is recommended only when its risk condition holds and no qualifying result is in the look-back window (a
local default); a recent result is reported as satisfying it. With neither risk, the patient gets ASRA's "No
testing is necessary for healthy individuals" as an info note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smart_app.core.findings import Evidence, Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding
from smart_app.core.safety.evidence import age_label, days_before, latest, observation_evidence
from smart_app.core.safety.history import treatment_history
from smart_app.core.safety.rules.cardiovascular import CV_DISEASE, bp_control
from smart_app.core.safety.rules.hepatic import recent_liver_tests


@dataclass(frozen=True, slots=True)
class BaselineTestStatus:
    test: Literal["ECG", "LFT"]
    needed: bool  # a risk condition holds
    reasons: tuple[str, ...]  # why it is needed
    satisfied_by: tuple[Evidence, ...]  # recent results that meet it (empty: still to do)
    lookback_setting: str

    @property
    def outstanding(self) -> bool:
        return self.needed and not self.satisfied_by


def _ecg_status(ctx: SafetyContext) -> tuple[BaselineTestStatus, list[Evidence]]:
    matches = ctx.conditions(*CV_DISEASE)
    reasons = [m.condition.code.label for m in matches]
    trigger_evidence = [m.evidence for m in matches]
    bp = bp_control(ctx)
    if bp.poorly_controlled and bp.reading:
        reasons.append(f"BP {bp.reading.text} on {bp.reading.when:%Y-%m-%d} (suspected cardiovascular disease)")
        trigger_evidence.extend(bp.reading.evidence)
    recent = latest(ctx.record, "ecg", ctx.on, ctx.settings.ecg_lookback_days)
    satisfied = (observation_evidence(recent, "12-lead ECG on file"),) if recent else ()
    status = BaselineTestStatus("ECG", bool(reasons), tuple(dict.fromkeys(reasons)), satisfied, "ecg_lookback_days")
    return status, trigger_evidence


def _high_dose_reasons(ctx: SafetyContext) -> list[str]:
    s = ctx.settings
    reasons = []
    for order in ctx.orders:
        rate = order.rate.mg_per_kg(ctx.weight_kg) if order.rate else None
        if order.rate is not None and rate is None:
            ctx.not_checked.append(
                f"PRE-LFT: whether {order.reference} is a high dose (mg/kg/h) needs a body weight; not checked"
            )
        if rate is not None and rate > s.high_dose_rate_mg_per_kg_h:
            reasons.append(f"ordered rate {rate:.2g} mg/kg/h (high dose: {ctx.local('high_dose_rate_mg_per_kg_h')})")
    if ctx.orders:
        recent = treatment_history(ctx.record, ctx.on, s.repeat_course_days)
        if recent.days:
            reasons.append(
                f"another ketamine course on {recent.days[-1]:%Y-%m-%d} (frequent: {ctx.local('repeat_course_days')})"
            )
    return reasons


def _lft_status(ctx: SafetyContext) -> tuple[BaselineTestStatus, list[Evidence]]:
    matches = ctx.conditions("severe-liver-disease", "chronic-hepatitis", "alcohol-use-disorder")
    reasons = [m.condition.code.label for m in matches]
    trigger_evidence = [m.evidence for m in matches]
    tests = recent_liver_tests(ctx)
    abnormal = [t for t in tests if t.abnormal]
    if abnormal:
        reasons.append("abnormal liver tests: " + ", ".join(t.analyte for t in abnormal))
    reasons.extend(_high_dose_reasons(ctx))
    have = {t.analyte for t in tests}
    satisfied = tuple(t.evidence for t in tests) if {"ALT", "AST"} <= have else ()
    status = BaselineTestStatus("LFT", bool(reasons), tuple(dict.fromkeys(reasons)), satisfied, "lft_lookback_days")
    return status, trigger_evidence


def assess(ctx: SafetyContext) -> tuple[list[Finding], tuple[BaselineTestStatus, ...]]:
    ecg, ecg_triggers = _ecg_status(ctx)
    lft, lft_triggers = _lft_status(ctx)
    found: list[Finding] = []
    if ecg.needed:
        found.append(_ecg_finding(ctx, ecg, ecg_triggers))
    if lft.needed:
        found.append(_lft_finding(ctx, lft, lft_triggers))
    if not ecg.needed and not lft.needed:
        dose_unknown = any(o.rate is not None and o.rate.mg_per_kg(ctx.weight_kg) is None for o in ctx.orders)
        caveat = " Whether the ordered rate is a high dose could not be checked (no recent body weight)."
        found.append(
            finding(
                "PRE-NONE",
                "info",
                "No pre-infusion testing necessary: no cardiovascular or liver risk found in the record",
                "No cardiovascular-risk or liver-risk condition, abnormal liver test or high-dose/frequent regimen was "
                "found. ASRA Table 6: **No testing is necessary for healthy individuals** (Grade C, low certainty). "
                "This relies on the record being complete." + (caveat if dose_unknown else ""),
                (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
                wording="no testing necessary",
            )
        )
    return found, (ecg, lft)


def _ecg_finding(ctx: SafetyContext, status: BaselineTestStatus, triggers: list[Evidence]) -> Finding:
    why = "; ".join(status.reasons)
    window = ctx.local("ecg_lookback_days")
    guideline = (
        "ASRA Table 6: in individuals with suspected or at high risk of cardiovascular disease, **baseline ECG testing "
        "should be used** to rule out poorly controlled ischemic heart disease (Q5 text: 'may be considered'; Grade C, "
        "low certainty). Heart failure and ischaemic heart disease are project proxies for high risk."
    )
    if status.satisfied_by:
        ev = status.satisfied_by[0]
        ago = days_before(ctx.on, ev.date)
        return finding(
            "PRE-ECG",
            "info",
            f"Baseline ECG satisfied: 12-lead ECG on {ev.date:%Y-%m-%d}" if ev.date else "Baseline ECG satisfied",
            f"Cardiovascular risk ({why}). A 12-lead ECG "
            f"{age_label(ago) if ago is not None else ''} is within the look-back window ({window}). {guideline}",
            (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
            [*status.satisfied_by, *triggers],
            wording="should be used (Table 6) / may be considered (Q5)",
            local_defaults=("ecg_lookback_days",),
        )
    older = latest(ctx.record, "ecg", ctx.on)
    evidence = list(triggers)
    note = f"No 12-lead ECG within the look-back window ({window})."
    if older is not None and older.when is not None:
        evidence.append(observation_evidence(older, "outside the look-back window"))
        note = f"The most recent 12-lead ECG is from {older.when:%Y-%m-%d}, outside the look-back window ({window})."
    else:
        evidence.append(Evidence("(absent)", "no 12-lead ECG (LOINC 34534-8, 8601-7, 11524-6) in the record"))
    return finding(
        "PRE-ECG",
        "warning",
        "Baseline 12-lead ECG recommended: cardiovascular risk and no recent ECG",
        f"Cardiovascular risk ({why}). {note} {guideline}",
        (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
        evidence,
        wording="should be used (Table 6) / may be considered (Q5)",
        local_defaults=("ecg_lookback_days",),
        suggestions=("order-ecg",),
    )


def _lft_finding(ctx: SafetyContext, status: BaselineTestStatus, triggers: list[Evidence]) -> Finding:
    why = "; ".join(status.reasons)
    window = ctx.local("lft_lookback_days")
    guideline = (
        "ASRA Table 6: with baseline liver dysfunction, risk of liver toxicity (eg, alcohol abusers, chronic "
        "hepatitis) or expected high doses at frequent intervals, **baseline and postinfusion liver function tests "
        "should be considered on a case-by-case basis** (Grade C, low certainty)."
    )
    if status.satisfied_by:
        return finding(
            "PRE-LFT",
            "info",
            "Baseline liver tests on file; plan post-infusion liver tests",
            f"Liver risk ({why}). ALT and AST are within the look-back window ({window}); plan liver tests after the "
            f"infusion. {guideline}",
            (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
            [*status.satisfied_by, *triggers],
            wording="should be considered case-by-case",
            local_defaults=("lft_lookback_days",),
            suggestions=("order-lft-post",),
        )
    return finding(
        "PRE-LFT",
        "warning",
        "Baseline and post-infusion liver tests recommended: liver risk and no recent ALT/AST",
        f"Liver risk ({why}). No ALT and AST pair within the look-back window ({window}). {guideline}",
        (sources.ASRA_T6_TESTS, sources.ASRA_Q5),
        [*triggers, Evidence("(absent)", "no ALT and AST (LOINC 1742-6, 1920-8) within the look-back window")],
        wording="should be considered case-by-case",
        local_defaults=("lft_lookback_days",),
        suggestions=("order-lft-baseline", "order-lft-post"),
    )
