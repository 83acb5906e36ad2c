"""End to end: FHIR data -> safety engine findings -> protocol order set, as the CDS service and SMART app run it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart_app.core.safety import SafetyReport, evaluate
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.orders import OrderSet
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.protocols import helpers as h

ON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _order_set(*resources: dict[str, Any]) -> tuple[SafetyReport, OrderSet]:
    record = build_record(list(iter_resources(f.bundle(f.patient(birth_date="1975-03-02"), *resources))))
    report = evaluate(record, on=ON, settings=h.SETTINGS)
    return report, h.build_order_set(
        "asra-outpatient-single-infusion",
        weight_kg=report.weight_kg,
        age=report.age,
        findings=report.findings,
        on=ON,
    )


def test_poorly_controlled_hypertension_marks_protocol_and_orders_baseline_ecg() -> None:
    report, order_set = _order_set(
        f.weight(82),
        f.condition(f.SNOMED, "59621000", "Essential hypertension"),
        f.blood_pressure(172, 104),
    )
    assert report.weight_kg == 82
    assert order_set.status == "not-recommended"
    assert any(r.startswith("CI-CV") for r in order_set.reasons)
    assert "34534-8" in h.loinc_codes(order_set.service_requests)
    assert h.rate_mg_per_h(order_set) == 41  # 0.5 mg/kg/h x 82 kg, kept for a clinician who overrides


def test_healthy_patient_without_weight_gets_no_ketamine_dose() -> None:
    report, order_set = _order_set()
    assert report.weight_kg is None
    assert order_set.status == "cannot-compute"
    assert order_set.medication_requests == ()
