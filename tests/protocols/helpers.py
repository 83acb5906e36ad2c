"""Shared builders for protocol tests: safety findings as the safety engine emits them, and resource look-ups."""

from __future__ import annotations

from typing import Any

from smart_app.core.findings import Citation, Finding, Severity
from smart_app.core.protocols import OrderSet

ASRA_T6 = Citation("ASRA", "Table 6", "L1678-1686", "Grade C, low certainty")
ANZCA_223 = Citation("ANZCA-PS", "2.2.3", "L173-181")


def finding(rule_id: str, severity: Severity, summary: str, *suggestions: str) -> Finding:
    return Finding(
        rule_id=rule_id,
        severity=severity,
        summary=summary,
        detail=summary,
        citations=(ASRA_T6 if rule_id.startswith("PRE-") else ANZCA_223,),
        suggestions=suggestions,
    )


def ecg_finding() -> Finding:
    return finding("PRE-ECG", "info", "Hypertension, no 12-lead ECG in 180 days: consider a baseline ECG", "order-ecg")


def lft_finding() -> Finding:
    return finding(
        "PRE-LFT",
        "info",
        "Chronic hepatitis C: consider baseline and post-infusion LFTs",
        "order-lft-baseline",
        "order-lft-post",
    )


def critical_cv() -> Finding:
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
