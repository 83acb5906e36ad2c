"""The MME timeline's segments over a varied record, exactly: each medication is assessed once and every segment's
report is made from those items (core/mme/timeline.py, `assess_medication` / `report_of`), so these pin what the
segments must be (totals, counted and left-out ids, duplicates between a statement and a request of the same product
within a segment), and that reusing today's assessments (`current`) never changes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from smart_app.config import LocalDefaults, MmeTable
from smart_app.core.assessment import assess
from smart_app.core.mme import calculate_mme
from smart_app.core.mme.engine import assess_medications, report_of, totals_of
from smart_app.core.mme.timeline import MmeTimeline, mme_timeline
from smart_app.core.model import MedicationUse
from smart_app.core.safety import evaluate
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = ON.date()
OXY5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
OXY_ER10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
MORPHINE15 = ("892582", "morphine sulfate 15 MG Oral Tablet")


def tabs(count: float, per_day: int) -> list[dict[str, Any]]:
    return [f.dosage(dose=f.dose_quantity(count), frequency=per_day)]


def step(sequence: int, count: float, per_day: int, days: int) -> dict[str, Any]:
    repeat = {"frequency": per_day, "period": 1, "periodUnit": "d", "boundsDuration": {"value": days, "code": "d"}}
    return {
        "sequence": sequence,
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": f.dose_quantity(count)}],
    }


def supply(days: int, repeats: int = 0) -> dict[str, Any]:
    return {"expectedSupplyDuration": {"value": days, "unit": "d", "code": "d"}, "numberOfRepeatsAllowed": repeats}


def varied() -> list[dict[str, Any]]:
    """Statements and requests of the same products, a renewal, tapers, a dose that cannot be computed, and
    records that cannot be placed."""
    return [
        # 5 mg oxycodone 1 tab qid (30 MME/day), 2 x 14 days' supply: 2026-03-01..03-28
        f.medication_request(*OXY5, dosages=tabs(1, 4), status="completed", rid="a-oxy", authoredOn="2026-03-01",
                             dispenseRequest=supply(14, 1)),
        # the same product stated, bid (15 MME/day): a duplicate of a-oxy while both are taken, then counted
        f.medication_statement(*OXY5, dosages=tabs(1, 2), status="completed", rid="b-oxy",
                               effectivePeriod={"start": "2026-03-15", "end": "2026-04-10"}),
        # a morphine taper that ended: 60 then 30 MME/day, 7 + 7 days (each step charted on its own days)
        f.medication_request(*MORPHINE15, dosages=[step(1, 1, 4, 7), step(2, 1, 2, 7)], status="completed",
                             rid="c-taper", authoredOn="2026-06-01"),
        # no timing: on the timeline, left out of its totals (2026-08-01..08-10)
        f.medication_request(*OXY5, dosages=[f.dosage(dose=f.dose_quantity(1))], status="completed", rid="d-notime",
                             authoredOn="2026-08-01", dispenseRequest=supply(10)),
        # ER oxycodone stated since 2026-10-20, tid (45 MME/day), still taken ...
        f.medication_statement(*OXY_ER10, dosages=tabs(1, 3), rid="e-er-stated",
                               effectivePeriod={"start": "2026-10-20"}),
        # ... and ordered bid (30 MME/day) from 2026-11-01: from then on the order is used, the statement a duplicate
        f.medication_request(*OXY_ER10, dosages=tabs(1, 2), rid="f-er-order", authoredOn="2026-11-01"),
        # an active taper (morphine 2 tabs qid for 10 days, then 1 tab qid): each day charted at the step in force
        # on it (120 then 60 MME/day), as today's total is
        f.medication_request(*MORPHINE15, dosages=[step(1, 2, 4, 10), step(2, 1, 4, 10)], rid="g-taper-now",
                             authoredOn="2026-11-15"),
        # the draft being signed renews f-er-order: today's total counts it once, the timeline leaves drafts out
        f.medication_request(*OXY_ER10, dosages=tabs(1, 2), status="draft", rid="h-draft",
                             priorPrescription={"reference": "MedicationRequest/f-er-order"}),
        # cannot be placed: status unknown; a statement with no date at all
        f.medication_request(*OXY5, dosages=tabs(1, 4), status="unknown", rid="i-unknown"),
        {**f.medication_statement(*MORPHINE15, dosages=tabs(1, 1), status="completed", rid="j-undated"),
         "dateAsserted": None},
    ]  # fmt: skip


def medications(resources: list[dict[str, Any]]) -> tuple[MedicationUse, ...]:
    clean = [{k: v for k, v in r.items() if v is not None} for r in resources]
    draft_ids = {r["id"] for r in clean if r.get("status") == "draft"}
    drafts = [r for r in clean if r["id"] in draft_ids]
    return build_record([f.patient(), *clean], draft_orders=drafts).medications


def rows(t: MmeTimeline) -> list[tuple[date, date, float | None, tuple[str, ...], tuple[str, ...], bool]]:
    def short(refs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(r.split("/")[1] for r in refs)

    return [(s.first_day, s.last_day, s.total, short(s.counted), short(s.left_out), s.assumed) for s in t.segments]


EXPECTED = [
    (date(2025, 12, 2), date(2026, 2, 28), 0.0, (), (), False),
    (date(2026, 3, 1), date(2026, 3, 28), 30.0, ("a-oxy",), (), True),  # b-oxy from 03-15: a duplicate of a-oxy
    (date(2026, 3, 29), date(2026, 4, 10), 15.0, ("b-oxy",), (), False),
    (date(2026, 4, 11), date(2026, 5, 31), 0.0, (), (), False),
    (date(2026, 6, 1), date(2026, 6, 7), 60.0, ("c-taper",), (), False),  # the completed taper's step 1 ...
    (date(2026, 6, 8), date(2026, 6, 14), 30.0, ("c-taper",), (), False),  # ... and its step 2, each on its days
    (date(2026, 6, 15), date(2026, 7, 31), 0.0, (), (), False),
    (date(2026, 8, 1), date(2026, 8, 10), None, (), ("d-notime",), False),
    (date(2026, 8, 11), date(2026, 10, 19), 0.0, (), (), False),
    (date(2026, 10, 20), date(2026, 10, 31), 45.0, ("e-er-stated",), (), False),
    (date(2026, 11, 1), date(2026, 11, 14), 30.0, ("f-er-order",), (), False),  # e-er-stated: duplicate
    (date(2026, 11, 15), date(2026, 11, 24), 150.0, ("f-er-order", "g-taper-now"), (), False),  # taper step 1
    (date(2026, 11, 25), TODAY, 90.0, ("f-er-order", "g-taper-now"), (), False),  # step 2 from its 10 days' end
]


def test_the_segments_of_a_varied_record_are_exactly_these() -> None:
    t = mme_timeline(medications(varied()), on=ON, settings=LocalDefaults())
    assert rows(t) == EXPECTED
    assert [u.reference.split("/")[1] for u in t.unplaced] == ["i-unknown", "j-undated"]
    taper = [s for s in t.spans if s.reference.endswith("/g-taper-now")]
    assert [(s.first_day, s.last_day, s.ongoing, s.mme_per_day, s.item.step) for s in taper] == [
        (date(2026, 11, 15), date(2026, 11, 24), False, 120.0, "step 1 of 2 (sequence 1)"),
        (date(2026, 11, 25), TODAY, True, 60.0, "step 2 of 2 (sequence 2)"),
    ]
    spans = {s.reference.split("/")[1]: s for s in t.spans}  # the taper: its last span, today's step
    assert sorted(spans) == ["a-oxy", "b-oxy", "c-taper", "d-notime", "e-er-stated", "f-er-order", "g-taper-now"]
    # each span carries the medication's own item, never marked duplicate (it is one medication on its own)
    assert {k: s.mme_per_day for k, s in spans.items()} == {
        "a-oxy": 30.0,
        "b-oxy": 15.0,
        "c-taper": 30.0,
        "d-notime": None,
        "e-er-stated": 45.0,
        "f-er-order": 30.0,
        "g-taper-now": 60.0,
    }
    assert all(s.item.status != "duplicate" for s in t.spans)
    assert spans["c-taper"].item.step == "step 2 of 2 (sequence 2)"  # its last span: the step it ended on
    assert "no timing" in (spans["d-notime"].item.reason or "")


def test_today_reused_assessments_give_the_same_timeline() -> None:
    """Today's assessments (with the renewal marked and the active taper at its current step) handed to the
    timeline change nothing: only medications whose figure does not depend on the day are reused, and before
    de-duplication."""
    meds = medications(varied())
    settings = LocalDefaults()
    current = assess_medications(meds, table=settings.mme_table, on=ON)
    today = calculate_mme(meds, table=settings.mme_table, on=ON)
    by_id = {i.id.split("/")[1]: i for i in today.items}
    assert by_id["f-er-order"].status == "duplicate"  # renewed by the draft today ...
    assert by_id["g-taper-now"].step == "step 2 of 2 (sequence 2)"  # ... and the taper is at its second step
    plain = mme_timeline(meds, on=ON, settings=settings)
    reused = mme_timeline(meds, on=ON, settings=settings, current=current)
    assert reused == plain
    assert rows(reused) == EXPECTED
    with pytest.raises(ValueError):
        mme_timeline(meds, on=ON, settings=settings, current=current[:-1])


@pytest.mark.parametrize("table", ["cdc-2022", "cdc-2016", "anzca-2021"])
def test_each_segment_is_the_mme_report_of_the_medications_taken_on_its_days(table: MmeTable) -> None:
    """The plain path: every segment's figures equal `calculate_mme` over the medications taken on its first day
    (each as current, a taper at the step in force on that day at the calculation's time), for every table."""
    meds = medications(varied())
    settings = LocalDefaults(mme_table=table)
    t = mme_timeline(meds, on=ON, settings=settings)
    by_ref = {m.reference: m for m in meds}
    for segment in t.segments:
        taken = [by_ref[s.reference] for s in t.spans_on(segment.first_day)]
        day = datetime.combine(segment.first_day, ON.timetz())
        report = calculate_mme([replace(m, status="active", effective=None) for m in taken], table=table, on=day)
        assert segment.total == (report.total_mme_per_day if taken else 0.0)
        assert segment.counted == tuple(i.id for i in report.counted)
        assert segment.left_out == tuple(i.id for i in report.left_out)


def test_the_assessment_builds_the_same_timeline_as_the_plain_one() -> None:
    """Through `assess` (which hands its assessments to the rules' timeline): the course rules see the same
    timeline, so the outcomes equal those of an evaluation that builds the timeline on its own."""
    record = build_record(
        [f.patient(), *({k: v for k, v in r.items() if v is not None} for r in varied() if r["id"] != "h-draft")]
    )
    settings = LocalDefaults()
    via_assess = assess(record, on=ON, settings=settings)
    plain = evaluate(record, on=ON, settings=settings, mme=via_assess.mme)
    assert via_assess.safety == plain


@pytest.mark.parametrize("on", [ON, None])
def test_totals_of_is_what_the_report_of_the_same_assessments_totals(on: datetime | None) -> None:
    """With the draft's renewal, statement duplicates, a not-computable dose and subsets of every size."""
    meds = medications(varied())
    assessed = [a for a in assess_medications(meds, on=on) if a is not None]
    for size in range(len(assessed) + 1):
        for start in range(len(assessed) - size + 1):
            part = assessed[start : start + size]
            report = report_of(part)
            expected = (
                report.total_mme_per_day,
                tuple(i.id for i in report.counted),
                tuple(i.id for i in report.left_out),
            )
            assert totals_of(part) == expected
    assert any(i.status == "duplicate" for i in report_of(assessed).items)
