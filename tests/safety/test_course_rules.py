"""Safety over a course of treatment (issue 15), through the one use case `assess`: each rule fires on a realistic
history and stays silent on its near miss.

- PRE-LFT: a 5-day course ordered at once, serial weekly infusions, cumulative mg (ASRA Table 6, L1399-1411);
- OPI-BZD and OPI-NALOXONE: a patient on lorazepam and oxycodone (CDC 2022 Recommendations 11 and 8, external).
"""

from __future__ import annotations

from typing import Any

from smart_app.core.assessment import Assessment, assess
from smart_app.core.outcomes import Outcome
from smart_app.core.safety.rules.sedation import rescue_caution
from smart_app.fhir.orders import build_order_set, medication_orders
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.safety.builders import ON, SETTINGS, ketamine_order

OXYCODONE_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
LORAZEPAM_1 = ("197901", "lorazepam 1 MG Oral Tablet")
WEIGHT = f.weight(70, "2026-11-14T09:00:00Z")


def assessed(*resources: dict[str, Any], drafts: tuple[dict[str, Any], ...] = ()) -> Assessment:
    record = build_record([f.patient("1975-05-01"), WEIGHT, *resources], draft_orders=drafts)
    return assess(record, drafts=[m for m in record.medications if m.is_draft_order], on=ON, settings=SETTINGS)


def outcome(assessment: Assessment, rule: str) -> Outcome:
    return assessment.safety.outcome(rule)


def oxycodone(tablets: float = 1, per_day: int = 4, **kw: Any) -> dict[str, Any]:
    dosage = f.dosage(dose=f.dose_quantity(tablets), frequency=per_day)
    return f.medication_request(*OXYCODONE_5, dosages=[dosage], **kw)


def lorazepam(**kw: Any) -> dict[str, Any]:
    return f.medication_request(*LORAZEPAM_1, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)], **kw)


def ketamine_given(day: str, mg: float = 140, rid: str | None = None) -> dict[str, Any]:
    return f.medication_administration(
        "238082",
        "ketamine 10 MG/ML Injectable Solution",
        effective=f"{day}T09:00:00Z",
        dosage={"dose": {"value": mg, "unit": "mg", "system": f.UCUM, "code": "mg"}},
        rid=rid,
    )


# -- PRE-LFT: multi-day and serial courses, cumulative exposure ---------------------------------------------------


def test_a_five_day_course_ordered_at_once_gets_baseline_and_post_course_liver_tests() -> None:
    # 0.3 mg/kg/h (21 mg/h at 70 kg) for 5 days: below the high-rate default, no earlier course; missed before.
    five_days = ketamine_order(rate=(21, "mg/h"), hours=120)
    lft = outcome(assessed(drafts=(five_days,)), "PRE-LFT")
    assert lft.fired and lft.severity == "warning"
    assert lft.plans == ("order-lft-baseline", "order-lft-post")
    assert "multi-day infusion ordered: 120 h" in lft.detail
    assert "multi-day, serial or high-dose course" in lft.summary
    assert "multiday_course_hours" in lft.local_defaults


def test_five_daily_sessions_in_one_order_are_a_serial_course() -> None:
    order = ketamine_order(rate=(35, "mg/h"), hours=4, repeats=4)
    lft = outcome(assessed(drafts=(order,)), "PRE-LFT")
    assert lft.fired and "serial course ordered: 5 sessions" in lft.detail


def test_a_single_four_hour_infusion_needs_no_liver_tests() -> None:
    lft = outcome(assessed(drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),)), "PRE-LFT")
    assert lft.status == "not-applicable"


def test_weekly_infusions_count_toward_30_and_365_day_exposure() -> None:
    history = [ketamine_given(day, 140) for day in ("2026-10-31", "2026-11-07", "2026-11-14")]
    old = ketamine_given("2026-03-01", 500)
    a = assessed(*history, old, drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),))
    exposure = a.safety.exposure
    assert exposure.window(30).treatment_days == 3 and exposure.window(30).total_mg == 420
    assert exposure.window(365).treatment_days == 4 and exposure.window(365).total_mg == 920
    assert exposure.planned[0].mg == 140 and exposure.planned[0].days == 1
    lft = outcome(a, "PRE-LFT")
    assert lft.fired and "another ketamine course on 2026-11-14" in lft.detail
    assert any(e.reference.startswith("MedicationAdministration/") for e in lft.evidence)


def test_cumulative_mg_above_the_local_default_is_named() -> None:
    history = [ketamine_given(day, 450) for day in ("2026-11-07", "2026-11-14")]
    lft = outcome(assessed(*history, drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),)), "PRE-LFT")
    assert lft.fired and "1040 mg of ketamine in 30 days with this order" in lft.detail
    assert "cumulative_ketamine_mg_30d" in lft.local_defaults


def test_an_order_and_its_administration_on_the_same_day_are_counted_once() -> None:
    past_order = ketamine_order(rate=(35, "mg/h"), hours=4, rid="past-order")
    past_order.update(status="completed", authoredOn="2026-11-14")
    a = assessed(past_order, ketamine_given("2026-11-14", 150))
    month = a.safety.exposure.window(30)
    assert month.treatment_days == 1 and month.total_mg == 150


def test_an_administration_without_an_amount_makes_the_total_a_lower_bound() -> None:
    given = ketamine_given("2026-11-14")
    del given["dosage"]
    month = assessed(given).safety.exposure.window(30)
    assert month.unknown == (f"MedicationAdministration/{given['id']}",)
    assert "at least 0 mg" in month.sentence()


# -- OPI-BZD and OPI-NALOXONE: a patient on lorazepam and oxycodone -------------------------------------------------


def test_oxycodone_with_lorazepam_fires_the_sedation_warning_and_the_naloxone_offer() -> None:
    a = assessed(oxycodone(), lorazepam())
    bzd = outcome(a, "OPI-BZD")
    assert bzd.fired and bzd.severity == "warning"
    assert "oxycodone" in bzd.summary and "lorazepam" in bzd.summary
    assert bzd.citations[0].document == "CDC-2022" and bzd.citations[0].external
    assert "(external source)" in str(bzd.citations[0])
    naloxone = outcome(a, "OPI-NALOXONE")
    assert naloxone.fired and naloxone.plans == ("order-naloxone",)
    assert "benzodiazepine (lorazepam)" in naloxone.summary


def test_oxycodone_alone_below_50_mme_is_quiet_but_the_opioid_is_recorded() -> None:
    a = assessed(oxycodone())  # 30 MME/day
    assert outcome(a, "OPI-BZD").status == "satisfied"
    assert outcome(a, "OPI-NALOXONE").status == "not-applicable"
    assert not {"OPI-BZD", "OPI-NALOXONE"} & {o.rule_id for o in a.findings}


def test_lorazepam_without_an_opioid_is_not_this_rule() -> None:
    a = assessed(lorazepam())
    assert outcome(a, "OPI-BZD").status == "not-applicable"
    assert outcome(a, "OPI-NALOXONE").status == "not-applicable"


def test_a_stopped_benzodiazepine_does_not_count() -> None:
    assert outcome(assessed(oxycodone(), lorazepam(status="stopped")), "OPI-BZD").status == "satisfied"


def test_naloxone_is_offered_at_50_mme_and_satisfied_once_on_record() -> None:
    high = oxycodone(2, 4)  # 60 MME/day
    fired = outcome(assessed(high), "OPI-NALOXONE")
    assert fired.fired and "60 MME/day" in fired.summary
    narcan = f.medication_request(None, "naloxone 4 mg/0.1 mL nasal spray")
    assert outcome(assessed(high, narcan), "OPI-NALOXONE").status == "satisfied"
    suboxone = f.medication_request("351267", "buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet")
    assert outcome(assessed(high, suboxone), "OPI-NALOXONE").fired  # buprenorphine/naloxone is not rescue


def test_a_benzodiazepine_is_also_found_by_ingredient_code_and_name() -> None:
    by_ingredient = f.medication_request("3322", "diazepam")
    by_name = f.medication_statement(None, "Clonazepam 0.5mg tabs")
    for benzo in (by_ingredient, by_name):
        assert outcome(assessed(oxycodone(), benzo), "OPI-BZD").fired


def test_the_naloxone_order_is_the_ingredient_with_product_per_local_formulary() -> None:
    (order,) = medication_orders({"order-naloxone": ["OPI-NALOXONE: offer"]}, patient_reference="Patient/example")[
        "order-naloxone"
    ]
    assert order["status"] == "draft" and order["intent"] == "proposal"
    coding = order["medicationCodeableConcept"]["coding"][0]
    assert (coding["code"], coding["display"]) == ("7242", "naloxone")
    assert "per local formulary" in order["medicationCodeableConcept"]["text"]
    assert any("CDC opioid guideline 2022" in n["text"] and "(external source)" in n["text"] for n in order["note"])


def test_with_a_ketamine_order_the_warning_names_midazolam_and_the_rescue_order_carries_the_caution() -> None:
    a = assessed(oxycodone(), lorazepam(), drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),))
    assert "midazolam" in outcome(a, "OPI-BZD").detail
    caution = rescue_caution(a.outcomes)
    assert caution is not None and "an opioid and a benzodiazepine" in caution
    order_set = build_order_set(
        "asra-outpatient-single-infusion",
        weight_kg=70,
        age=51,
        outcomes=a.findings,
        patient_reference="Patient/example",
        settings=SETTINGS,
        rescue_caution=caution,
    )
    midazolam = next(r for r in order_set.medication_requests if "midazolam" in r["medicationCodeableConcept"]["text"])
    assert any("an opioid and a benzodiazepine" in n["text"] for n in midazolam["note"])
    others = [r for r in order_set.medication_requests if r is not midazolam]
    assert not any("Caution: the patient takes" in n["text"] for r in others for n in r.get("note", []))


def test_a_patient_on_an_opioid_alone_still_gets_the_caution_on_the_midazolam_rescue() -> None:
    caution = rescue_caution(assessed(oxycodone()).outcomes)
    assert caution is not None and "takes an opioid (" in caution and "oxycodone" in caution
    assert rescue_caution(assessed().outcomes) is None


# -- FREQ-RESPONSE: a series of weekly infusions with and without pain scores -------------------------------------

WEEKLY = ("2026-10-24", "2026-10-31", "2026-11-07", "2026-11-14")


def weekly_infusions() -> list[dict[str, Any]]:
    return [ketamine_given(day) for day in WEEKLY]


def pain(
    score: float, when: str, code: tuple[str, str] = ("72514-3", "Pain severity - 0-10 verbal numeric rating")
) -> dict[str, Any]:
    return f.observation(code[0], code[1], value=score, unit="{score}", effective=when)


def follow_up(when: str, **answers: str) -> dict[str, Any]:
    from datetime import datetime

    from smart_app.fhir.follow_up import questionnaire_response

    answers.setdefault("pain", "5")
    built = questionnaire_response(
        answers, patient_reference="Patient/example", authored=datetime.fromisoformat(when.replace("Z", "+00:00"))
    )
    assert built.resource is not None, built.problems
    return {**built.resource, "id": f"qr-{when[:10]}"}


NEXT = (ketamine_order(rate=(35, "mg/h"), hours=4),)


def test_a_weekly_series_without_any_documented_response_asks_for_the_review_before_this_order() -> None:
    response = outcome(assessed(*weekly_infusions(), drafts=NEXT), "FREQ-RESPONSE")
    assert response.fired and response.severity == "warning"
    assert response.plans == ("record-response",)
    assert "No documented response" in response.summary and "4 treatment days" in response.summary
    assert "reassess before initiating further treatments" in response.detail
    assert "course_gap_days" in response.local_defaults


def test_a_weekly_series_with_pain_falling_by_half_is_a_documented_response() -> None:
    scores = [pain(8, "2026-10-24T08:00:00Z"), pain(6, "2026-10-31T08:00:00Z"), pain(4, "2026-11-14T08:00:00Z")]
    response = outcome(assessed(*weekly_infusions(), *scores, drafts=NEXT), "FREQ-RESPONSE")
    assert response.status == "satisfied"
    assert "pain 8 -> 4 (-50%, response" in response.summary


def test_a_weekly_series_continued_despite_no_response_is_flagged_not_by_rote() -> None:
    scores = [pain(8, "2026-10-24T08:00:00Z"), pain(7, "2026-11-14T08:00:00Z")]
    response = outcome(assessed(*weekly_infusions(), *scores, drafts=NEXT), "FREQ-RESPONSE")
    assert response.fired and response.severity == "warning" and not response.plans
    assert "not to go on by rote" in response.summary
    assert "pain 8 -> 7 (-12%, no response" in response.detail


def test_a_follow_up_questionnaire_documents_relief_and_function() -> None:
    good = follow_up("2026-11-18T10:00:00Z", **{"pain-relief": "40", "function": "better"})
    assert outcome(assessed(*weekly_infusions(), good, drafts=NEXT), "FREQ-RESPONSE").status == "satisfied"
    poor = follow_up("2026-11-18T10:00:00Z", **{"pain-relief": "10", "function": "no-change"})
    flagged = outcome(assessed(*weekly_infusions(), poor, drafts=NEXT), "FREQ-RESPONSE")
    assert flagged.fired and "reported relief 10% (no response" in flagged.detail


def test_a_follow_up_for_another_questionnaire_is_not_a_documented_response() -> None:
    other = {**follow_up("2026-11-18T10:00:00Z", **{"pain-relief": "60"}), "questionnaire": "http://example.org/Q/x"}
    assert outcome(assessed(*weekly_infusions(), other, drafts=NEXT), "FREQ-RESPONSE").fired


def test_the_first_treatment_has_no_series_to_review() -> None:
    response = outcome(assessed(drafts=NEXT), "FREQ-RESPONSE")
    assert response.status == "not-applicable" and "reassess after this first treatment" in response.summary


def test_without_a_new_order_an_undocumented_course_is_an_information_item_for_the_app() -> None:
    response = outcome(assessed(*weekly_infusions()), "FREQ-RESPONSE")
    assert response.fired and response.severity == "info" and response.plans == ("record-response",)


def test_a_pain_score_with_no_baseline_is_not_comparable_rather_than_no_response() -> None:
    response = outcome(assessed(*weekly_infusions(), pain(6, "2026-11-14T08:00:00Z"), drafts=NEXT), "FREQ-RESPONSE")
    assert response.status == "not-evaluable" and response.missing[0].need == "pain-baseline"


def test_nothing_documented_while_observations_could_not_be_had_is_not_checked_rather_than_an_alert() -> None:
    from smart_app.core.model import DataGap

    record = build_record(
        [f.patient("1975-05-01"), WEIGHT, *weekly_infusions()],
        draft_orders=NEXT,
        gaps=[DataGap("Observation", "the Observation search failed")],
    )
    a = assess(record, drafts=[m for m in record.medications if m.is_draft_order], on=ON, settings=SETTINGS)
    assert outcome(a, "FREQ-RESPONSE").status == "not-evaluable"


# -- OPI-BASELINE and POST-TAPER: a taper over months ---------------------------------------------------------------

OXY_ER_10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
OXY_ER_20 = ("1049563", "12 HR oxycodone hydrochloride 20 MG Extended Release Oral Tablet")


def oxycodone_er(code: tuple[str, str], start: str, end: str | None, *, status: str = "completed") -> dict[str, Any]:
    """Oxycodone ER every 12 h between two dates (dosage bounds), as a completed or active order."""
    timing: dict[str, Any] = {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}
    if end is not None:
        timing["repeat"]["boundsPeriod"] = {"start": start, "end": end}
    dosage = {"doseAndRate": [{"doseQuantity": f.dose_quantity(1)}], "timing": timing}
    return f.medication_request(*code, dosages=[dosage], status=status, authoredOn=start)


def taper_to_off() -> list[dict[str, Any]]:
    """60 MME/day from March, 30 from July, 15 from October, stopped on 10 November."""
    return [
        oxycodone_er(OXY_ER_20, "2026-03-01", "2026-06-30"),
        oxycodone_er(OXY_ER_10, "2026-07-01", "2026-09-30"),
        f.medication_request(
            "1049621",
            "oxycodone hydrochloride 5 MG Oral Tablet",
            status="completed",
            authoredOn="2026-10-01",
            dosages=[
                {
                    "doseAndRate": [{"doseQuantity": f.dose_quantity(1)}],
                    "timing": {
                        "repeat": {
                            "frequency": 2,
                            "period": 1,
                            "periodUnit": "d",
                            "boundsPeriod": {"start": "2026-10-01", "end": "2026-11-10"},
                        }
                    },
                }
            ],
        ),
    ]


def oxycodone_draft(tablets: float, per_day: int) -> dict[str, Any]:
    return oxycodone(tablets, per_day, status="draft", rid="draft-oxy")


def test_an_opioid_order_after_a_taper_to_off_warns_of_opioid_naivety_and_offers_naloxone() -> None:
    a = assessed(*taper_to_off(), drafts=(oxycodone_draft(2, 4),))  # 60 MME/day again
    taper = outcome(a, "POST-TAPER")
    assert taper.fired and taper.severity == "warning"
    assert "re-introduced after a taper (60 to 0 MME/day" in taper.summary and "opioid-naive" in taper.summary
    assert "opioid naive" in taper.detail and "post_taper_fall_percent" in taper.local_defaults
    assert taper.citations[0].document == "ISCRR" and taper.citations[0].lines == "L1397–1399"
    naloxone = outcome(a, "OPI-NALOXONE")
    assert naloxone.fired and "re-introduced after a taper" in naloxone.summary + naloxone.detail


def test_a_small_re_introduction_after_the_taper_still_warns() -> None:
    assert outcome(assessed(*taper_to_off(), drafts=(oxycodone_draft(1, 2),)), "POST-TAPER").fired  # 15 MME/day


def test_an_order_in_line_with_a_stable_dose_is_the_near_miss() -> None:
    stable = oxycodone_er(OXY_ER_10, "2026-05-01", None, status="active")  # 30 MME/day for months
    prn = f.medication_request(
        *OXYCODONE_5,
        status="draft",
        rid="draft-prn",
        dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2, as_needed=True)],
    )  # + 15 MME/day
    taper = outcome(assessed(stable, drafts=(prn,)), "POST-TAPER")
    assert taper.status == "satisfied" and "in line with the recent dose" in taper.summary


def test_an_order_far_above_the_recent_dose_gets_the_same_warning() -> None:
    low = f.medication_request(*OXYCODONE_5, dosages=[f.dosage(dose=f.dose_quantity(1), frequency=2)])  # 15
    taper = outcome(assessed(low, drafts=(oxycodone_draft(1, 4),)), "POST-TAPER")  # +30: x3
    assert taper.fired and "far above the recent dose: 15 to 45 MME/day (x3.0)" in taper.summary


def test_a_first_opioid_for_an_opioid_naive_patient_is_not_a_re_introduction() -> None:
    assert outcome(assessed(drafts=(oxycodone_draft(1, 4),)), "POST-TAPER").status == "not-applicable"


def test_without_an_opioid_order_the_taper_is_named_but_nothing_fires() -> None:
    a = assessed(*taper_to_off(), drafts=(ketamine_order(rate=(35, "mg/h"), hours=4),))
    taper = outcome(a, "POST-TAPER")
    assert taper.status == "not-applicable" and "fell 100% (from 60 to 0)" in taper.summary


def test_the_opioid_baseline_at_the_first_treatment_is_kept_and_compared_with_today() -> None:
    infusions = [ketamine_given(day) for day in ("2026-08-03", "2026-08-10", "2026-08-17")]
    current = oxycodone_er(OXY_ER_10, "2026-10-01", None, status="active")  # 30 MME/day from October
    history = [oxycodone_er(OXY_ER_20, "2026-03-01", "2026-09-30"), current]  # 60 MME/day at the first infusion
    a = assessed(*history, *infusions)
    baseline = outcome(a, "OPI-BASELINE")
    assert baseline.status == "satisfied"
    assert "Opioid baseline 60 MME/day at the first ketamine treatment (on 2026-08-03); today 30" in baseline.summary
    assert "(-50%)" in baseline.summary
    assert any(e.reference.startswith("MedicationRequest/") for e in baseline.evidence)
    response = outcome(a, "FREQ-RESPONSE")  # the opioid criterion alone: a >= 20% reduction
    assert response.status == "satisfied" and "opioids 60 -> 30 MME/day (-50%, response" in response.summary


def test_a_new_course_keeps_todays_opioid_load_as_its_baseline() -> None:
    a = assessed(oxycodone_er(OXY_ER_10, "2026-10-01", None, status="active"), drafts=NEXT)
    baseline = outcome(a, "OPI-BASELINE")
    assert (
        baseline.status == "satisfied" and "30 MME/day" in baseline.summary and "starts the course" in baseline.summary
    )


def test_no_course_and_no_ketamine_order_needs_no_baseline() -> None:
    assert outcome(assessed(oxycodone()), "OPI-BASELINE").status == "not-applicable"


def test_an_opioid_whose_dose_cannot_be_computed_leaves_the_baseline_not_evaluable() -> None:
    unknown = f.medication_request(*OXYCODONE_5, dosages=[{"text": "as directed"}])
    baseline = outcome(assessed(unknown, drafts=NEXT), "OPI-BASELINE")
    assert baseline.status == "not-evaluable" and baseline.missing[0].need == "opioid-dose"


def test_a_follow_up_about_another_patient_is_never_this_patients_response() -> None:
    theirs = {**follow_up("2026-11-18T10:00:00Z", **{"pain-relief": "60"}), "subject": {"reference": "Patient/other"}}
    assert outcome(assessed(*weekly_infusions(), theirs, drafts=NEXT), "FREQ-RESPONSE").fired
