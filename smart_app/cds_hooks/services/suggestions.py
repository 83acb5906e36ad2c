"""Card suggestions: ServiceRequests for baseline tests (`any`), protocol order sets (`at-most-one`).

The tests and their codes come from the protocol catalogue (mappings/protocols.json, `service_requests`), the one
place that binds "baseline ECG" and "LFTs" to LOINC; the protocol orders from `smart_app.core.protocols`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smart_app.cds_hooks.cards import PROTOCOL_TOPIC, create_suggestion, fit_summary, new_uuid, source_for
from smart_app.cds_hooks.models import Card, Suggestion
from smart_app.cds_hooks.registry import ServiceCall
from smart_app.cds_hooks.services.common import link_for
from smart_app.core.findings import Finding
from smart_app.core.protocols import assess_protocols, build_order_set, suggested_protocols
from smart_app.mappings import read_json

DOSE_RULE_PREFIX = "DOSE-"


def _service_request(coding: dict[str, Any], text: str, note: str, patient_id: str | None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "proposal",
        "code": {"coding": [{k: coding[k] for k in ("system", "code", "display") if k in coding}], "text": text},
        "note": [{"text": note}],
    }
    if patient_id:
        request["subject"] = {"reference": f"Patient/{patient_id}"}
    return request


def tests_for(key: str, patient_id: str | None) -> tuple[str, list[dict[str, Any]]] | None:
    """(label, ServiceRequests) for a finding's suggestion key; None for keys that are not test orders."""
    catalogue = read_json("protocols.json")["service_requests"]
    if key == "order-ecg":
        ecg = catalogue["baseline_ecg"]
        return "Order baseline 12-lead ECG", [_service_request(ecg["coding"], ecg["text"], ecg["timing"], patient_id)]
    if key in ("order-lft-baseline", "order-lft-post"):
        lft = catalogue["lft"]
        baseline = key == "order-lft-baseline"
        timing = lft["baseline_timing"] if baseline else lft["post_timing"]
        names = ", ".join(t["text"] for t in lft["tests"])
        label = f"Order {'baseline' if baseline else 'post-infusion'} liver function tests ({names})"
        prefix = "Baseline" if baseline else "Post-infusion"
        return label, [_service_request(t, f"{prefix} {t['text']}", timing, patient_id) for t in lft["tests"]]
    return None


def test_suggestions(finding: Finding, call: ServiceCall) -> list[Suggestion]:
    suggestions = []
    for key in finding.suggestions:
        tests = tests_for(key, call.request.patient_id)
        if tests is not None:
            label, resources = tests
            suggestions.append(create_suggestion(label, resources, recommended=True))
    return suggestions


def wants_protocols(findings: Sequence[Finding], *, dose_checked: bool) -> bool:
    """Offer protocol order sets when the draft has no dose yet, its dose was flagged, or a rule asks for them."""
    if not dose_checked:
        return True
    return any(
        "protocol" in f.suggestions or (f.rule_id.startswith(DOSE_RULE_PREFIX) and f.severity != "info")
        for f in findings
    )


def protocol_card(
    findings: Sequence[Finding], weight_kg: float | None, call: ServiceCall, *, dose_checked: bool
) -> Card | None:
    """An info card offering the suitable guideline protocols (at most one may be chosen) to replace the draft."""
    if not wants_protocols(findings, dose_checked=dose_checked):
        return None
    age = call.record.demographics.age_on(call.on.date())
    options = suggested_protocols(assess_protocols(weight_kg, age, findings, call.defaults))
    patient = f"Patient/{call.request.patient_id}"
    suggestions: list[Suggestion] = []
    lines: list[str] = []
    for assessment in options:
        order_set = build_order_set(
            assessment.protocol.id,
            weight_kg=weight_kg,
            age=age,
            findings=findings,
            intent="proposal",
            patient_reference=patient,
            settings=call.defaults,
            on=call.on,
        )
        if not order_set.medication_requests:
            continue
        resources = [*order_set.medication_requests, *order_set.service_requests]
        title = assessment.protocol.title
        suggestions.append(
            create_suggestion(
                f"Order protocol: {title}",
                resources,
                recommended=not suggestions,  # dose: card detail
            )
        )
        caution = f" Caution: {'; '.join(assessment.reasons)}" if assessment.reasons else ""
        lines.append(f"- **{title}**: {order_set.dose_summary}.{caution}")
    if not suggestions:
        return None
    first = options[0].protocol.citations[0]
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(f"{len(suggestions)} guideline ketamine protocol(s) fit this patient; choose one to order"),
        indicator="info",
        detail="Protocol order sets computed for this patient's weight and findings (each replaces the draft "
        "only if you accept it):\n\n" + "\n".join(lines),
        source=source_for(first, PROTOCOL_TOPIC),
        suggestions=suggestions,
        selection_behavior="at-most-one",
        links=[link_for(call)],
    )
