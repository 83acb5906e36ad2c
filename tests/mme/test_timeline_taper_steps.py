"""A taper's days on the MME timeline are the union of its steps' days (core/mme/timeline.py): a completed taper
shows every step it went through, not only its first; an active taper runs on through its later steps to today, as
today's total counts it, even when its first step's bounds are a recorded period. Read as a clinician would: the
MME/day on a given day of a later step, and where the taper ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.mme import calculate_mme
from smart_app.core.mme.timeline import MmeTimeline, mme_timeline
from smart_app.core.model import MedicationUse
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
TODAY = ON.date()
MORPHINE15 = ("892582", "morphine sulfate 15 MG Oral Tablet")  # 15 mg x 1.0 (CDC 2022): 15 MME a tablet


def step(
    sequence: int, count: float, per_day: int, days: int | None = None, period: dict[str, str] | None = None
) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": per_day, "period": 1, "periodUnit": "d"}
    if days is not None:
        repeat["boundsDuration"] = {"value": days, "code": "d"}
    if period is not None:
        repeat["boundsPeriod"] = period
    dose = [{"doseQuantity": f.dose_quantity(count)}]
    return {"sequence": sequence, "timing": {"repeat": repeat}, "doseAndRate": dose}


def meds(*resources: dict[str, Any]) -> tuple[MedicationUse, ...]:
    return build_record([f.patient(), *({k: v for k, v in r.items() if v is not None} for r in resources)]).medications


def timeline(medications: tuple[MedicationUse, ...], on: datetime = ON, **settings: Any) -> MmeTimeline:
    return mme_timeline(medications, on=on, settings=LocalDefaults(**settings))


def total_on(t: MmeTimeline, day: date) -> float | None:
    segment = t.on(day)
    assert segment is not None
    return segment.total


def test_a_completed_taper_shows_its_second_step_on_the_days_of_step_2() -> None:
    """2 tabs qid for 7 days (120 MME/day), then 1 tab qid for 7 days (60), completed, in the look-back year."""
    taper = f.medication_request(*MORPHINE15, dosages=[step(1, 2, 4, 7), step(2, 1, 4, 7)], rid="done",
                                 status="completed", authoredOn="2026-06-01")  # fmt: skip
    t = timeline(meds(taper))
    assert total_on(t, date(2026, 6, 3)) == 120.0  # step 1, days 1-7
    assert total_on(t, date(2026, 6, 10)) == 60.0  # step 2, days 8-14: was 0 (placed by step 1's 7 days only)
    assert total_on(t, date(2026, 6, 14)) == 60.0  # its last day
    assert total_on(t, date(2026, 6, 15)) == 0.0
    assert [(s.first_day, s.last_day, s.mme_per_day, s.item.step, s.basis, s.assumed) for s in t.spans] == [
        (date(2026, 6, 1), date(2026, 6, 7), 120.0, "step 1 of 2 (sequence 1)", "dosage-bounds", False),
        (date(2026, 6, 8), date(2026, 6, 14), 60.0, "step 2 of 2 (sequence 2)", "dosage-bounds", False),
    ]
    assert total_on(t, TODAY) == (calculate_mme(meds(taper), on=ON).total_mme_per_day or 0.0) == 0.0


def test_a_completed_taper_of_recorded_periods_shows_each_period() -> None:
    taper = f.medication_request(
        *MORPHINE15,
        dosages=[
            step(1, 2, 4, period={"start": "2026-06-01", "end": "2026-06-07"}),
            step(2, 1, 4, period={"start": "2026-06-08", "end": "2026-06-14"}),
            step(3, 1, 2, period={"start": "2026-06-15", "end": "2026-06-21"}),
        ],
        rid="done",
        status="completed",
        authoredOn="2026-05-30",
    )
    t = timeline(meds(taper))
    assert total_on(t, date(2026, 6, 3)) == 120.0
    assert total_on(t, date(2026, 6, 10)) == 60.0
    assert total_on(t, date(2026, 6, 18)) == 30.0
    assert total_on(t, date(2026, 6, 21)) == 30.0  # the last step's recorded end, included as for one step
    assert total_on(t, date(2026, 6, 22)) == 0.0
    assert {s.basis for s in t.spans} == {"dosage-bounds"} and not any(s.assumed for s in t.spans)
    assert (t.spans[0].first_day, t.spans[-1].last_day) == (date(2026, 6, 1), date(2026, 6, 21))


def test_a_completed_statement_taper_shows_its_later_steps() -> None:
    taper = f.medication_statement(*MORPHINE15, dosages=[step(1, 2, 4, 7), step(2, 1, 4, 7)], rid="said",
                                   status="completed", effectivePeriod={"start": "2026-06-01"},
                                   dateAsserted="2026-06-01")  # fmt: skip
    t = timeline(meds(taper), timeline_assumed_days=5)
    assert total_on(t, date(2026, 6, 10)) == 60.0
    assert t.spans[-1].last_day == date(2026, 6, 14)  # the steps' end, not the 5 assumed days
    assert not any(s.assumed for s in t.spans)


def test_a_completed_taper_whose_last_step_has_no_end_assumes_that_step_only() -> None:
    """Step 1 recorded (10 days), step 2 open: step 2 is assumed to last timeline_assumed_days from its start, and
    the span says so; the recorded step is never cut short by the assumption."""
    taper = f.medication_request(*MORPHINE15, dosages=[step(1, 2, 4, 10), step(2, 1, 4)], rid="open",
                                 status="completed", authoredOn="2026-06-01")  # fmt: skip
    t = timeline(meds(taper), timeline_assumed_days=5)
    assert total_on(t, date(2026, 6, 5)) == 120.0
    assert total_on(t, date(2026, 6, 12)) == 60.0
    assert t.spans[-1].last_day == date(2026, 6, 15)  # step 2 from 06-11, assumed 5 days
    assert t.spans[-1].assumed and "assumed 5 days" in t.spans[-1].how
    assert total_on(t, date(2026, 6, 16)) == 0.0


def test_a_completed_taper_ending_after_today_ends_before_today() -> None:
    taper = f.medication_request(*MORPHINE15, dosages=[step(1, 2, 4, 7), step(2, 1, 4, 7)], rid="done",
                                 status="completed", authoredOn="2026-11-28")  # fmt: skip
    t = timeline(meds(taper))
    assert total_on(t, date(2026, 11, 30)) == 120.0
    assert total_on(t, TODAY) == 0.0 == (calculate_mme(meds(taper), on=ON).total_mme_per_day or 0.0)
    assert t.spans[-1].last_day == TODAY - timedelta(days=1) and not t.spans[-1].ongoing


def test_an_active_taper_with_a_bounded_first_step_runs_on_to_today() -> None:
    """Step 1's boundsPeriod ends on 11-24: the order does not end there, it moves on to step 2 (no end)."""
    taper = f.medication_request(
        *MORPHINE15,
        dosages=[step(1, 2, 4, period={"start": "2026-11-15", "end": "2026-11-24"}), step(2, 1, 4)],
        rid="now",
        authoredOn="2026-11-15",
    )
    t = timeline(meds(taper))
    assert total_on(t, date(2026, 11, 20)) == 120.0
    assert total_on(t, date(2026, 11, 27)) == 60.0  # step 2: was 0 (the order was placed as ending 11-24)
    today = calculate_mme(meds(taper), on=ON).total_mme_per_day
    assert total_on(t, TODAY) == today == 60.0
    last = t.spans[-1]
    assert (last.last_day, last.ongoing, last.basis, last.item.step) == (
        TODAY,
        True,
        "ongoing",
        "step 2 of 2 (sequence 2)",
    )


def test_an_active_taper_of_recorded_periods_all_over_is_counted_today_as_todays_total_counts_it() -> None:
    taper = f.medication_request(
        *MORPHINE15,
        dosages=[
            step(1, 2, 4, period={"start": "2026-11-01", "end": "2026-11-10"}),
            step(2, 1, 4, period={"start": "2026-11-11", "end": "2026-11-20"}),
        ],
        rid="now",
        authoredOn="2026-11-01",
    )
    t = timeline(meds(taper))
    assert total_on(t, date(2026, 11, 5)) == 120.0
    assert total_on(t, date(2026, 11, 15)) == 60.0
    assert total_on(t, TODAY) == calculate_mme(meds(taper), on=ON).total_mme_per_day == 60.0
    assert t.spans[-1].ongoing and t.spans[-1].last_day == TODAY


@pytest.mark.parametrize("end", ["2026-11-10", "2026-12-20"])
def test_an_active_bounded_order_is_counted_today_as_todays_total_counts_it(end: str) -> None:
    """One step: an active order is the prescriber's current instruction (today's total counts it whatever its
    bounds), so the timeline runs it to today rather than ending it at its bounds (or 'before today')."""
    bounds = {"start": "2026-11-01", "end": end}
    timing = {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d", "boundsPeriod": bounds}}
    order = f.medication_request(*MORPHINE15, dosages=[f.dosage(dose=f.dose_quantity(1), timing=timing)], rid="b",
                                 authoredOn="2026-11-01")  # fmt: skip
    t = timeline(meds(order))
    (span,) = t.spans
    assert (span.first_day, span.last_day, span.ongoing, span.basis) == (date(2026, 11, 1), TODAY, True, "ongoing")
    assert "before today" not in span.how and f"dosage bounds end {end}" in span.how
    assert total_on(t, TODAY) == calculate_mme(meds(order), on=ON).total_mme_per_day == 60.0


def _tapers() -> list[tuple[MedicationUse, ...]]:
    shapes = [
        [step(1, 2, 4, 5), step(2, 1, 4, 5), step(3, 1, 2, 5)],
        [step(1, 2, 4, 5), step(2, 1, 4)],
        [step(1, 2, 4, period={"start": "2026-11-18", "end": "2026-11-24T18:00:00Z"}), step(2, 1, 4, 3), step(3, 1, 2)],
        [
            step(1, 2, 4, period={"start": "2026-11-18", "end": "2026-11-22"}),
            step(2, 1, 2, period={"start": "2026-11-23", "end": "2026-11-26"}),
        ],
    ]
    found = []
    for status in ("active", "completed", "stopped"):
        for dosages in shapes:
            for authored in ("2026-11-18", "2026-11-18T20:00:00Z"):
                order = f.medication_request(*MORPHINE15, dosages=dosages, rid="t", status=status, authoredOn=authored)
                found.append(meds(order))
    return found


@pytest.mark.parametrize("hour", [0, 11, 23])
def test_todays_segment_is_todays_total_and_the_steps_are_contiguous_for_every_taper(hour: int) -> None:
    for medications in _tapers():
        for offset in range(14):
            on = datetime(2026, 11, 18, hour, tzinfo=UTC) + timedelta(days=offset)
            t = timeline(medications, on=on)
            today = calculate_mme(medications, on=on).total_mme_per_day
            assert total_on(t, on.date()) == (today if today is not None else 0.0), (medications[0].dosages, on)
            spans = list(t.spans)
            assert all(a.last_day + timedelta(days=1) == b.first_day for a, b in pairwise(spans))
            assert all(s.first_day <= s.last_day for s in spans)
