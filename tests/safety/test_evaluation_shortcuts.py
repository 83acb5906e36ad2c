"""Shortcuts of the evaluation that must not change an answer: the concentration memo (one patient's product never
answers for another's), the latest BP read in one pass (the newest panel, the first of equally new ones), and the BP
read once for the two rules that ask."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from smart_app.config import LocalDefaults
from smart_app.core.safety import evaluate
from smart_app.core.safety.ketamine_order import concentration
from smart_app.core.safety.vitals import latest_bp
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import alt, ast

ON = datetime(2026, 12, 1, 12, tzinfo=UTC)


def ketamine_bag(mg: float, ml: float, rid: str) -> dict[str, Any]:
    return f.medication_administration(
        None,
        f"ketamine {mg:g} mg in {ml:g} mL sodium chloride",
        rid=rid,
        dosage={"dose": {"value": 10, "unit": "mL", "code": "mL", "system": "http://unitsofmeasure.org"}},
    )


def test_the_concentration_of_each_product_is_its_own_whatever_was_asked_before() -> None:
    first = build_record([f.patient(), ketamine_bag(200, 50, "a"), ketamine_bag(100, 100, "b")]).medications
    again = build_record([f.patient(), ketamine_bag(100, 100, "c"), ketamine_bag(200, 50, "d")]).medications
    assert [concentration(m).mg_per_ml for m in first] == [4.0, 1.0]
    assert [concentration(m).mg_per_ml for m in again] == [1.0, 4.0]  # another patient, other order: no mix-up
    vial = build_record(
        [f.patient(), f.medication_administration("238082", "ketamine 10 MG/ML Injectable Solution")]
    ).medications[0]
    assert concentration(vial).mg_per_ml is None and "vial" in (concentration(vial).problem or "")


def test_the_latest_bp_is_the_newest_panel_or_same_time_singles() -> None:
    older = f.blood_pressure(150, 95, "2026-11-10T09:00:00Z")
    newest = f.blood_pressure(128, 82, "2026-11-20T09:00:00Z")
    same_time = f.blood_pressure(170, 100, "2026-11-20T09:00:00Z")  # equally new: the first in the record wins
    middle = f.blood_pressure(140, 90, "2026-11-15T09:00:00Z")
    record = build_record([f.patient(), older, newest, same_time, middle])
    reading = latest_bp(record, ON, 30)
    assert reading is not None and (reading.systolic, reading.diastolic) == (128, 82)
    assert [e.reference for e in reading.evidence] == [f"Observation/{newest['id']}"]
    assert reading.evidence[0].value == "128/82 mmHg"
    single = f.observation(
        "8480-6", "Systolic blood pressure", value=181, unit="mm[Hg]", effective="2026-11-25T09:00:00Z"
    )
    later = latest_bp(build_record([f.patient(), older, newest, single]), ON, 30)
    assert later is not None and (later.systolic, later.diastolic) == (181, None)
    assert latest_bp(build_record([f.patient(), older]), ON, 5) is None


def test_the_ecg_check_and_the_cardiovascular_rule_see_the_same_bp() -> None:
    bp = f.blood_pressure(176, 104, "2026-11-20T09:00:00Z")
    record = build_record([f.patient(), f.blood_pressure(120, 70, "2026-11-01T09:00:00Z"), bp])
    report = evaluate(record, on=ON, settings=LocalDefaults())
    cv = report.outcome("CI-CV")
    assert cv.status == "fired" and "176/104" in cv.summary
    (ecg,) = [t for t in report.baseline_tests if t.test == "ECG"]
    assert ecg.needed and any("BP 176/104 mmHg on 2026-11-20" in r for r in ecg.reasons)


def test_a_derived_fact_is_worked_out_once_per_context_and_never_carried_to_another() -> None:
    from dataclasses import replace

    from smart_app.core.safety.context import SafetyContext
    from smart_app.core.safety.history import treatment_history

    record = build_record([f.patient()])
    ctx = SafetyContext(
        record=record,
        on=ON,
        settings=LocalDefaults(),
        age=50,
        weight=None,
        orders=(),
        history=treatment_history(record, ON, 365),
    )
    calls: list[datetime] = []

    def derive(c: SafetyContext) -> tuple[datetime, ...]:
        calls.append(c.on)
        return (c.on,)

    assert ctx.once(derive) == ctx.once(derive) == (ON,) and calls == [ON]
    later = replace(ctx, on=datetime(2027, 1, 1, tzinfo=UTC))
    assert later.once(derive) == (datetime(2027, 1, 1, tzinfo=UTC),)  # the copy derives its own
    assert len(calls) == 2


def test_the_hepatic_rule_and_the_lft_check_read_the_same_liver_tests() -> None:
    high_alt, high_ast = alt(400), ast(300)
    record = build_record([f.patient(), high_alt, high_ast])
    report = evaluate(record, on=ON, settings=LocalDefaults())
    (lft,) = [t for t in report.baseline_tests if t.test == "LFT"]
    refs = [f"Observation/{high_alt['id']}", f"Observation/{high_ast['id']}"]
    assert [e.reference for e in lft.satisfied_by] == refs
    assert lft.needed and any("abnormal liver tests: ALT, AST" in r for r in lft.reasons)
    hepatic = report.outcome("CI-HEP")
    assert hepatic.status == "fired" and [e.reference for e in hepatic.evidence][:2] == refs
