"""Every catalogue protocol, for 50, 70 and 120 kg at ages 30 and 70, stays within the regimen its source studied.

The envelopes below are typed from the seed texts (line refs into shared/seeds), independently of
mappings/protocols.json, and checked against what the EHR receives: the rate, ceiling, duration and session count
of the ketamine MedicationRequest, and the cumulative dose the order set states. A protocol added to the catalogue
without an envelope here fails `test_every_protocol_has_a_studied_envelope`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from smart_app.core.protocols import InfusionPlan, OralPlan, list_protocols
from smart_app.fhir.orders import OrderSet
from tests.protocols import helpers as h

UG_KG_MIN = 0.06  # 1 ug/kg/min = 0.06 mg/kg/h
RATE_STEP = 1.0  # practical rounding of generated rates (mg/h)
LFT = {"1742-6", "1920-8", "6768-6", "1975-2"}
PAIN = "72514-3"
WEIGHTS = (50, 70, 120)
AGES = (30, 70)


@dataclass(frozen=True)
class Studied:
    """A regimen as its source studied it. Rates per kg (mg/kg/h) or fixed (mg/h); None: the source sets none."""

    source: str
    start_mg_per_kg_h: float | None = None  # the studied starting rate (weight-based)
    start_mg_per_h: tuple[float, float] | None = None  # the studied starting range (fixed dose)
    max_mg_per_kg_h: float | None = None
    max_mg_per_h: float | None = None
    min_hours: float | None = None  # per session, or of the continuous infusion
    max_hours: float | None = None
    max_sessions: int = 1
    max_total_mg_per_kg: float | None = None
    max_total_mg: float | None = None
    step_mg_per_h_per_day: float | None = None  # a stated titration step
    concentration_mg_per_ml: float | None = None
    min_total_mg: float | None = None  # ASRA's minimum effective infusion
    multi_day_or_serial: bool = False


STUDIED: dict[str, Studied] = {
    # ASRA Q3 L1286-1289 (one outpatient infusion, >= 80 mg over > 2 h); Table 6 L1659-1661 (0.5-2 mg/kg/h);
    # Table 1 L368-371 ("1-d outpatient"). No upper total is stated: the rate range bounds it.
    "asra-outpatient-single-infusion": Studied(
        "ASRA Q3 L1286-1289; Table 6 L1659-1664",
        start_mg_per_kg_h=0.5,
        max_mg_per_kg_h=2.0,
        min_hours=2.0,
        max_hours=24.0,
        min_total_mg=80.0,
    ),
    # Noppers: a 100-hour infusion, maximum 7.2 ug/kg/min "or 0.4 mg/kg per hour", mean 1813 mg (ASRA L1399-1402);
    # Sigtermans: 1.2 ug/kg/min titrated to at most 7.2 ug/kg/min over a mean 4.2 days (B&K L241; ASRA L1090-1093).
    "inpatient-multiday-infusion": Studied(
        "ASRA L1399-1402; B&K L241; ASRA L1090-1093",
        start_mg_per_kg_h=1.2 * UG_KG_MIN,
        max_mg_per_kg_h=0.4,
        max_hours=100.8,
        max_total_mg_per_kg=7.2 * UG_KG_MIN * 100.8,
        multi_day_or_serial=True,
    ),
    # Zekry: 3-7 days, 200 mg in 50 mL (4 mg/mL) at 4-8 mg/h (1-2 mL/h), +4 mg/h daily, max 32 mg/h
    # (ISCRR L1214-1227).
    "inpatient-multiday-sc-infusion": Studied(
        "ISCRR L1214-1227",
        start_mg_per_h=(4.0, 8.0),
        max_mg_per_h=32.0,
        min_hours=72.0,
        max_hours=168.0,
        step_mg_per_h_per_day=4.0,
        concentration_mg_per_ml=4.0,
        max_total_mg=24 * sum(min(8.0 + 4.0 * day, 32.0) for day in range(7)),
        multi_day_or_serial=True,
    ),
    # Amr 2010: 80 mg over 5 hours per day for 1 week (ANZCA-PS L399; ASRA Table 2).
    "anzca-appendix-i-amr-2010": Studied(
        "ANZCA-PS L399",
        start_mg_per_h=(16.0, 16.0),
        max_mg_per_h=16.0,
        min_hours=5.0,
        max_hours=5.0,
        max_sessions=7,
        max_total_mg=560.0,
        multi_day_or_serial=True,
    ),
    # Eichenberger 2008: 0.4 mg/kg over 1 hour (ANZCA-PS L403-405).
    "anzca-appendix-i-eichenberger-2008": Studied(
        "ANZCA-PS L403-405",
        start_mg_per_kg_h=0.4,
        max_mg_per_kg_h=0.4,
        min_hours=1.0,
        max_hours=1.0,
        max_total_mg_per_kg=0.4,
    ),
    # Schwartzman 2009: 4 h daily for 10 weekdays, maximum 0.35 mg/kg/h, not to exceed 25 mg/h (B&K L240;
    # ANZCA-PS L409-411: "up to 100 mg over 4 hours").
    "anzca-appendix-i-schwartzman-2009": Studied(
        "B&K L240; ANZCA-PS L409-411",
        start_mg_per_kg_h=0.35,
        max_mg_per_kg_h=0.35,
        max_mg_per_h=25.0,
        min_hours=4.0,
        max_hours=4.0,
        max_sessions=10,
        max_total_mg=1000.0,
        multi_day_or_serial=True,
    ),
    # Sigtermans 2009: 1.2 ug/kg/min titrated to at most 7.2 ug/kg/min over 4.2 days (B&K L241; ANZCA-PS L415).
    "anzca-appendix-i-sigtermans-2009": Studied(
        "B&K L241; ANZCA-PS L415",
        start_mg_per_kg_h=1.2 * UG_KG_MIN,
        max_mg_per_kg_h=7.2 * UG_KG_MIN,
        max_hours=100.8,
        max_total_mg_per_kg=7.2 * UG_KG_MIN * 100.8,
        multi_day_or_serial=True,
    ),
    # Noppers 2011: 0.5 mg/kg over 30 minutes (ANZCA-PS L419).
    "anzca-appendix-i-noppers-2011": Studied(
        "ANZCA-PS L419",
        start_mg_per_kg_h=1.0,
        max_mg_per_kg_h=1.0,
        min_hours=0.5,
        max_hours=0.5,
        max_total_mg_per_kg=0.5,
    ),
    # Mitchell 2002: 0.6 mg/kg over 4 hours (ANZCA-PS L423).
    "anzca-appendix-i-mitchell-2002": Studied(
        "ANZCA-PS L423",
        start_mg_per_kg_h=0.15,
        max_mg_per_kg_h=0.15,
        min_hours=4.0,
        max_hours=4.0,
        max_total_mg_per_kg=0.6,
    ),
}
# Oral: 0.5 mg/kg every 6 hours for 1 week (ASRA L1314-1317); 150 mg/day or 0.5 mg/kg every 6 hours (ASRA
# L1339-1340; ANZCA-PS L497-498).
ORAL = "oral-follow-on"
ORAL_MG_PER_KG, ORAL_EVERY_H, ORAL_DAYS, ORAL_MAX_PER_DAY = 0.5, 6, 7, 150.0


def test_every_protocol_has_a_studied_envelope() -> None:
    assert {p.id for p in list_protocols()} == {*STUDIED, ORAL}


def _cases() -> list[tuple[str, float, int]]:
    return [(p.id, w, a) for p in list_protocols() for w in WEIGHTS for a in AGES]


def _ketamine(order_set: OrderSet) -> dict[str, Any]:
    return h.ketamine_request(order_set)


def _dosage(order_set: OrderSet) -> dict[str, Any]:
    dosage: dict[str, Any] = _ketamine(order_set)["dosageInstruction"][0]
    return dosage


def _hours(dosage: dict[str, Any]) -> tuple[float, int]:
    """(hours per session or of the continuous infusion, number of sessions) from the FHIR timing."""
    repeat = dosage["timing"]["repeat"]
    if "boundsDuration" in repeat:
        bounds = repeat["boundsDuration"]
        return float(bounds["value"]) * (24 if bounds["code"] == "d" else 1), 1
    assert repeat["durationUnit"] == "h"
    return float(repeat["duration"]), int(repeat["count"])


@pytest.mark.parametrize(("protocol_id", "weight", "age"), [c for c in _cases() if c[0] != ORAL])
def test_infusion_stays_within_the_studied_regimen(protocol_id: str, weight: float, age: int) -> None:
    studied = STUDIED[protocol_id]
    order_set = h.build_order_set(protocol_id, weight_kg=weight, age=age)
    plan = order_set.plan
    assert isinstance(plan, InfusionPlan), protocol_id
    dosage = _dosage(order_set)
    rate = float(dosage["doseAndRate"][0]["rateQuantity"]["value"])
    window = float(dosage["maxDosePerPeriod"]["denominator"]["value"])
    ceiling = float(dosage["maxDosePerPeriod"]["numerator"]["value"]) / window
    hours, sessions = _hours(dosage)
    where = f"{protocol_id} at {weight} kg, age {age} ({studied.source})"

    # Rates: the start is the studied start (within the practical rounding), the ceiling never above the studied one.
    if studied.start_mg_per_kg_h is not None:
        start = studied.start_mg_per_kg_h * weight
        if studied.max_mg_per_h is not None:
            start = min(start, studied.max_mg_per_h)  # Schwartzman: never more than 25 mg/h
        assert abs(rate - start) <= RATE_STEP, where
    if studied.start_mg_per_h is not None:
        low, high = studied.start_mg_per_h
        assert low <= rate <= high, where
    assert rate <= ceiling, where
    if studied.max_mg_per_kg_h is not None:
        assert ceiling <= studied.max_mg_per_kg_h * weight + 1e-9, where
    if studied.max_mg_per_h is not None:
        assert ceiling <= studied.max_mg_per_h, where

    # Duration and sessions.
    assert sessions <= studied.max_sessions, where
    if studied.max_hours is not None:
        assert hours <= studied.max_hours, where
    if studied.min_hours is not None:
        assert hours >= studied.min_hours, where

    # Cumulative dose: what the order set states is the most it can give, and it is within the studied maximum.
    if studied.step_mg_per_h_per_day is not None:
        most, step_rate, left = 0.0, rate, hours
        while left > 0:
            most += min(step_rate, ceiling) * min(24.0, left)
            step_rate += studied.step_mg_per_h_per_day
            left -= 24.0
    else:
        most = ceiling * hours * sessions
    assert plan.max_total_mg == pytest.approx(most), where
    if studied.max_total_mg_per_kg is not None:
        assert most <= studied.max_total_mg_per_kg * weight + 1e-6, where
    if studied.max_total_mg is not None:
        assert most <= studied.max_total_mg + 1e-6, where
    if studied.min_total_mg is not None:
        assert rate * hours >= studied.min_total_mg, where
    assert f"at most {most:g} mg" in order_set.dose_summary or f"total {most:g} mg" in order_set.dose_summary, where

    # Concentration: the source's where it states one (and its pump rate), else the local default.
    if studied.concentration_mg_per_ml is not None:
        assert plan.concentration_mg_per_ml == studied.concentration_mg_per_ml and plan.concentration_from_source
        assert 1 <= plan.rate_ml_per_h <= 2, where  # Zekry: 4-8 mg/h at 1-2 mL/h
        assert "the concentration the source used" in dosage["text"]
    else:
        assert plan.concentration_mg_per_ml == h.SETTINGS.ketamine_infusion_concentration_mg_per_ml
        assert "local default" in dosage["text"]

    # The weight used is said, and the regimen's cumulative dose and source are on the order.
    notes = " ".join(n["text"] for n in _ketamine(order_set)["note"])
    assert order_set.weight_basis in dosage["text"]
    assert "Studied regimen:" in notes and "Cumulative dose:" in notes
    assert all(str(c) in notes for c in order_set.regimen.citations)


@pytest.mark.parametrize(("weight", "age"), [(w, a) for w in WEIGHTS for a in AGES])
def test_oral_stays_within_the_studied_regimen_and_its_150_mg_cap(weight: float, age: int) -> None:
    order_set = h.build_order_set(ORAL, weight_kg=weight, age=age)
    plan = order_set.plan
    assert isinstance(plan, OralPlan)
    dosage = _dosage(order_set)
    dose = float(dosage["doseAndRate"][0]["doseQuantity"]["value"])
    repeat = dosage["timing"]["repeat"]
    per_day = dose * 24 / repeat["period"]
    assert dose <= ORAL_MG_PER_KG * weight
    assert repeat["period"] == ORAL_EVERY_H and repeat["periodUnit"] == "h"
    assert per_day <= ORAL_MAX_PER_DAY and dosage["maxDosePerPeriod"]["numerator"]["value"] == per_day
    assert repeat["boundsDuration"]["value"] <= ORAL_DAYS
    assert plan.total_mg <= ORAL_MAX_PER_DAY * ORAL_DAYS
    assert "Capped at 150 mg/day" in order_set.weight_basis


@pytest.mark.parametrize(("protocol_id", "weight", "age"), _cases())
def test_every_order_set_carries_consent_nil_per_os_pain_score_and_follow_up_tasks(
    protocol_id: str, weight: float, age: int
) -> None:
    order_set = h.build_order_set(protocol_id, weight_kg=weight, age=age)
    keys = {i.key for i in order_set.instructions}
    assert {"consent-off-label", "nil-per-os", "stop-plan", "response-criteria", "duration-of-benefit"} <= keys
    assert ("elderly-monitoring" in keys) == (age >= h.SETTINGS.elderly_age)
    assert PAIN in h.loinc_codes(order_set.service_requests)
    tasks = {t["code"]["text"]: t for t in order_set.tasks}
    review = next(t for text, t in tasks.items() if text.startswith("Review the response"))
    weeks = 3 if protocol_id == "asra-outpatient-single-infusion" else 6  # ASRA L1614-1617
    assert f"at {weeks} weeks" in review["code"]["text"]
    assert "72514-3" in review["description"] and "MME" in review["description"]
    if "phone-follow-up" in keys:
        assert any(text.startswith("Telephone follow-up 24-48 hours") for text in tasks)
    for task in order_set.tasks:
        assert task["status"] == "draft" and task["intent"] == "proposal"
        assert task["for"] == {"reference": "Patient/example"}
        assert any("Source:" in n["text"] for n in task["note"])


@pytest.mark.parametrize(("protocol_id", "weight", "age"), _cases())
def test_multi_day_and_serial_courses_carry_baseline_and_post_course_liver_tests(
    protocol_id: str, weight: float, age: int
) -> None:
    multi = STUDIED[protocol_id].multi_day_or_serial if protocol_id in STUDIED else True  # oral: 7 days
    order_set = h.build_order_set(protocol_id, weight_kg=weight, age=age)
    lfts = [r for r in order_set.service_requests if set(h.loinc_codes((r,))) & LFT]
    if not multi:
        assert not lfts, protocol_id
        return
    baseline = [r for r in lfts if r["occurrenceTiming"]["code"]["text"].startswith("Before")]
    post = [r for r in lfts if r["occurrenceTiming"]["code"]["text"].startswith("After")]
    assert set(h.loinc_codes(tuple(baseline))) == set(h.loinc_codes(tuple(post))) == LFT, protocol_id
    assert all("L1399-1411" in r["reasonCode"][0]["text"] for r in lfts)


@pytest.mark.parametrize("weight", WEIGHTS)
@pytest.mark.parametrize(
    "protocol_id", ["asra-outpatient-single-infusion", "inpatient-multiday-infusion", "inpatient-multiday-sc-infusion"]
)
def test_elderly_in_range_infusion_is_offered_with_closer_monitoring_not_refused(
    protocol_id: str, weight: float
) -> None:
    young = h.build_order_set(protocol_id, weight_kg=weight, age=30)
    old = h.build_order_set(protocol_id, weight_kg=weight, age=70)
    assert young.status == "available" and old.status == "caution", protocol_id
    assert isinstance(old.plan, InfusionPlan)
    limit = h.SETTINGS.elderly_rate_monitored_mg_per_kg_h  # 0.75 mg/kg/h, above ASRA's 0.5 starting rate
    assert h.SETTINGS.elderly_rate_monitored_mg_per_kg_h > 0.5
    assert old.plan.ceiling_mg_per_kg_h < limit  # titration stays below the elderly monitored-setting rate
    assert "elderly-monitoring" in {i.key for i in old.instructions}
