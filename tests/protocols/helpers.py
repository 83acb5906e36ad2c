"""Shared builders for protocol tests: safety findings as the safety engine emits them, and resource look-ups."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from smart_app.config import LocalDefaults
from smart_app.core.outcomes import Citation, Outcome, PlanKey, Severity
from smart_app.core.protocols import Protocol, ProtocolAssessment
from smart_app.core.protocols import assess_protocol as _assess_protocol
from smart_app.core.protocols import assess_protocols as _assess_protocols
from smart_app.fhir import orders
from smart_app.fhir.orders import OrderSet

SETTINGS = LocalDefaults()

ASRA_T6 = Citation("ASRA", "Table 6", "L1678-1686", "Grade C, low certainty")
ANZCA_223 = Citation("ANZCA-PS", "2.2.3", "L173-181")


def finding(rule_id: str, severity: Severity, summary: str, *plans: PlanKey) -> Outcome:
    """A fired outcome as the safety engine emits it."""
    return Outcome(
        rule_id=rule_id,
        status="fired",
        severity=severity,
        summary=summary,
        detail=summary,
        citations=(ASRA_T6 if rule_id.startswith("PRE-") else ANZCA_223,),
        plans=plans,
    )


def ecg_finding() -> Outcome:
    return finding("PRE-ECG", "info", "Hypertension, no 12-lead ECG in 180 days: consider a baseline ECG", "order-ecg")


def lft_finding() -> Outcome:
    return finding(
        "PRE-LFT",
        "info",
        "Chronic hepatitis C: consider baseline and post-infusion LFTs",
        "order-lft-baseline",
        "order-lft-post",
    )


def critical_cv() -> Outcome:
    return finding("CI-CV", "critical", "Poorly controlled hypertension (172/104 mmHg): ketamine should not be used")


def ketamine_request(order_set: OrderSet) -> dict[str, Any]:
    first = order_set.medication_requests[0]
    assert "ketamine" in first["medicationCodeableConcept"]["text"]
    return first


def rate_mg_per_h(order_set: OrderSet) -> float:
    return float(ketamine_request(order_set)["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]["value"])


def loinc_codes(resources: tuple[dict[str, Any], ...]) -> list[str]:
    return [c["code"] for r in resources for c in r["code"].get("coding", [])]


def rxnorm_codes(resources: tuple[dict[str, Any], ...]) -> list[str]:
    return [c["code"] for r in resources for c in r["medicationCodeableConcept"].get("coding", [])]


def build_order_set(protocol_id: str, **kw: Any) -> OrderSet:
    """`smart_app.fhir.orders.build_order_set` with the shipped local defaults and a sample patient."""
    kw.setdefault("settings", SETTINGS)
    kw.setdefault("patient_reference", "Patient/example")
    if "findings" in kw:
        kw["outcomes"] = kw.pop("findings")
    return orders.build_order_set(protocol_id, **kw)


def assess_protocols(
    weight_kg: float | None, age: int | None, outcomes: Sequence[Outcome] = (), **kw: Any
) -> tuple[ProtocolAssessment, ...]:
    return _assess_protocols(weight_kg, age, outcomes, kw.pop("settings", SETTINGS), **kw)


def assess_protocol(
    protocol: Protocol, weight_kg: float | None, age: int | None, outcomes: Sequence[Outcome] = (), **kw: Any
) -> ProtocolAssessment:
    return _assess_protocol(protocol, weight_kg, age, outcomes, kw.pop("settings", SETTINGS), **kw)
