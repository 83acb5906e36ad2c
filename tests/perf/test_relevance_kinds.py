"""The per-kind relevance filter (core/safety/windows.py) changes no card and no check.

Records are built with the filter and with no filter at all, and compared: the safety evaluation (every outcome
with its evidence, the weight, the baseline tests) and, through the whole hook pipeline, the service's cards. The
records vary what the filter decides on: observations of every kind the rules read (and some they do not) dated at
the edges of each window and far beyond, old ECGs, LFTs around their window, weights of different ages and units,
pain-score histories across ketamine course starts, statuses, BP panels under other codes, and the look-back
settings themselves. Also: the audit table names every observation value set, and the filter reads far less."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.workload import resources as workload_resources
from smart_app.cds_hooks import pipeline
from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.pipeline import run_service
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.core.safety import evaluate
from smart_app.core.safety.terminology import value_set, value_set_names
from smart_app.core.safety.windows import PANEL_LOOKBACK, READERS, relevance_for
from smart_app.fhir.record import build_record
from tests import fhir_factory as f
from tests.cds_hooks.support import ketamine_infusion

ON = datetime(2026, 11, 20, 12, tzinfo=UTC)
PATIENT = "kinds-p"
SERVICE = "ketamine-safety-order-sign"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VITALS = [{"coding": [f.coding("http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs")]}]
_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_PER_KG = {"kg": 1.0, "g": 1000.0, "[lb_av]": 2.20462, "stone": 1 / 6.35029}


def _at(days: float) -> str:
    return (ON - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- what the rules read, and the edges of their windows ------------------------------------------------------------

# Days before ON around every default window (30, 90, 180, the year) and the settings drawn below, and far beyond.
EDGE_DAYS = [-3, 0.2, 1, 6, 7, 8, 29, 29.9, 30, 30.1, 31, 60, 89, 90, 90.5, 91, 92, 120, 179, 180, 180.5, 181, 182]
EDGE_DAYS += [200, 250, 300, 364, 364.9, 365, 365.5, 366, 366.5, 367, 380, 400, 500, 700, 900]

KINDS = (
    "weight",
    "bp-panel",
    "other-panel",
    "systolic",
    "diastolic",
    "ecg",
    "alt",
    "ast",
    "bilirubin",
    "alp",
    "hcg",
    "pain",
    "pain-vas",
    "pain-interference",
    "heart-rate",
)


@st.composite
def _observation(draw: st.DrawFn, i: int, readable: bool, kinds: list[str]) -> dict[str, Any]:
    kind = draw(st.sampled_from(kinds))
    days = draw(st.one_of(st.sampled_from(EDGE_DAYS), st.floats(-5, 900, allow_nan=False)))
    status = draw(st.sampled_from(["final", "final", "amended", "corrected", "preliminary", "cancelled"]))
    rid = f"o{i}"
    obs: dict[str, Any]
    if kind == "weight":
        unit = draw(st.sampled_from(["kg", "kg", "[lb_av]", "g", "stone", None]))
        kg = draw(st.sampled_from([70.5, 82, 154]))
        # The value is a plausible weight written in its unit: an implausible one is unreadable data (vitals
        # names it on the data card when it is read), drawn below only for the unreadable records.
        value = round(kg * _PER_KG.get(unit or "kg", 1.0), 1)
        if not readable and draw(st.integers(0, 6)) == 0:
            value = kg  # 70.5 g or 154 stone: outside the plausible weights
        obs = f.observation("29463-7", "Body weight", value=value, unit=unit, category=_VITALS, rid=rid)
        if draw(st.booleans()):
            del obs["valueQuantity"]["value"]
    elif kind in ("bp-panel", "other-panel"):
        obs = f.blood_pressure(draw(st.sampled_from([118, 150, 182])), draw(st.sampled_from([70, 95, 112])))
        obs["id"] = rid
        if kind == "other-panel":  # latest_bp reads any panel's systolic/diastolic components
            obs["code"] = {"coding": [f.coding(f.LOINC, "55284-4", "Blood pressure systolic and diastolic")]}
    elif kind in ("systolic", "diastolic"):
        loinc, name = ("8480-6", "Systolic") if kind == "systolic" else ("8462-4", "Diastolic")
        value = draw(st.sampled_from([80, 120, 165, 190]))
        obs = f.observation(loinc, name, value=value, unit=draw(st.sampled_from(["mm[Hg]", "kPa"])), rid=rid)
    elif kind == "ecg":
        obs = f.observation("11524-6", "EKG study", rid=rid, valueString="Normal sinus rhythm")
    elif kind in ("alt", "ast", "bilirubin", "alp"):
        lab = {"alt": "1742-6", "ast": "1920-8", "bilirubin": "1975-2", "alp": "6768-6"}[kind]
        unit = "mg/dL" if kind == "bilirubin" else draw(st.sampled_from(["U/L", "U/L", "ukat/L"]))
        result = draw(st.sampled_from([0.8, 25.0, 90.0, 400.0]))
        obs = f.observation(lab, kind.upper(), value=result, unit=unit, rid=rid)
        if draw(st.booleans()):
            obs["referenceRange"] = [{"high": {"value": 40, "unit": unit, "system": f.UCUM, "code": unit}}]
    elif kind == "hcg":
        obs = f.observation("2106-3", "Choriogonadotropin [Presence]", rid=rid)
        if draw(st.booleans()):
            obs["valueBoolean"] = draw(st.booleans())
        else:
            obs["interpretation"] = [{"coding": [f.coding(_INTERPRETATION, draw(st.sampled_from(["POS", "NEG"])))]}]
    elif kind.startswith("pain"):
        pain = {"pain": "72514-3", "pain-vas": "38214-3", "pain-interference": "77565-0"}[kind]
        score = draw(st.sampled_from([2, 3, 5, 7, 9, 40]))
        obs = f.observation(pain, "Pain", value=score, unit="{score}", rid=rid)
        if draw(st.integers(0, 5)) == 0:
            del obs["valueQuantity"]
    else:
        obs = f.observation("8867-4", "Heart rate", value=72, unit="/min", rid=rid)
    obs["status"] = status
    obs["subject"] = {"reference": f"Patient/{PATIENT}"}
    when = _at(days)
    obs.pop("effectiveDateTime", None)
    dating = draw(st.sampled_from(["effective", "effective", "issued", "period", "both"]))
    if dating == "issued":
        obs["issued"] = when
    elif dating == "period":
        obs["effectivePeriod"] = {"start": _at(days + 0.5), "end": when}
    else:
        obs["effectiveDateTime"] = when
        if dating == "both":
            obs["issued"] = _at(days - 1)
    if not readable and draw(st.integers(0, 6)) == 0:  # unreadable: reported when read (the data card)
        obs["valueQuantity"] = {"value": "seventy", "unit": "kg"}
    return obs


@st.composite
def _record(draw: st.DrawFn, readable: bool = True) -> list[dict[str, Any]]:
    patient = f.patient(birth_date="1975-05-01", gender=draw(st.sampled_from(["female", "male"])))
    patient["id"] = PATIENT
    resources: list[dict[str, Any]] = [patient]
    # A few kinds per record, so that results of one kind meet at the edges of its window more often.
    kinds = draw(st.lists(st.sampled_from(KINDS), min_size=1, max_size=4, unique=True))
    for i in range(draw(st.integers(0, 30))):
        resources.append(draw(_observation(i, readable, kinds)))
    # Ketamine treatments: courses that start within the year, at its edge, or before it (FREQ-RESPONSE).
    for i, days in enumerate(
        draw(st.lists(st.sampled_from([3, 10, 17, 40, 100, 200, 300, 360, 364, 370]), max_size=4))
    ):
        given_at = f.medication_administration("238082", "ketamine 10 MG/ML Injectable Solution", rid=f"ma{i}")
        given_at.update(effectiveDateTime=_at(days), subject={"reference": f"Patient/{PATIENT}"})
        resources.append(given_at)
    conditions = [
        (f.SNOMED, "84114007", "Heart failure"),  # PRE-ECG is needed
        (f.SNOMED, "19943007", "Cirrhosis of liver"),  # CI-HEP, PRE-LFT
        (f.SNOMED, "38341003", "Hypertensive disorder"),
        (f.SNOMED, "77386006", "Pregnancy"),
    ]
    for i, (system, code, display) in enumerate(draw(st.lists(st.sampled_from(conditions), max_size=3, unique=True))):
        condition = f.condition(system, code, display, rid=f"c{i}")
        condition["subject"] = {"reference": f"Patient/{PATIENT}"}
        resources.append(condition)
    return resources


@st.composite
def _settings(draw: st.DrawFn) -> LocalDefaults:
    def days(default: int) -> int:
        return draw(st.sampled_from([default, 7, 30, 90, 120, 180, 200, 400]))

    return LocalDefaults(
        weight_lookback_days=days(30),
        bp_lookback_days=days(90),
        ecg_lookback_days=days(180),
        lft_lookback_days=days(90),
        pregnancy_test_lookback_days=days(30),
    )


# -- the comparisons ----------------------------------------------------------------------------------------------


def _assessment(resources: list[dict[str, Any]], defaults: LocalDefaults, filtered: bool) -> Any:
    record = build_record(
        resources,
        draft_orders=[ketamine_infusion(35)],
        relevant=relevance_for(ON, defaults) if filtered else None,
    )
    drafts = [m for m in record.medications if m.is_draft_order]
    report = evaluate(record, drafts=drafts, on=ON, settings=defaults)
    return report.outcomes, report.weight_kg, report.weight_evidence, report.baseline_tests, report.age


def _cards(resources: list[dict[str, Any]], defaults: LocalDefaults) -> list[dict[str, Any]]:
    service = default_registry().get(SERVICE)
    assert service is not None
    draft = ketamine_infusion(35)
    draft["subject"] = {"reference": f"Patient/{PATIENT}"}
    body = hook_request(
        "order-sign", patient_id=PATIENT, drafts=[draft], prefetch=prefetch_for(resources, KETAMINE_QUERIES)
    )
    request = HookRequest.model_validate(orjson.loads(orjson.dumps(body)))  # fresh dicts, as from the wire
    cards = asyncio.run(run_service(service, request, ServiceSettings(auth_enabled=False), defaults, on=ON))
    found: list[dict[str, Any]] = orjson.loads(_UUID.sub("<uuid>", orjson.dumps([c.to_json() for c in cards]).decode()))
    return found


def _unfiltered_cards(resources: list[dict[str, Any]], defaults: LocalDefaults) -> list[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(pipeline, "relevance_for", lambda on, settings: None)
        return _cards(resources, defaults)


_EXAMPLES = int(os.environ.get("RELEVANCE_FUZZ_EXAMPLES", "150"))


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_record(), _settings())
def test_every_check_is_the_same_with_and_without_the_filter(
    resources: list[dict[str, Any]], defaults: LocalDefaults
) -> None:
    assert _assessment(resources, defaults, True) == _assessment(resources, defaults, False)


@settings(max_examples=max(_EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_record(), _settings())
def test_every_card_is_the_same_with_and_without_the_filter(
    resources: list[dict[str, Any]], defaults: LocalDefaults
) -> None:
    assert _cards(resources, defaults) == _unfiltered_cards(resources, defaults)


@settings(max_examples=max(_EXAMPLES // 3, 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_record(readable=False))
def test_unreadable_observations_change_no_check(resources: list[dict[str, Any]]) -> None:
    """An unreadable observation is left out either way; the filter only decides whether it is named (when its kind
    is read at that age), so the checks are the same and what is named is a part of what the plain path names."""
    defaults = LocalDefaults()
    assert _assessment(resources, defaults, True) == _assessment(resources, defaults, False)
    filtered = build_record(resources, relevant=relevance_for(ON, defaults))
    plain = build_record(resources)
    assert set(filtered.problems) <= set(plain.problems)


# -- cases named in the audit -------------------------------------------------------------------------------------


def _pain(days: float, score: float, status: str = "final", rid: str | None = None) -> dict[str, Any]:
    obs = f.observation("72514-3", "Pain severity 0-10", value=score, unit="{score}", status=status, rid=rid)
    obs["effectiveDateTime"] = _at(days)
    return obs


def _ketamine(days: float, rid: str) -> dict[str, Any]:
    given_at = f.medication_administration("238082", "ketamine 10 MG/ML Injectable Solution", rid=rid)
    given_at["effectiveDateTime"] = _at(days)
    return given_at


def _outcome(resources: list[dict[str, Any]], rule: str, filtered: bool = True) -> Any:
    outcomes = _assessment([f.patient(birth_date="1975-05-01"), *resources], LocalDefaults(), filtered)[0]
    return next(o for o in outcomes if o.rule_id == rule)


def test_the_pain_baseline_is_the_newest_usable_score_of_any_age() -> None:
    """The course began 200 days ago; the scores before it are 400 days old (final, 7) and 380 days old (preliminary,
    which the response review does not read): the baseline is the 400-day-old one, with or without the filter."""
    resources = [_ketamine(200, "k1"), _pain(400, 7, rid="p-old"), _pain(380, 5, "preliminary"), _pain(100, 3)]
    filtered, plain = _outcome(resources, "FREQ-RESPONSE"), _outcome(resources, "FREQ-RESPONSE", False)
    assert filtered == plain
    assert filtered.status == "satisfied" and "pain 7 -> 3" in filtered.summary


def test_an_ecg_outside_every_window_is_still_named() -> None:
    heart_failure = f.condition(f.SNOMED, "84114007", "Heart failure")
    ecg = f.observation("11524-6", "EKG study", rid="ecg-old", effective=_at(700), valueString="Normal")
    filtered = _outcome([heart_failure, ecg], "PRE-ECG")
    assert filtered == _outcome([heart_failure, ecg], "PRE-ECG", False)
    assert "most recent 12-lead ECG is from" in filtered.detail
    assert any(e.reference == "Observation/ecg-old" for e in filtered.evidence)


def test_an_old_weight_is_named_and_an_unusable_newer_one_skipped() -> None:
    old = f.weight(70, effective=_at(300))
    old["id"] = "w-old"
    no_unit = f.weight(71, effective=_at(200))
    del no_unit["valueQuantity"]["unit"], no_unit["valueQuantity"]["code"]
    filtered = [o for o in _assessment([f.patient(), old, no_unit], LocalDefaults(), True)[0] if o.fired]
    plain = [o for o in _assessment([f.patient(), old, no_unit], LocalDefaults(), False)[0] if o.fired]
    assert filtered == plain
    assert any(e.reference == "Observation/w-old" for o in filtered for e in o.evidence)


def test_an_implausible_weight_no_rule_reads_is_not_named_on_the_cards() -> None:
    """Weights 60 days (70.5 kg) and 89 days old (70.5 g, implausible), with a 30-day look-back: the rules read the
    newest usable one only, so the hook's cards leave the older, implausible one out (the plain record, which the
    SMART app shows, still names it), while one within the look-back is named either way."""
    usable, implausible = f.weight(70.5, effective=_at(60)), f.weight(70.5, effective=_at(89))
    implausible["id"], implausible["valueQuantity"]["unit"], implausible["valueQuantity"]["code"] = "w-g", "g", "g"
    patient = f.patient(birth_date="1975-05-01")
    patient["id"] = PATIENT
    for obs in (usable, implausible):
        obs["subject"] = {"reference": f"Patient/{PATIENT}"}

    def named(cards: list[dict[str, Any]]) -> bool:
        return any("Observation/w-g" in c.get("detail", "") for c in cards)

    assert not named(_cards([patient, usable, implausible], LocalDefaults()))
    assert named(_unfiltered_cards([patient, usable, implausible], LocalDefaults()))
    assert any(p.reference == "Observation/w-g" for p in build_record([patient, usable, implausible]).problems)
    implausible["effectiveDateTime"] = _at(10)
    assert named(_cards([patient, usable, implausible], LocalDefaults()))


def test_the_audit_names_every_observation_value_set() -> None:
    """A new observation value set needs a row in core/safety/windows.py (its readers and window)."""
    observed = {name for name in value_set_names() if value_set(name).kind == "observation"}
    read_through_components = {"bp-panel"}  # vitals.latest_bp reads a panel by its components (PANEL_LOOKBACK)
    assert observed == {r.value_set for r in READERS} | read_through_components
    settings_names = set(LocalDefaults.model_fields)
    assert {r.lookback for r in READERS if r.lookback is not None} | {PANEL_LOOKBACK} <= settings_names


def test_the_filter_reads_a_small_part_of_an_old_record() -> None:
    resources = workload_resources(now=ON)
    kept = build_record(resources, relevant=relevance_for(ON, LocalDefaults()))
    everything = build_record(resources)
    assert len(kept.observations) < len(everything.observations) / 5


@st.composite
def _pain_history(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Ketamine courses of the year and pain scores around their starts and beyond the year, some not usable."""
    starts = draw(st.lists(st.sampled_from([5, 30, 120, 250, 330, 364]), min_size=1, max_size=3, unique=True))
    resources = [_ketamine(days, f"k{i}") for i, days in enumerate(starts)]
    ages = st.one_of(st.sampled_from([d + s for d in starts for s in (-2, -0.1, 0.1, 3)]), st.floats(300, 900))
    for i in range(draw(st.integers(1, 8))):
        score = _pain(draw(ages), draw(st.sampled_from([2, 4, 7])), draw(st.sampled_from(["final", "preliminary"])))
        score["id"] = f"p{i}"
        if draw(st.integers(0, 3)) == 0:
            del score["valueQuantity"]["value"]
        resources.append(score)
    return resources


@settings(max_examples=_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_pain_history())
def test_pain_histories_give_the_same_response_review(resources: list[dict[str, Any]]) -> None:
    assert _outcome(resources, "FREQ-RESPONSE") == _outcome(resources, "FREQ-RESPONSE", False)
