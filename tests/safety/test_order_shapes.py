"""Ketamine orders written the way EHRs write them (issue 10, "Orders"), through the one use case `assess`.

Each test is one shape: every doseAndRate entry (typed and untyped), every dosage instruction by sequence, ranges,
routes from codes, concentrations only when the order states them, durations from bounds, sessions from count.
"""

from __future__ import annotations

from typing import Any

import pytest

from smart_app.core.assessment import Assessment, assess
from smart_app.core.outcomes import Outcome
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import MR_CATEGORY, ON, SETTINGS

V3_ROUTE = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
DOSE_RATE_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"
IV = {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")], "text": "Intravenous"}


def q(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": f.UCUM, "code": unit}


def rate(value: float, unit: str = "mg/kg/h", kind: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"rateQuantity": q(value, unit)}
    if kind:
        entry["type"] = {"coding": [f.coding(DOSE_RATE_TYPE, kind)]}
    return entry


def dose(value: float, unit: str = "mg/kg") -> dict[str, Any]:
    return {"doseQuantity": q(value, unit)}


def instruction(*entries: dict[str, Any], hours: float | None = 4, sequence: int | None = None, **extra: Any) -> dict:
    d: dict[str, Any] = {"route": IV, "doseAndRate": list(entries), **extra}
    if hours is not None:
        d["timing"] = {"repeat": {"duration": hours, "durationUnit": "h"}}
    if sequence is not None:
        d["sequence"] = sequence
    return d


def draft(
    *dosages: dict[str, Any],
    code: tuple[str, str] = ("238082", "ketamine 10 MG/ML Injectable Solution"),
    rid: str = "draft-ket",
    **extra: Any,
) -> dict[str, Any]:
    extra.setdefault("category", [{"coding": [f.coding(MR_CATEGORY, "inpatient")]}])
    return f.medication_request(*code, dosages=list(dosages), status="draft", rid=rid, **extra)


def assessed(*drafts: dict[str, Any], history: tuple[dict[str, Any], ...] = ()) -> Assessment:
    record = build_record([f.patient("1975-05-01"), f.weight(70), *history], draft_orders=list(drafts))
    assert not record.problems, record.problems
    return assess(record, drafts=[m for m in record.medications if m.is_draft_order], on=ON, settings=SETTINGS)


def outcome(a: Assessment, rule: str, subject: str = "MedicationRequest/draft-ket") -> Outcome:
    return a.safety.outcome(rule, subject)


def test_a_bolus_entry_then_a_rate_entry_reads_both() -> None:
    a = assessed(draft(instruction(dose(0.2), rate(3))))
    assert outcome(a, "DOSE-RATE").severity == "critical"
    assert outcome(a, "DOSE-BOLUS").status == "satisfied"
    order = a.ketamine_orders[0]
    assert order.total_mg(70) == pytest.approx(0.2 * 70 + 3 * 70 * 4)


def test_typed_entries_prefer_the_ordered_dose() -> None:
    """Epic states one rate three ways: ordered (mg/kg/h), calculated (mg/h) and admin-amount (mL/h)."""
    a = assessed(
        draft(instruction(rate(0.5, kind="ordered"), rate(35, "mg/h", "calculated"), rate(3.5, "mL/h", "admin-amount")))
    )
    order = a.ketamine_orders[0]
    assert order.problems == ()
    assert outcome(a, "DOSE-RATE").status == "satisfied"
    assert order.rate is not None and order.rate.mg_per_kg(70) == pytest.approx(0.5)


def test_an_unreadable_ordered_dose_falls_back_to_the_calculated_one_and_says_so() -> None:
    a = assessed(draft(instruction(rate(35, "mL/h", "ordered"), rate(210, "mg/h", "calculated"))))
    checked = outcome(a, "DOSE-RATE")
    assert checked.severity == "critical"  # 210 mg/h at 70 kg = 3 mg/kg/h
    assert any("calculated dose is read instead" in e.value for e in checked.evidence if e.value)


def test_sequential_instructions_are_steps_and_the_highest_is_judged() -> None:
    a = assessed(draft(instruction(rate(0.5), hours=2, sequence=1), instruction(rate(3), hours=2, sequence=2)))
    checked = outcome(a, "DOSE-RATE")
    assert checked.severity == "critical"
    assert "step 2 of 2" in checked.evidence[0].value
    assert a.ketamine_orders[0].total_mg(70) == pytest.approx((0.5 + 3) * 70 * 2)


def test_a_loading_dose_step_then_an_infusion_step() -> None:
    a = assessed(draft(instruction(dose(0.3), hours=None, sequence=1), instruction(rate(0.5), hours=4, sequence=2)))
    assert outcome(a, "DOSE-BOLUS").status == "satisfied"
    assert outcome(a, "DOSE-RATE").status == "satisfied"
    assert outcome(a, "DOSE-MIN").status == "satisfied"
    assert a.ketamine_orders[0].total_mg(70) == pytest.approx(0.3 * 70 + 0.5 * 70 * 4)


def test_a_rate_range_is_judged_at_its_maximum_and_says_so() -> None:
    ranged = {"rateRange": {"low": q(0.1, "mg/kg/h"), "high": q(3, "mg/kg/h")}}
    checked = outcome(assessed(draft(instruction(ranged))), "DOSE-RATE")
    assert checked.severity == "critical"
    assert "top of the range" in checked.evidence[0].value


def test_a_dose_range_is_judged_at_its_maximum() -> None:
    ranged = {"doseRange": {"low": q(0.2, "mg/kg"), "high": q(0.5, "mg/kg")}}
    checked = outcome(assessed(draft(instruction(ranged, hours=None))), "DOSE-BOLUS")
    assert checked.fired and "0.50 mg/kg" in checked.summary


def test_a_range_without_an_upper_limit_is_not_evaluable() -> None:
    ranged = {"rateRange": {"low": q(0.1, "mg/kg/h")}}
    checked = outcome(assessed(draft(instruction(ranged))), "DOSE-RATE")
    assert checked.status == "not-evaluable"
    assert "no upper limit" in checked.missing[0].reason


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        ({"coding": [{"system": f.SNOMED, "code": "404820008"}]}, "epidural"),
        ({"coding": [{"system": V3_ROUTE, "code": "IT"}]}, "intrathecal"),
        ({"coding": [{"system": V3_ROUTE, "code": "EPIDURINJ"}]}, "epidural"),
        ({"text": "IT"}, "intrathecal"),
        ({"coding": [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.4.698288.330", "code": "IT"}]}, "intrathecal"),
        ({"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")], "text": "Epidural"}, "epidural"),
        ({"coding": [{"system": f.SNOMED, "code": "72607000"}]}, "intrathecal"),
        ({"coding": [{"system": f.SNOMED, "code": "417070009"}]}, "epidural"),
    ],
    ids=[
        "snomed-no-display",
        "v3-IT",
        "v3-EPIDURINJ",
        "text-IT",
        "ehr-local-IT",
        "iv-code-epidural-text",
        "snomed-intrathecal",
        "snomed-caudal",
    ],
)
def test_neuraxial_routes_from_codes_and_identifiers(route: dict[str, Any], expected: str) -> None:
    a = assessed(draft(instruction(rate(0.5), route=route)))
    checked = outcome(a, "ROUTE-NEURAX")
    assert checked.severity == "critical"
    assert a.ketamine_orders[0].route == expected
    assert outcome(a, "DOSE-RATE").status == "not-applicable"  # the route is advised against: no IV range applied


def test_snomed_intramuscular_is_read_and_intrauterine_is_not_mistaken_for_epidural() -> None:
    im = assessed(draft(instruction(rate(0.5), route={"coding": [{"system": f.SNOMED, "code": "78421000"}]})))
    assert im.ketamine_orders[0].route == "intramuscular"
    uterine = assessed(draft(instruction(rate(0.5), route={"coding": [{"system": f.SNOMED, "code": "62226000"}]})))
    assert uterine.ketamine_orders[0].route != "epidural"
    assert outcome(uterine, "ROUTE-NEURAX").status != "fired"


def test_an_unrecognised_route_code_is_named_not_read_as_intravenous() -> None:
    a = assessed(draft(instruction(rate(0.5), route={"coding": [{"system": f.SNOMED, "code": "999999999"}]})))
    checked = outcome(a, "ROUTE-NEURAX")
    assert checked.status == "not-evaluable"
    assert "SNOMED CT 999999999" in checked.missing[0].reason
    assert a.ketamine_orders[0].route is None


def test_subcutaneous_rates_are_judged_against_the_subcutaneous_range() -> None:
    sc = {"coding": [{"system": V3_ROUTE, "code": "SQINFUS"}]}
    low = assessed(draft(instruction(rate(0.3), route=sc)))
    assert outcome(low, "DOSE-RATE").status == "satisfied"  # IV: 'below ASRA's range'; SC: 0.1-1.2 mg/kg/h
    assert outcome(low, "DOSE-MIN").status == "not-applicable"
    high = outcome(assessed(draft(instruction(rate(1.5), route=sc))), "DOSE-RATE")
    assert high.severity == "warning" and "subcutaneous range" in high.summary
    assert {c.document for c in high.citations} == {"ASRA", "ISCRR"}


def test_an_intramuscular_bolus_is_not_judged_against_the_iv_bolus_limit() -> None:
    im = {"coding": [{"system": V3_ROUTE, "code": "IM"}]}
    a = assessed(draft(instruction(dose(0.4), hours=None, route=im)))
    assert outcome(a, "DOSE-BOLUS").status == "satisfied"  # IV: above 0.35 mg/kg; IM (ASRA Table 1): 0.1-0.5 mg/kg
    over = outcome(assessed(draft(instruction(dose(0.8), hours=None, route=im))), "DOSE-BOLUS")
    assert over.severity == "warning" and "intramuscular range" in over.summary


def test_routes_the_sources_give_no_range_for_say_so() -> None:
    im = {"coding": [{"system": V3_ROUTE, "code": "IM"}]}
    checked = outcome(assessed(draft(instruction(rate(0.5), route=im))), "DOSE-RATE")
    assert checked.status == "not-evaluable" and "not covered by the sources' ranges" in checked.summary
    topical = outcome(assessed(draft(instruction(dose(50, "mg"), hours=None, route={"text": "Topical"}))), "DOSE-BOLUS")
    assert topical.status == "not-evaluable" and topical.missing[0].need == "dose-range"


def test_ml_rates_of_a_vial_coded_order_are_not_converted_with_the_vial_strength() -> None:
    checked = outcome(assessed(draft(instruction(rate(3.5, "mL/h")))), "DOSE-RATE")
    assert checked.status == "not-evaluable"
    assert checked.missing[0].need == "order-concentration"
    assert "10 mg/mL vial" in checked.missing[0].reason


def test_a_1_mg_per_ml_bag_coded_as_the_100_mg_per_ml_vial_is_ambiguous_not_50_mg_per_kg_per_h() -> None:
    order = draft(instruction(rate(35, "mL/h")))
    order["medicationCodeableConcept"] = {
        "coding": [f.coding(f.RXNORM, "238083", "ketamine 100 MG/ML Injectable Solution")],
        "text": "ketamine 1 mg/mL in sodium chloride 0.9% 100 mL bag",
    }
    a = assessed(order)
    checked = outcome(a, "DOSE-RATE")
    assert checked.status == "not-evaluable", checked.summary
    assert "ambiguous" in checked.missing[0].reason
    assert not any(o.severity == "critical" for o in a.findings)
    assert any("RxNorm 238083" in n for n in a.ketamine_orders[0].notes)


def test_ml_rates_with_the_stated_ingredient_strength_are_converted() -> None:
    contained = {
        "resourceType": "Medication",
        "id": "bag",
        "code": {"text": "ketamine in sodium chloride 0.9%"},
        "ingredient": [
            {
                "itemCodeableConcept": f.rxnorm("6130", "ketamine"),
                "strength": {"numerator": q(1, "mg"), "denominator": q(1, "mL")},
            }
        ],
    }
    order = draft(instruction(rate(35, "mL/h")), medicationReference={"reference": "#bag"}, contained=[contained])
    a = assessed(order)
    assert outcome(a, "DOSE-RATE").status == "satisfied"
    assert a.ketamine_orders[0].rate is not None and a.ketamine_orders[0].rate.mg(None) == pytest.approx(35)


def test_bounds_period_is_the_duration_of_one_infusion() -> None:
    timing = {"repeat": {"boundsPeriod": {"start": "2026-11-22T08:00:00Z", "end": "2026-11-22T12:00:00Z"}}}
    a = assessed(draft(instruction(rate(35, "mg/h"), hours=None, timing=timing)))
    assert a.ketamine_orders[0].duration_h == pytest.approx(4)
    assert outcome(a, "DOSE-MIN").status == "satisfied"


def _past(day: int) -> dict[str, Any]:
    when = f"2026-0{day}-01T09:00:00Z"
    return f.medication_administration("238082", "ketamine 10 MG/ML Injectable Solution", effective=when)


def test_a_drafts_count_of_sessions_counts_toward_treatments_per_year() -> None:
    repeat = {"count": 5, "frequency": 1, "period": 1, "periodUnit": "wk", "duration": 4, "durationUnit": "h"}
    timing = {"repeat": repeat}
    a = assessed(draft(instruction(rate(0.5), hours=None, timing=timing)), history=(_past(3), _past(5)))
    freq = a.safety.outcome("FREQ")
    assert freq.fired and freq.summary.startswith("7 ketamine treatments")


def test_a_frequency_over_a_course_counts_its_sessions() -> None:
    timing = {
        "repeat": {
            "frequency": 1,
            "period": 1,
            "periodUnit": "d",
            "duration": 4,
            "durationUnit": "h",
            "boundsDuration": {"value": 7, "unit": "d", "system": f.UCUM, "code": "d"},
        }
    }
    a = assessed(draft(instruction(rate(0.5), hours=None, timing=timing)))
    assert a.ketamine_orders[0].sessions == 7
    assert a.safety.outcome("FREQ").fired


def test_two_identical_drafts_count_as_two_treatments() -> None:
    one = draft(instruction(rate(0.5)), rid="ket-1")
    two = draft(instruction(rate(0.5)), rid="ket-2")
    history = tuple(_past(m) for m in (2, 3, 4, 5, 6))
    a = assessed(one, two, history=history)
    assert a.safety.outcome("FREQ").summary.startswith("7 ketamine treatments")


def test_an_order_that_could_not_be_read_is_not_evaluable_for_every_dose_rule() -> None:
    record = build_record([f.patient(), f.weight(70)], draft_orders=[draft(instruction(rate(0.5)))])
    from dataclasses import replace

    med = replace(record.medications[0], unreadable="invalid FHIR at dosageInstruction.0.timing", dosages=())
    a = assess(record, drafts=[med], on=ON, settings=SETTINGS)
    for rule in ("DOSE-BOLUS", "DOSE-RATE", "DOSE-MIN", "ROUTE-NEURAX"):
        checked = a.safety.outcome(rule, med.reference)
        assert checked.status == "not-evaluable", rule
        assert "could not be read" in checked.missing[0].reason
