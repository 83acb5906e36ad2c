"""CI-CV: poorly controlled cardiovascular disease (ANZCA "should not be used"; ASRA relative, with override)."""

from __future__ import annotations

from dataclasses import dataclass

from smart_app.core.outcomes import Citation, Evidence, Outcome
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, satisfied
from smart_app.core.safety.vitals import BpReading

CV_DISEASE = ("unstable-angina", "angina", "coronary-disease", "heart-failure", "hypertension", "hypertensive-crisis")
_ISCRR_CAUTION = Citation(
    "ISCRR",
    "Adverse events; Table 9",
    "L1895–1896, L2224–2225",
    None,
    "caution recommended for those with history of cardiovascular disease",
)
_OVERRIDE = (
    "ASRA lists poorly controlled cardiovascular disease as a relative contraindication (Table 6) and allows an "
    "infusion in refractory cases if the perceived benefits outweigh the risks, with more frequent BP monitoring or an "
    "arterial line in an ICU setting (L996–1000). Overriding needs a documented reason."
)


@dataclass(frozen=True, slots=True)
class BpControl:
    reading: BpReading | None
    poorly_controlled: bool


def bp_control(ctx: SafetyContext) -> BpControl:
    s = ctx.settings
    reading = ctx.latest_bp
    high = reading is not None and (
        (reading.systolic is not None and reading.systolic >= s.bp_systolic_poorly_controlled)
        or (reading.diastolic is not None and reading.diastolic >= s.bp_diastolic_poorly_controlled)
    )
    return BpControl(reading, high)


_BP_DEFAULTS = ("bp_systolic_poorly_controlled", "bp_diastolic_poorly_controlled", "bp_lookback_days")


def _threshold(ctx: SafetyContext) -> str:
    """The local BP thresholds in words (made only for the outcomes that state them)."""
    return (
        f"{ctx.local('bp_systolic_poorly_controlled')}; {ctx.local('bp_diastolic_poorly_controlled')}; "
        f"{ctx.local('bp_lookback_days')}"
    )


def check(ctx: SafetyContext) -> list[Outcome]:
    unstable = ctx.conditions("unstable-angina")
    crisis = ctx.conditions("hypertensive-crisis")
    disease = ctx.conditions("angina", "coronary-disease", "heart-failure", "hypertension")
    bp = bp_control(ctx)
    bp_evidence: list[Evidence] = list(bp.reading.evidence) if bp.reading else []

    if unstable or crisis or bp.poorly_controlled:
        reasons = []
        if unstable:
            reasons.append("unstable angina")
        if crisis:
            reasons.append("hypertensive urgency/emergency")
        if bp.poorly_controlled and bp.reading:
            reasons.append(f"BP {bp.reading.text} on {bp.reading.when:%Y-%m-%d}")
        detail = (
            f"Poorly controlled cardiovascular disease: {', '.join(reasons)}.\n\n"
            "ANZCA PS12 2.2.3: ketamine **should not be used** in patients with poorly controlled cardiovascular "
            "disease; ASRA Q2 says the same (Grade B). " + _OVERRIDE
        )
        if bp.poorly_controlled:
            detail += f"\n\n'Poorly controlled' BP is a local threshold, not a guideline figure: {_threshold(ctx)}."
        return [
            fired(
                "CI-CV",
                "critical",
                f"Poorly controlled cardiovascular disease ({reasons[0]}): ketamine should not be used",
                detail,
                [m.evidence for m in (*unstable, *crisis, *disease)] + bp_evidence,
                wording="should not be used (ANZCA); relative contraindication with override (ASRA)",
                local_defaults=_BP_DEFAULTS if bp.poorly_controlled else (),
            )
        ]
    if not disease:
        return [not_applicable("CI-CV", "No cardiovascular disease on record and no poorly controlled BP reading")]

    threshold = _threshold(ctx)
    names = sorted({m.condition.code.label for m in disease})
    hypertension_only = all(m.value_set == "hypertension" for m in disease)
    if bp.reading is None:
        bp_text = f"no blood pressure recorded in the last {ctx.settings.bp_lookback_days} days, so control is unknown"
    else:
        bp_text = f"most recent BP {bp.reading.text} on {bp.reading.when:%Y-%m-%d} is below the local threshold"
    if hypertension_only and bp.reading is not None:
        return [
            satisfied(
                "CI-CV",
                f"Hypertension with BP controlled ({bp.reading.text} on {bp.reading.when:%Y-%m-%d})",
                [*bp_evidence, *(m.evidence for m in disease)],
                detail=f"{', '.join(names)} is on the problem list; {bp_text} ({threshold}). ISCRR advises caution "
                "in a history of cardiovascular disease; ASRA advises baseline ECG when cardiovascular risk is high.",
                local_defaults=_BP_DEFAULTS,
            )
        ]
    return [
        fired(
            "CI-CV",
            "warning",
            "Cardiovascular disease on record: confirm it is well controlled before ketamine",
            f"The record shows {', '.join(names)}; {bp_text} ({threshold}). Whether the disease is well controlled "
            "cannot be read from a diagnosis code: the clinician must judge it. If it is poorly controlled, ANZCA "
            "PS12 2.2.3 says ketamine **should not be used**. " + _OVERRIDE,
            [m.evidence for m in disease] + bp_evidence,
            citations=(sources.ANZCA_PS_2_2_3, sources.ASRA_Q2_CV, _ISCRR_CAUTION, sources.ASRA_MONITORING_ANGINA),
            wording="should not be used if poorly controlled (ANZCA); caution (ISCRR)",
            local_defaults=_BP_DEFAULTS,
        )
    ]
