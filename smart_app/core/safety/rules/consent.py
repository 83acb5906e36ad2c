"""CI-CONSENT: written informed consent for "conditional off-label" use (ANZCA PS12 1.4; ASRA Table 5).

Records rarely carry a consent category specific to off-label ketamine, and no such code is verified. So any
Consent with status active and a permit provision (or none) is accepted as *a* consent on file, and the finding
asks the clinician to confirm it is the written off-label ketamine consent. An active Consent whose provision is
deny records refusal, which ASRA Table 5 lists as a contraindication.
"""

from __future__ import annotations

from smart_app.core.model import ConsentRecord
from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_evaluable, satisfied


def _evidence(c: ConsentRecord) -> Evidence:
    scope = f", scope {c.scope.label}" if c.scope else ""
    category = f", category {', '.join(x.label for x in c.category)}" if c.category else ""
    return Evidence(
        c.reference, f"Consent ({c.status}, {c.provision_type or 'no provision'}{scope}{category})", c.date_time
    )


def check(ctx: SafetyContext) -> list[Outcome]:
    active = [c for c in ctx.record.consents if c.status == "active" and (c.date_time is None or c.date_time <= ctx.on)]
    refused = [c for c in active if c.provision_type == "deny"]
    permits = [c for c in active if c.provision_type != "deny"]
    if refused and not permits:
        return [
            fired(
                "CI-CONSENT",
                "critical",
                "Consent refused (active Consent with a deny provision): refusal is a contraindication",
                "An active Consent on record denies treatment. ASRA Table 5 lists refusal or inability to consent as a "
                "contraindication; ANZCA PS12 1.4 requires written informed consent for this conditional off-label "
                "use. Confirm what the Consent covers before proceeding.",
                [_evidence(c) for c in refused],
                wording="contraindication (refusal or inability to consent)",
            )
        ]
    if permits:
        return [
            satisfied(
                "CI-CONSENT",
                "Consent on file: confirm it is written consent to conditional off-label ketamine",
                [_evidence(c) for c in permits],
                detail="An active Consent is on record. No code identifies consent to off-label ketamine "
                "specifically, so confirm it is the written informed consent ANZCA PS12 1.4 requires, emphasising "
                "that this use is 'conditional off-label' and subject to the development of evidence.",
            )
        ]
    return [
        not_evaluable(
            "CI-CONSENT",
            "No Consent resource on record: obtain written consent to conditional off-label ketamine",
            [Missing("consent-record", "no active Consent resource in the record")],
            detail="ANZCA PS12 1.4: practitioners **must obtain written informed consent** in which it is emphasised "
            "that this use is 'conditional off-label' and subject to the development of evidence. ASRA Table 5 lists "
            "refusal or inability to consent as a contraindication. Consent is usually documented outside FHIR, so "
            "this is a checklist item and an instruction of every protocol order set, not an alert.",
        )
    ]
