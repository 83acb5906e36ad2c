"""An active taper on the MME timeline: each run of days shows the step in force on those days (core/mme/timeline.py,
`_step_pieces`), read as today's total reads it (engine `_current_step`), so today's segment is today's total."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from smart_app.config import LocalDefaults
from smart_app.core.mme import calculate_mme
from smart_app.core.mme.timeline import mme_timeline
from smart_app.core.model import MedicationUse
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

MORPHINE15 = ("892582", "morphine sulfate 15 MG Oral Tablet")  # 15 mg x 1.0 (CDC 2022): 15 MME a tablet
OXY5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")


def step(sequence: int, count: float, per_day: int, days: int | None) -> dict[str, Any]:
    repeat: dict[str, Any] = {"frequency": per_day, "period": 1, "periodUnit": "d"}
    if days is not None:
        repeat["boundsDuration"] = {"value": days, "code": "d"}
    dose = [{"doseQuantity": f.dose_quantity(count)}]
    return {"sequence": sequence, "timing": {"repeat": repeat}, "doseAndRate": dose}


def medications(authored: str) -> tuple[MedicationUse, ...]:
    taper = f.medication_request(
        *MORPHINE15,
        # 2 tabs qid for 5 days (120 MME/day), 1 tab qid for 5 days (60), then 1 tab bid (30) with no end
        dosages=[step(1, 2, 4, 5), step(2, 1, 4, 5), step(3, 1, 2, None)],
        rid="taper",
        authoredOn=authored,
    )
    other = f.medication_request(*OXY5, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)], rid="oxy",
                                 authoredOn="2026-11-01")  # fmt: skip
    clean = [{k: v for k, v in r.items() if v is not None} for r in (taper, other)]
    return build_record([f.patient(), *clean]).medications


def test_each_step_of_a_three_step_taper_is_charted_on_its_own_days() -> None:
    on = datetime(2026, 12, 1, 12, tzinfo=UTC)
    t = mme_timeline(medications("2026-11-20"), on=on, settings=LocalDefaults())
    tail = [(s.first_day, s.last_day, s.total) for s in t.segments if s.first_day >= date(2026, 11, 20)]
    assert tail == [
        (date(2026, 11, 20), date(2026, 11, 24), 120.0 + 15.0),  # step 1 (and the oxycodone, 15 MME/day)
        (date(2026, 11, 25), date(2026, 11, 29), 60.0 + 15.0),  # step 2, from the end of step 1's 5 days
        (date(2026, 11, 30), date(2026, 12, 1), 30.0 + 15.0),  # step 3, still in force today
    ]
    taper = [s for s in t.spans if s.reference == "MedicationRequest/taper"]
    assert [(s.first_day, s.last_day, s.mme_per_day, s.item.step, s.ongoing) for s in taper] == [
        (date(2026, 11, 20), date(2026, 11, 24), 120.0, "step 1 of 3 (sequence 1)", False),
        (date(2026, 11, 25), date(2026, 11, 29), 60.0, "step 2 of 3 (sequence 2)", False),
        (date(2026, 11, 30), date(2026, 12, 1), 30.0, "step 3 of 3 (sequence 3)", True),
    ]
    assert all(s.basis == "ongoing" for s in taper)
    assert t.spans_on(date(2026, 11, 27))[-1].mme_per_day == 60.0
    today = calculate_mme(medications("2026-11-20"), on=on)
    assert t.on(on.date()).total == today.total_mme_per_day == 45.0  # type: ignore[union-attr]


@pytest.mark.parametrize("authored", ["2026-11-20", "2026-11-20T18:00:00Z", "2026-11-20T06:30:00+10:00"])
@pytest.mark.parametrize("hour", [0, 6, 12, 18, 23])
def test_todays_segment_is_todays_total_on_every_day_and_hour_of_the_taper(authored: str, hour: int) -> None:
    """Steps that end mid-day: a day is read at the calculation's time of day, so today is read exactly as today's
    total is, whatever the hour."""
    meds = medications(authored)
    for offset in range(16):
        on = datetime(2026, 11, 20, hour, tzinfo=UTC) + timedelta(days=offset)
        t = mme_timeline(meds, on=on, settings=LocalDefaults())
        segment = t.on(on.date())
        assert segment is not None
        assert segment.total == calculate_mme(meds, on=on).total_mme_per_day, (authored, on)
        spans = [s for s in t.spans if s.reference == "MedicationRequest/taper"]
        assert spans[-1].ongoing and spans[-1].last_day == on.date()
        assert [s.first_day for s in spans] == sorted(s.first_day for s in spans)  # contiguous, in order
        assert all(a.last_day + timedelta(days=1) == b.first_day for a, b in pairwise(spans))


def test_a_completed_taper_is_charted_step_by_step_as_an_active_one() -> None:
    """A completed taper's days are the union of its steps' days, each step on its own (was: its first step's
    bounds only), as an active taper's are (tests/mme/test_timeline_taper_steps.py for more shapes)."""
    taper = f.medication_request(*MORPHINE15, dosages=[step(1, 2, 4, 5), step(2, 1, 4, 5)], rid="done",
                                 status="completed", authoredOn="2026-11-01")  # fmt: skip
    meds = build_record([f.patient(), {k: v for k, v in taper.items() if v is not None}]).medications
    t = mme_timeline(meds, on=datetime(2026, 12, 1, 12, tzinfo=UTC), settings=LocalDefaults())
    assert [(s.first_day, s.last_day, s.mme_per_day) for s in t.spans] == [
        (date(2026, 11, 1), date(2026, 11, 5), 120.0),
        (date(2026, 11, 6), date(2026, 11, 10), 60.0),
    ]
