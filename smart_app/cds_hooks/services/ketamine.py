"""Ketamine safety: the safety engine's findings for the draft ketamine order(s) as cards, with suggestions.

order-select runs the same rules as order-sign, except that the dose checks (mg/kg bolus and rate) are left out
while the selected draft carries no dose yet; they run at order-sign.
"""

from __future__ import annotations

from smart_app.cds_hooks.cards import finding_card
from smart_app.cds_hooks.registry import ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import current_mme, link_for
from smart_app.cds_hooks.services.suggestions import protocol_card, test_suggestions
from smart_app.core.findings import Finding
from smart_app.core.model import MedicationUse
from smart_app.core.safety import evaluate

# The checks of the ordered amount against body weight: meaningless while a selection carries no dose yet.
MG_PER_KG_RULES = frozenset({"DOSE-BOLUS", "DOSE-RATE", "DOSE-MIN"})


def has_dose(med: MedicationUse) -> bool:
    return any(
        dr.dose or dr.dose_high or dr.rate or dr.rate_high or dr.rate_ratio
        for dosage in med.dosages
        for dr in dosage.dose_and_rate
    )


def ketamine_cards(call: ServiceCall, *, dose_checks: bool) -> ServiceResult:
    mme = current_mme(call)
    report = evaluate(call.record, drafts=call.drafts, on=call.on, settings=call.defaults, mme=mme)
    findings: list[Finding] = list(report.findings)
    not_checked = list(report.not_checked)
    if not dose_checks:
        findings = [f for f in findings if f.rule_id not in MG_PER_KG_RULES]
        not_checked = [n for n in not_checked if "dose" not in n.lower()]
    link = link_for(call)
    cards = [finding_card(f, call.defaults, suggestions=test_suggestions(f, call), links=[link]) for f in findings]
    protocol = protocol_card(findings, report.weight_kg, call, dose_checked=dose_checks)
    if protocol is not None:
        cards.append(protocol)
    return ServiceResult(cards, tuple(not_checked))
