"""Weight-based doses: right for 50/80/120 kg and elderly patients, rounded practically, never above the limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_app.config import LocalDefaults
from smart_app.core.protocols import (
    InfusionPlan,
    get_protocol,
    list_protocols,
)
from smart_app.fhir.orders import OrderSet
from tests.protocols import helpers as h

OUTPATIENT = "asra-outpatient-single-infusion"
MULTIDAY_IV = "inpatient-multiday-infusion"
MULTIDAY_SC = "inpatient-multiday-sc-infusion"


@pytest.mark.parametrize(("weight", "rate"), [(50, 25), (80, 40), (120, 60)])
def test_outpatient_infusion_is_half_a_mg_per_kg_per_hour(weight: float, rate: float) -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=weight, age=45)
    assert order_set.status == "available"
    assert h.rate_mg_per_h(order_set) == rate
    dosage = h.ketamine_request(order_set)["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["rateQuantity"]["code"] == "mg/h"
    hours = dosage["timing"]["repeat"]["duration"]
    assert hours > 2 and rate * hours >= 80  # ASRA: at least 80 mg over more than 2 h
    assert f"= {rate} mg/h for {weight} kg" in order_set.dose_summary


def test_dose_summary_reads_like_the_order() -> None:
    summary = h.build_order_set(OUTPATIENT, weight_kg=80, age=45).dose_summary
    assert summary.startswith("0.5 mg/kg/h = 40 mg/h for 80 kg, 4 h, total 160 mg")
    assert "local default" in summary


def test_light_patient_gets_a_longer_infusion_to_reach_asra_minimum() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=30, age=45)
    hours = h.ketamine_request(order_set)["dosageInstruction"][0]["timing"]["repeat"]["duration"]
    assert h.rate_mg_per_h(order_set) == 15
    assert 15 * hours >= 80 and hours > 2
    assert any("lengthened" in n for n in order_set.notes)


def test_rates_round_to_whole_mg_per_hour_but_never_above_the_protocol_rate() -> None:
    # 0.5 x 73 = 36.5 rounds up to 37 (still within 0.5-2 mg/kg/h)
    assert h.rate_mg_per_h(h.build_order_set(OUTPATIENT, weight_kg=73, age=45)) == 37
    # Schwartzman: 0.35 x 50 = 17.5 must not round up past 0.35 mg/kg/h
    assert h.rate_mg_per_h(h.build_order_set("anzca-appendix-i-schwartzman-2009", weight_kg=50, age=45)) == 17
    # ... and never above its absolute 25 mg/h
    assert h.rate_mg_per_h(h.build_order_set("anzca-appendix-i-schwartzman-2009", weight_kg=120, age=45)) == 25


def test_titration_ceiling_stays_below_one_mg_per_kg_per_hour_outside_a_monitored_setting() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45)
    ceiling = h.ketamine_request(order_set)["dosageInstruction"][0]["maxDosePerPeriod"]
    assert ceiling["denominator"]["value"] == 4  # the 4-hour session
    assert ceiling["numerator"]["value"] < 1.0 * 80 * 4
    assert any("monitored setting" in n for n in order_set.notes)


def test_monitored_setting_allows_the_full_asra_range() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=45, monitored_setting=True)
    ceiling = h.ketamine_request(order_set)["dosageInstruction"][0]["maxDosePerPeriod"]["numerator"]["value"]
    assert ceiling == 2.0 * 80 * 4


def test_multiday_iv_infusion_is_titrated_from_the_studied_start_to_its_studied_ceiling() -> None:
    order_set = h.build_order_set(MULTIDAY_IV, weight_kg=70, age=45)
    dosage = h.ketamine_request(order_set)["dosageInstruction"][0]
    assert h.rate_mg_per_h(order_set) == 5  # 1.2 ug/kg/min: "5 mg/h for a 70-kg patient" (B&K L241)
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] == 28 * 24  # 0.4 mg/kg/h (ASRA L1402)
    assert dosage["timing"]["repeat"]["boundsDuration"]["value"] == 100
    assert dosage["timing"]["repeat"]["boundsDuration"]["code"] == "h"
    assert "at most 2800 mg (40 mg/kg)" in order_set.dose_summary
    assert "1,813 mg" in order_set.regimen.cumulative
    assert order_set.status == "available"  # 0.4 mg/kg/h needs no monitored setting: not capped


def test_sc_infusion_uses_the_sources_concentration_and_fixed_titration() -> None:
    order_set = h.build_order_set(MULTIDAY_SC, weight_kg=70, age=45)
    dosage = h.ketamine_request(order_set)["dosageInstruction"][0]
    assert h.rate_mg_per_h(order_set) == 4
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] == 32 * 24
    assert "4 mg/mL (the source's concentration): 1 mL/h" in dosage["text"]
    assert "8 mL/h at the ceiling" in dosage["text"]
    assert "200 mg in 50 mL" in dosage["text"]
    assert "at most 2688 mg" in order_set.dose_summary  # 4 + 8 + ... + 28 mg/h, one day each
    assert "4 mg/mL" in h.ketamine_request(order_set)["medicationCodeableConcept"]["text"]


def test_elderly_patient_is_offered_the_in_range_infusion_with_closer_monitoring() -> None:
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=75)
    assert order_set.status == "caution"  # ASRA asks for lower thresholds, not a refusal
    assert any("elderly" in r and "local default" in r for r in order_set.reasons)
    assert h.rate_mg_per_h(order_set) == 40  # 0.5 mg/kg/h: below the elderly monitored-setting rate


def test_elderly_patient_needs_a_monitored_setting_below_the_adult_threshold() -> None:
    strict = LocalDefaults(elderly_rate_monitored_mg_per_kg_h=0.5)  # a governance choice at the floor of the range
    order_set = h.build_order_set(OUTPATIENT, weight_kg=80, age=75, settings=strict)
    assert order_set.status == "not-recommended"
    assert any("local default" in r and "monitored setting" in r for r in order_set.reasons)
    monitored = h.build_order_set(OUTPATIENT, weight_kg=80, age=75, monitored_setting=True, settings=strict)
    assert monitored.status == "caution"
    assert h.rate_mg_per_h(monitored) == 40


def test_elderly_sc_infusion_ceiling_uses_the_lower_local_threshold() -> None:
    # 40 kg: Zekry's 32 mg/h is 0.8 mg/kg/h, above the elderly monitored-setting rate (0.75, local default)
    young = h.build_order_set(MULTIDAY_SC, weight_kg=40, age=45)
    old = h.build_order_set(MULTIDAY_SC, weight_kg=40, age=75)
    assert old.status == "caution"
    assert any("elderly" in r and "local default" in r for r in old.reasons)
    assert "elderly-monitoring" in {i.key for i in old.instructions}
    assert "elderly-monitoring" not in {i.key for i in young.instructions}

    def ceiling(order_set: OrderSet) -> float:
        return float(h.ketamine_request(order_set)["dosageInstruction"][0]["maxDosePerPeriod"]["numerator"]["value"])

    assert ceiling(old) < 0.75 * 40 * 24 < ceiling(young) == 32 * 24


def test_elderly_threshold_is_a_setting() -> None:
    lenient = LocalDefaults(elderly_rate_monitored_mg_per_kg_h=1.0)
    assert h.build_order_set(OUTPATIENT, weight_kg=80, age=75, settings=lenient).status == "caution"


@pytest.mark.parametrize(
    ("concentration", "product", "ml_per_h"), [(1, "238082", 40), (10, "238082", 4), (50, "238084", 0.8)]
)
def test_standard_concentration_picks_the_stock_product_and_pump_rate(
    concentration: float, product: str, ml_per_h: float
) -> None:
    order_set = h.build_order_set(
        OUTPATIENT,
        weight_kg=80,
        age=45,
        settings=LocalDefaults(ketamine_infusion_concentration_mg_per_ml=concentration),
    )
    request = h.ketamine_request(order_set)
    assert h.rxnorm_codes((request,)) == [product]
    assert f"{ml_per_h} mL/h" in request["dosageInstruction"][0]["text"]
    assert "local default" in request["dosageInstruction"][0]["text"]


@pytest.mark.parametrize(("weight", "dose"), [(50, 25), (70, 35), (120, 35)])
def test_oral_dose_is_capped_at_150_mg_a_day(weight: float, dose: float) -> None:
    order_set = h.build_order_set("oral-follow-on", weight_kg=weight, age=45)
    dosage = h.ketamine_request(order_set)["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == dose
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] <= 150
    if weight == 120:  # 0.5 mg/kg would be 60 mg every 6 h, 240 mg/day
        assert any("150 mg/day" in n for n in order_set.notes) and "capped" in order_set.dose_summary


def test_oral_dose_rounds_down_to_a_practical_amount() -> None:
    order_set = h.build_order_set("oral-follow-on", weight_kg=73, age=45)
    dosage = h.ketamine_request(order_set)["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 35  # 0.5 x 73 = 36.5 -> 35 mg, never more
    assert dosage["timing"]["repeat"]["period"] == 6
    assert dosage["maxDosePerPeriod"]["numerator"]["value"] == 140


@settings(max_examples=200, deadline=None)
@given(
    weight=st.floats(min_value=25, max_value=250, allow_nan=False),
    age=st.integers(min_value=18, max_value=100),
    monitored=st.booleans(),
    index=st.integers(min_value=0, max_value=len(list_protocols()) - 1),
)
def test_no_rate_ever_exceeds_the_protocol_or_setting_limit(
    weight: float, age: int, monitored: bool, index: int
) -> None:
    protocol = list_protocols()[index]
    assessment = h.assess_protocol(protocol, weight, age, monitored_setting=monitored)
    plan = assessment.plan
    if not isinstance(plan, InfusionPlan):
        return
    rate, fixed = protocol.dosing.rate_mg_per_kg_h, protocol.dosing.rate_mg_per_h
    limit = rate.max * weight if rate else fixed.max if fixed else None
    assert limit is not None
    assert plan.rate_mg_per_h <= plan.ceiling_mg_per_h <= limit + 1e-9
    if protocol.dosing.rate_cap_mg_per_h is not None:
        assert plan.ceiling_mg_per_h <= protocol.dosing.rate_cap_mg_per_h
    assert plan.rate_mg_per_h == math.floor(plan.rate_mg_per_h)  # whole mg/h
    if not monitored and not plan.needs_monitored_setting:
        threshold = h.SETTINGS.elderly_rate_monitored_mg_per_kg_h if age >= 65 else 1.0
        assert plan.ceiling_mg_per_h < threshold * weight
    if plan.needs_monitored_setting and not monitored:
        assert assessment.status == "not-recommended"
        assert plan.ceiling_mg_per_h == plan.rate_mg_per_h  # no titration above a rate that already needs one


def test_every_protocol_has_a_dose_for_typical_weights() -> None:
    for protocol in list_protocols():
        for weight in (50, 80, 120):
            order_set = h.build_order_set(protocol.id, weight_kg=weight, age=45)
            assert order_set.status != "cannot-compute", protocol.id
            assert h.ketamine_request(order_set)["dosageInstruction"][0]["doseAndRate"]
            assert get_protocol(protocol.id).title
