"""The MME timeline's shortcuts give what the plain path gives (core/mme/engine.py `assess_as_taken`,
`totals_in_order`; core/mme/timeline.py `_segments`): assessing a medication as taken without copying it equals
assessing the copy; totals of assessments in report order equal the report's, for every subset; and the timeline
of a varied record is, segment by segment, the MME report of the medications taken on those days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import combinations
from typing import Any

import pytest

from smart_app.core.mme.engine import (
    _in_order,
    assess_as_taken,
    assess_medication,
    assess_medications,
    report_of,
    totals_in_order,
    totals_of,
)
from smart_app.core.model import MedicationUse
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.mme.test_timeline_segments import medications, varied

ON = datetime(2026, 12, 1, 12, tzinfo=UTC)
OXY5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
MORPHINE15 = ("892582", "morphine sulfate 15 MG Oral Tablet")


def _step(sequence: int, count: float, days: int) -> dict[str, Any]:
    repeat = {"frequency": 4, "period": 1, "periodUnit": "d", "boundsDuration": {"value": days, "code": "d"}}
    return {
        "sequence": sequence,
        "timing": {"repeat": repeat},
        "doseAndRate": [{"doseQuantity": f.dose_quantity(count)}],
    }


def _many() -> tuple[MedicationUse, ...]:
    """Every status, intent and resource type the engine lists differently, statements that ended, a taper."""
    tabs = [f.dosage(dose=f.dose_quantity(1), frequency=4)]
    resources: list[dict[str, Any]] = []
    for status in ("active", "completed", "stopped", "on-hold", "cancelled", "unknown", "intended", "draft"):
        resources.append(f.medication_request(*OXY5, dosages=tabs, status=status, rid=f"r-{status}"))
        resources.append(
            f.medication_statement(
                *OXY5,
                dosages=tabs,
                status=status,
                rid=f"s-{status}",
                effectivePeriod={"start": "2026-01-01", "end": "2026-02-01"},
            )
        )
    for intent in ("proposal", "plan", "option"):
        resources.append(f.medication_request(*OXY5, dosages=tabs, intent=intent, rid=f"i-{intent}"))
    resources.append(f.medication_request(*MORPHINE15, dosages=[_step(1, 2, 5), _step(2, 1, 5)], rid="taper",
                                          status="completed", authoredOn="2026-11-20"))  # fmt: skip
    resources.append(
        {
            "resourceType": "MedicationAdministration",
            "id": "adm",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": f.RXNORM, "code": OXY5[0], "display": OXY5[1]}]},
            "effectiveDateTime": "2026-11-30",
        }
    )
    clean = [{k: v for k, v in r.items() if v is not None} for r in resources]
    drafts = [r for r in clean if r.get("status") == "draft"]
    return (*build_record([f.patient(), *clean], draft_orders=drafts).medications, *medications(varied()))


@pytest.mark.parametrize("table", ["cdc-2022", "cdc-2016", "anzca-2021"])
def test_assessing_as_taken_equals_assessing_the_active_copy(table: Any) -> None:
    meds = _many()
    assert any(m.is_draft_order for m in meds) and any(m.resource_type == "MedicationAdministration" for m in meds)
    for med in meds:
        copy = replace(med, status="active", is_draft_order=False, effective=None)
        for on in (None, ON, ON - timedelta(days=8), datetime(2026, 11, 26, 12)):
            assert assess_as_taken(med, table=table, on=on) == assess_medication(copy, table=table, on=on), med.id


@pytest.mark.parametrize("on", [ON, None])
def test_totals_in_report_order_equal_the_report_for_every_subset(on: datetime | None) -> None:
    """Drafts (renewals), statements duplicating requests, not-computable doses: every subset of up to 5 of a
    varied record's items, and of up to 3 of many more (every status, as taken)."""
    assessed = _in_order(assess_medications(medications(varied()), on=on))
    as_taken = _in_order(assess_as_taken(m) for m in _many() if not m.is_draft_order)
    for pool, most in ((assessed, 5), (as_taken, 3)):
        for size in range(min(len(pool), most) + 1):
            for part in combinations(pool, size):
                report = report_of(part)
                expected = (
                    report.total_mme_per_day,
                    tuple(i.id for i in report.counted),
                    tuple(i.id for i in report.left_out),
                )
                assert totals_in_order(list(part)) == totals_of(reversed(part)) == expected
    assert any(a.is_draft for a in assessed) and any(i.status == "duplicate" for i in report_of(as_taken).items)
