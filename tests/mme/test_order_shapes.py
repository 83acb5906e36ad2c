"""Opioid orders as EHRs write them (issue 10, "Orders"), through the one use case `assess`: sequences (tapers),
concurrent instructions, typed doseAndRate entries, renewals, identical drafts, a code that contradicts its name,
a draft that could not be read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.assessment import Assessment, assess
from smart_app.core.model import MedicationUse
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

ON = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OXY_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"


def q6h(tablets: float, *, sequence: int | None = None, days: float | None = None, **extra: Any) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": 1, "period": 6, "periodUnit": "h"}
    if days is not None:
        repeat["boundsDuration"] = {"value": days, "unit": "d", "system": f.UCUM, "code": "d"}
    d = f.dosage(dose=f.dose_quantity(tablets), timing={"repeat": repeat}, **extra)
    if sequence is not None:
        d["sequence"] = sequence
    return d


def oxy(*dosages: dict[str, Any], status: str = "draft", rid: str = "draft-oxy", **extra: Any) -> dict[str, Any]:
    return f.medication_request(*OXY_5, dosages=list(dosages), status=status, rid=rid, **extra)


def assessed(*drafts: dict[str, Any], record: tuple[dict[str, Any], ...] = ()) -> Assessment:
    built = build_record([f.patient(), *record], draft_orders=list(drafts))
    assert not built.problems, built.problems
    drafts_read = [m for m in built.medications if m.is_draft_order]
    return assess(built, drafts=drafts_read, on=ON, settings=LocalDefaults())


def test_a_taper_counts_its_current_step_not_the_sum_of_its_steps() -> None:
    """10 mg q6h then 5 mg q6h: 60 MME/day now, not 90 (which would cross the 90 level falsely)."""
    a = assessed(oxy(q6h(2, sequence=1, days=7), q6h(1, sequence=2, days=7)))
    assert a.mme.total_mme_per_day == pytest.approx(60)
    (item,) = a.mme.items
    assert item.step == "step 1 of 2 (sequence 1)"
    assert item.highest_mme_per_day is None  # the current step is the highest
    assert "step 2 of 2 (sequence 2): 20.0 mg/day = 30.0 MME/day" in (item.derivation or "")


def test_an_escalation_states_its_highest_step() -> None:
    a = assessed(oxy(q6h(1, sequence=1), q6h(2, sequence=2)))
    (item,) = a.mme.items
    assert item.mme_per_day == pytest.approx(30)
    assert item.highest_mme_per_day == pytest.approx(60) and item.highest_step == "step 2 of 2 (sequence 2)"
    assert a.mme.highest_total == pytest.approx(60)


def test_an_active_taper_moves_to_the_step_in_force() -> None:
    active = oxy(q6h(2, sequence=1, days=7), q6h(1, sequence=2, days=7), status="active", rid="oxy-taper")
    active["authoredOn"] = "2026-11-10"  # step 1 ended on 2026-11-17
    a = assessed(record=(active,))
    (item,) = a.mme.items
    assert item.step == "step 2 of 2 (sequence 2)" and item.mme_per_day == pytest.approx(30)


def test_concurrent_instructions_add() -> None:
    morning = f.dosage(dose=f.dose_quantity(2), frequency=1, sequence=1)
    evening = f.dosage(dose=f.dose_quantity(1), frequency=1, sequence=1)
    a = assessed(oxy(morning, evening))
    assert a.mme.total_mme_per_day == pytest.approx((10 + 5) * 1.5)


def test_typed_entries_use_the_ordered_dose_and_fall_back_to_the_calculated_one() -> None:
    ingredient_only = {"coding": [f.coding(f.RXNORM, "7804", "oxycodone")], "text": "oxycodone"}
    dosage = {
        "route": {
            "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration", "code": "PO"}]
        },
        "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [
            {"type": {"coding": [f.coding(DOSE_RATE_TYPE, "ordered")]}, "doseQuantity": f.dose_quantity(1)},
            {"type": {"coding": [f.coding(DOSE_RATE_TYPE, "calculated")]}, "doseQuantity": f.dose_quantity(5, "mg")},
        ],
    }
    draft = f.medication_request(None, "oxycodone", dosages=[dosage], status="draft", rid="draft-oxy")
    draft["medicationCodeableConcept"] = ingredient_only
    (item,) = assessed(draft).mme.items
    assert item.status == "counted" and item.mme_per_day == pytest.approx(30)
    assert "calculated dose is used" in (item.derivation or "")


def test_ordered_and_calculated_entries_are_not_added() -> None:
    dosage = {
        "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [
            {"type": {"coding": [f.coding(DOSE_RATE_TYPE, "ordered")]}, "doseQuantity": f.dose_quantity(1)},
            {"type": {"coding": [f.coding(DOSE_RATE_TYPE, "calculated")]}, "doseQuantity": f.dose_quantity(5, "mg")},
        ],
    }
    assert assessed(oxy(dosage)).mme.total_mme_per_day == pytest.approx(30)


def test_a_renewal_draft_naming_its_prior_prescription_counts_once() -> None:
    active = oxy(q6h(2), status="active", rid="oxy-active")
    renewal = oxy(q6h(2), priorPrescription={"reference": "MedicationRequest/oxy-active"})
    a = assessed(renewal, record=(active,))
    assert a.mme.total_mme_per_day == pytest.approx(60)
    duplicate = next(i for i in a.mme.items if i.id == "MedicationRequest/oxy-active")
    assert duplicate.status == "duplicate" and "priorPrescription" in (duplicate.reason or "")
    assert a.mme_level.complete


def test_a_draft_identical_to_an_active_order_is_taken_as_its_renewal() -> None:
    a = assessed(oxy(q6h(2)), record=(oxy(q6h(2), status="active", rid="oxy-active"),))
    assert a.mme.total_mme_per_day == pytest.approx(60)
    duplicate = next(i for i in a.mme.items if i.id == "MedicationRequest/oxy-active")
    assert duplicate.status == "duplicate" and "add 60.0" in (duplicate.reason or "")


def test_a_changed_dose_is_not_a_renewal_and_both_count() -> None:
    a = assessed(oxy(q6h(1)), record=(oxy(q6h(2), status="active", rid="oxy-active"),))
    assert a.mme.total_mme_per_day == pytest.approx(90)


def test_two_identical_drafts_are_summed() -> None:
    a = assessed(oxy(q6h(2), rid="draft-1"), oxy(q6h(2), rid="draft-2"))
    assert a.mme.total_mme_per_day == pytest.approx(120)


def test_a_code_that_contradicts_its_display_is_named_not_taken() -> None:
    draft = oxy(q6h(1))
    draft["medicationCodeableConcept"] = {
        "coding": [f.coding(f.RXNORM, "1049621", "oxycodone hydrochloride 40 MG ER tablet")],
        "text": "oxycodone 40 mg ER",
    }
    a = assessed(draft)
    (item,) = a.mme.items
    assert item.status == "not-computable"
    assert "RxNorm 1049621" in (item.reason or "") and "extended release" in (item.reason or "")
    assert a.mme_level.calls_for_attention and not a.mme_level.complete


@pytest.mark.parametrize(
    "name",
    ["oxycodone 5 mg tablet", "OXYCODONE HCL 5 MG PO TABS", "oxycodone hydrochloride 5 MG Oral Tablet [Roxicodone]"],
)
def test_names_that_agree_with_their_code_are_no_conflict(name: str) -> None:
    draft = oxy(q6h(1))
    draft["medicationCodeableConcept"]["text"] = name
    (item,) = assessed(draft).mme.items
    assert item.status == "counted", item.reason


def test_a_draft_that_could_not_be_read_is_left_out_visibly() -> None:
    built = build_record([f.patient()], draft_orders=[oxy(q6h(2))])
    unread: MedicationUse = replace(built.medications[0], unreadable="invalid FHIR at dosageInstruction", dosages=())
    a = assess(replace(built, medications=(unread,)), drafts=[unread], on=ON, settings=LocalDefaults())
    (item,) = a.mme.items
    assert item.status == "not-computable" and "could not be read" in (item.reason or "")
    assert a.mme_level.level == "unknown" and not a.mme_level.complete
