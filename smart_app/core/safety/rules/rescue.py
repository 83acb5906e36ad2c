"""CI-RESCUE: relative contraindications to benzodiazepine rescue (ASRA Q2: "may not be good candidates").

ASRA names HIV antiretrovirals, poorly controlled myasthenia gravis and a history of adverse reaction to
benzodiazepines. Antiretrovirals are matched by code (the VSAC ritonavir/cobicistat booster set and the VERIFIED
ingredient RXCUIs) or, for combinations no set lists, by ingredient name (mappings/concepts.json), so an HIV
diagnosis is also used.
"""

from __future__ import annotations

from smart_app.core.outcomes import Evidence, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable
from smart_app.core.safety.evidence import EXCLUDED_VERIFICATION, is_current_medication, medication_in
from smart_app.core.safety.terminology import value_set

_INACTIVE_ALLERGY = frozenset({"inactive", "resolved"})


def check(ctx: SafetyContext) -> list[Outcome]:
    evidence: list[Evidence] = []
    reasons: list[str] = []
    conditions = ctx.conditions("hiv", "myasthenia-gravis")
    for m in conditions:
        evidence.append(m.evidence)
        reasons.append(m.condition.code.label)
    for med in ctx.record.medications:
        if is_current_medication(med) and medication_in(med, "antiretrovirals"):
            evidence.append(
                Evidence(med.reference, f"{med.medication.label} (antiretroviral), {med.status}", med.recorded)
            )
            reasons.append(f"antiretroviral {med.medication.label}")
    benzos = value_set("benzodiazepines")
    for allergy in ctx.record.allergies:
        if allergy.clinical_status in _INACTIVE_ALLERGY or allergy.verification_status in EXCLUDED_VERIFICATION:
            continue
        if benzos.contains(allergy.code):
            evidence.append(Evidence(allergy.reference, f"Allergy/intolerance: {allergy.code.label}", allergy.recorded))
            reasons.append(f"{allergy.code.label} allergy")
    if not reasons:
        return [
            not_applicable("CI-RESCUE", "No HIV antiretroviral, myasthenia gravis or benzodiazepine allergy on record")
        ]
    first = reasons[0][:60] if len(reasons) == 1 else f"{reasons[0][:50]} and {len(reasons) - 1} more"
    return [
        fired(
            "CI-RESCUE",
            "warning",
            f"Benzodiazepine rescue may be limited ({first}): may not be a good ketamine candidate",
            "Benzodiazepines are the first-line treatment for ketamine's psychomimetic effects. ASRA Q2: patients with "
            "relative contraindications to rescue medications such as benzodiazepines (some HIV antiretrovirals, "
            "poorly controlled myasthenia gravis, history of adverse reaction) **may not be good candidates** for "
            "ketamine. Found: " + "; ".join(reasons) + ". Plan an alternative rescue (e.g. clonidine) if proceeding.",
            evidence,
            wording="may not be good candidates",
        )
    ]
