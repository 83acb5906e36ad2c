"""MME/day over time (core/mme/timeline.py) and the course history (core/course.py): periods as recorded or
assumed (and said so), totals by the one MME engine, today's segment equal to today's total."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.assessment import assess
from smart_app.core.course import course_history
from smart_app.core.mme.timeline import MmeTimeline, mme_timeline
from smart_app.fhir.bundle import iter_resources
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples" / "patients"
ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = ON.date()
OXY5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
OXY_ER10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
MORPHINE15 = ("892582", "morphine sulfate 15 MG Oral Tablet")


def qid() -> list[dict[str, Any]]:
    return [f.dosage(dose=f.dose_quantity(1), frequency=4)]  # 4 x 5 mg oxycodone = 20 mg = 30 MME/day


def timeline(*resources: dict[str, Any], **settings: Any) -> MmeTimeline:
    record = build_record([f.patient(), *resources])
    return mme_timeline(record.medications, on=ON, settings=LocalDefaults(**settings))


def sample(name: str) -> Any:
    return build_record(iter_resources(json.loads((SAMPLES / f"{name}.json").read_text())))


def test_a_completed_order_lasts_its_expected_supply_times_its_fills_and_says_it_was_assumed() -> None:
    order = f.medication_request(
        *OXY5,
        dosages=qid(),
        status="completed",
        authoredOn="2026-03-01",
        dispenseRequest={
            "numberOfRepeatsAllowed": 1,
            "expectedSupplyDuration": {"value": 2, "unit": "wk", "code": "wk"},
        },
    )
    t = timeline(order)
    (span,) = t.spans
    assert (span.first_day, span.last_day) == (date(2026, 3, 1), date(2026, 3, 28))  # 2 fills x 14 days
    assert span.basis == "supply-duration" and span.assumed and not span.ongoing
    assert "2 x 14 days' expected supply" in span.how and "assumed" in span.how
    assert span.mme_per_day == 30.0
    assert t.on(date(2026, 3, 10)).total == 30.0  # type: ignore[union-attr]
    assert t.on(date(2026, 3, 29)).total == 0.0  # type: ignore[union-attr]
    assert t.on(date(2026, 3, 10)).assumed  # type: ignore[union-attr]


def test_an_active_order_runs_until_today_as_todays_total_counts_it() -> None:
    order = f.medication_request(
        *OXY5,
        dosages=qid(),
        authoredOn="2026-06-01",
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}},
    )
    (span,) = timeline(order).spans
    assert span.ongoing and span.basis == "ongoing" and not span.assumed
    assert (span.first_day, span.last_day) == (date(2026, 6, 1), TODAY)


def test_a_recorded_period_is_used_as_recorded_and_a_bare_start_is_assumed_to_last_the_local_default() -> None:
    recorded = f.medication_statement(
        *MORPHINE15, dosages=qid(), status="completed", effectivePeriod={"start": "2026-02-01", "end": "2026-02-10"}
    )
    bare = f.medication_statement(*OXY5, dosages=qid(), status="stopped", effectiveDateTime="2026-05-01")
    t = timeline(recorded, bare, timeline_assumed_days=10)
    first, second = t.spans
    assert (first.basis, first.assumed, first.first_day, first.last_day) == (
        "recorded-period",
        False,
        date(2026, 2, 1),
        date(2026, 2, 10),
    )
    assert (second.basis, second.assumed, second.last_day) == ("assumed-length", True, date(2026, 5, 10))
    assert "assumed 10 days (local default, timeline_assumed_days)" in second.how


def test_dosage_bounds_and_the_validity_period() -> None:
    bounded = f.medication_request(
        *OXY5,
        dosages=[
            f.dosage(
                dose=f.dose_quantity(1),
                timing={
                    "repeat": {
                        "frequency": 4,
                        "period": 1,
                        "periodUnit": "d",
                        "boundsPeriod": {"start": "2026-04-01", "end": "2026-04-07"},
                    }
                },
            )
        ],
        status="completed",
        authoredOn="2026-03-30",
    )
    valid = f.medication_request(
        *OXY_ER10,
        dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)],
        status="completed",
        authoredOn="2026-07-01",
        dispenseRequest={"validityPeriod": {"start": "2026-07-01", "end": "2026-07-31"}},
    )
    t = timeline(bounded, valid)
    by_ref = {s.reference: s for s in t.spans}
    b, v = by_ref[f"MedicationRequest/{bounded['id']}"], by_ref[f"MedicationRequest/{valid['id']}"]
    assert (b.basis, b.assumed, b.first_day, b.last_day) == ("dosage-bounds", False, date(2026, 4, 1), date(2026, 4, 7))
    assert (v.basis, v.assumed, v.last_day) == ("validity-period", True, date(2026, 7, 31))


def test_a_completed_order_ends_before_today_even_if_its_supply_would_run_on() -> None:
    order = f.medication_request(
        *OXY5,
        dosages=qid(),
        status="completed",
        authoredOn="2026-11-20",
        dispenseRequest={"expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"}},
    )
    t = timeline(order)
    (span,) = t.spans
    assert span.last_day == date(2026, 11, 30) and "ends before today" in span.how
    assert t.on(TODAY).total == 0.0  # type: ignore[union-attr]


def test_what_is_not_opioid_use_over_time_is_left_out_and_unknown_status_is_listed() -> None:
    resources = [
        f.medication_request(*OXY5, dosages=qid(), intent="proposal"),
        f.medication_request(*OXY5, dosages=qid(), status="cancelled"),
        f.medication_request(*OXY5, dosages=qid(), status="entered-in-error"),
        f.medication_statement(*OXY5, dosages=qid(), status="intended"),
        f.medication_statement(*OXY5, dosages=qid(), status="not-taken"),
        f.medication_administration(*OXY5),
        f.medication_request("197361", "amlodipine 5 MG Oral Tablet", dosages=qid()),
    ]
    unknown = f.medication_statement(*MORPHINE15, dosages=qid(), status="unknown")
    t = timeline(*resources, unknown)
    assert t.spans == ()
    assert [u.reference for u in t.unplaced] == [f"MedicationStatement/{unknown['id']}"]
    assert "status unknown" in t.unplaced[0].reason
    assert not t.has_opioids


def test_a_medication_whose_dose_cannot_be_computed_is_on_the_timeline_but_left_out_of_its_totals() -> None:
    counted = f.medication_request(*OXY5, dosages=qid(), authoredOn="2026-09-01")
    no_dose = f.medication_statement(*MORPHINE15)  # asserted 2026-10-01, no dosage: its start is assumed
    t = timeline(counted, no_dose)
    september, today = t.on(date(2026, 9, 10)), t.on(TODAY)
    assert september is not None and september.total == 30.0 and september.complete
    assert today is not None and today.total == 30.0 and today.left_out == (f"MedicationStatement/{no_dose['id']}",)
    assert [s.assumed for s in t.spans] == [False, True]
    assert not today.assumed  # the total does not rest on the left-out statement's assumed period


def test_segments_cover_the_window_without_gaps() -> None:
    t = timeline(f.medication_request(*OXY5, dosages=qid(), status="completed", authoredOn="2026-05-01"))
    assert t.segments[0].first_day == t.first_day == date(2025, 12, 2)
    assert t.segments[-1].last_day == TODAY
    for before, after in pairwise(t.segments):
        assert (after.first_day - before.last_day).days == 1
    assert sum(s.days for s in t.segments) == 365


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_todays_segment_is_todays_total(path: Path) -> None:
    record = sample(path.stem)
    settings = LocalDefaults()
    report = assess(record, on=ON, settings=settings).mme
    today = mme_timeline(record.medications, on=ON, settings=settings).on(TODAY)
    assert today is not None
    assert today.total == (report.total_mme_per_day if report.items else 0.0)
    assert set(today.counted) == {i.id for i in report.counted}


def test_the_ketamine_series_sample_shows_the_taper_ketamine_treatments_and_pain_scores() -> None:
    history = course_history(sample("ketamine-series"), on=ON, settings=LocalDefaults())
    totals = [(s.first_day, s.total) for s in history.mme.segments if s.total]
    assert totals == [
        (date(2026, 1, 12), 90.0),
        (date(2026, 2, 2), 130.0),  # tramadol reported for February (assumed 30 days) on top of oxycodone
        (date(2026, 3, 4), 90.0),
        (date(2026, 4, 12), 60.0),
        (date(2026, 8, 1), 30.0),
    ]
    assert history.mme.peak is not None and history.mme.peak.total == 130.0
    assert [t.day for t in history.ketamine] == [date(2026, 3, 9), date(2026, 6, 8), date(2026, 9, 14)]
    assert [p.value for p in history.pain] == [8, 5, 7, 4, 7, 6]
    assert all(p.on_0_to_10 and p.code.code == "72514-3" for p in history.pain)
    assert [p.value for p in history.pain_near(date(2026, 3, 9))] == [8]


def test_pain_scores_outside_the_window_or_not_final_are_not_read() -> None:
    old = f.observation("72514-3", "Pain", value=9, unit="{score}", effective="2025-06-01T09:00:00Z")
    wrong = f.observation("72514-3", "Pain", value=9, unit="{score}", status="entered-in-error")
    vas = f.observation("38214-3", "VAS", value=72, unit="mm", effective="2026-11-02T09:00:00Z")
    record = build_record([f.patient(), old, wrong, vas])
    history = course_history(record, on=ON, settings=LocalDefaults())
    assert [(p.value, p.on_0_to_10) for p in history.pain] == [(72, False)]  # listed as recorded, never rescaled
