"""Realistic histories for the course-of-treatment rules (issue 15), dated relative to a given day.

The CDS service and the SMART app assess on the day they are called, so their tests build these histories relative
to today; the core tests use a fixed day. Each builder returns FHIR R4 resources as an EHR sends them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests import fhir_factory as f

OXYCODONE_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
OXY_ER_10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
OXY_ER_20 = ("1049563", "12 HR oxycodone hydrochloride 20 MG Extended Release Oral Tablet")
LORAZEPAM_1 = ("197901", "lorazepam 1 MG Oral Tablet")
KETAMINE_10 = ("238082", "ketamine 10 MG/ML Injectable Solution")
PAIN_NRS = ("72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported")


def today() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


def at(day: datetime, days_ago: int, hour: int = 9) -> str:
    """An ISO instant `days_ago` days before `day`, at `hour` UTC."""
    return (day - timedelta(days=days_ago)).replace(hour=hour, minute=0).isoformat().replace("+00:00", "Z")


def date_of(day: datetime, days_ago: int) -> str:
    return (day - timedelta(days=days_ago)).date().isoformat()


def patient() -> list[dict[str, Any]]:
    return [f.patient("1975-05-01", name=[{"family": "Citizen", "given": ["Jane"]}])]


def weight(day: datetime, kg: float = 70) -> dict[str, Any]:
    return f.weight(kg, at(day, 2))


def oxycodone(tablets: float = 1, per_day: int = 4, **kw: Any) -> dict[str, Any]:
    """Oxycodone 5 mg tablets: 1 x 4/day is 30 MME/day (CDC 2022)."""
    return f.medication_request(
        *OXYCODONE_5, dosages=[f.dosage(dose=f.dose_quantity(tablets), frequency=per_day)], **kw
    )


def oxycodone_draft(tablets: float = 1, per_day: int = 4, rid: str = "draft-oxy") -> dict[str, Any]:
    return oxycodone(tablets, per_day, status="draft", rid=rid)


def lorazepam(**kw: Any) -> dict[str, Any]:
    return f.medication_request(*LORAZEPAM_1, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)], **kw)


def ketamine_given(day: datetime, days_ago: int, mg: float = 140) -> dict[str, Any]:
    return f.medication_administration(
        *KETAMINE_10,
        effective=at(day, days_ago),
        dosage={"dose": {"value": mg, "unit": "mg", "system": f.UCUM, "code": "mg"}},
    )


def pain(day: datetime, days_ago: int, score: float, hour: int = 8) -> dict[str, Any]:
    return f.observation(*PAIN_NRS, value=score, unit="{score}", effective=at(day, days_ago, hour))


def weekly_series(day: datetime, *, pain_scores: tuple[float, float] | None = None) -> list[dict[str, Any]]:
    """Four weekly ketamine infusions (28 to 7 days ago); with `pain_scores`, a score before the first infusion and
    one before the last."""
    resources = [ketamine_given(day, days_ago) for days_ago in (28, 21, 14, 7)]
    if pain_scores is not None:
        resources += [pain(day, 28, pain_scores[0]), pain(day, 7, pain_scores[1])]
    return resources


def _oxycodone_er(code: tuple[str, str], start: str, end: str | None, status: str) -> dict[str, Any]:
    timing: dict[str, Any] = {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}
    if end is not None:
        timing["repeat"]["boundsPeriod"] = {"start": start, "end": end}
    dosage = {"doseAndRate": [{"doseQuantity": f.dose_quantity(1)}], "timing": timing}
    return f.medication_request(*code, dosages=[dosage], status=status, authoredOn=start)


def taper_to_off(day: datetime) -> list[dict[str, Any]]:
    """A taper over months: oxycodone ER 20 mg every 12 h (60 MME/day), then 10 mg (30), stopped 10 days ago."""
    return [
        _oxycodone_er(OXY_ER_20, date_of(day, 200), date_of(day, 101), "completed"),
        _oxycodone_er(OXY_ER_10, date_of(day, 100), date_of(day, 10), "completed"),
    ]


def stable_oxycodone(day: datetime) -> dict[str, Any]:
    """Oxycodone ER 10 mg every 12 h (30 MME/day) for months, still active."""
    return _oxycodone_er(OXY_ER_10, date_of(day, 200), None, "active")


def five_day_infusion(mg_per_h: float = 21, rid: str = "draft-5-day") -> dict[str, Any]:
    """A draft IV ketamine infusion over 5 days (120 h): 21 mg/h is 0.3 mg/kg/h at 70 kg."""
    dosage = {
        "route": {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")]},
        "doseAndRate": [{"rateQuantity": {"value": mg_per_h, "unit": "mg/h", "system": f.UCUM, "code": "mg/h"}}],
        "timing": {"repeat": {"count": 1, "duration": 120, "durationUnit": "h"}},
    }
    return f.medication_request(*KETAMINE_10, dosages=[dosage], status="draft", rid=rid)
