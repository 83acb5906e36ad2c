"""Alert burden: cards per order through the real CDS Hooks service, and whether each card asks for an action.

Typical orders written from the guidelines (ASRA 2018 Table 6 and Q3/Q5/Q6/Q8, ANZCA PS12 2.2.3, CDC 2022 for
MME) go through order-select (the draft selected) and order-sign, in-process over the ASGI app with prefetch as an
EHR sends it. Three kinds of case:

- correct: a correct order for a patient with nothing wrong (target: 0 cards at both hooks);
- alert: a patient or order the guidelines warn about (target: the expected rule fires, at order-sign);
- opioid: opioid orders through the MME service (target: silent below 50 MME/day, a card at or above).

A card is "actionable" when it asks the clinician to do or reconsider something: a fired rule (its topic is a rule
of the catalogue), the MME level card, the protocol card (choose a regimen) or the checklist card. The data card
(what could not be checked) is informational. Prints a table and the totals; no pass/fail.

    .venv/bin/python benchmarks/bench_alert_burden.py
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, OPIOID_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.core.safety.catalogue import CATALOGUE
from smart_app.storage import FeedbackStore

SNOMED, ICD10, LOINC, RXNORM = (
    "http://snomed.info/sct",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://loinc.org",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
)
UCUM = "http://unitsofmeasure.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
PATIENT = "bench"
_ids = itertools.count(1)
Resource = dict[str, Any]


def _ref() -> dict[str, str]:
    return {"reference": f"Patient/{PATIENT}"}


def patient(birth: str = "1975-05-01") -> Resource:
    return {"resourceType": "Patient", "id": PATIENT, "birthDate": birth, "gender": "female"}


def condition(system: str, code: str, display: str, onset: str = "2024-01-10") -> Resource:
    return {
        "resourceType": "Condition",
        "id": f"c{next(_ids)}",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "verificationStatus": {"coding": [{"code": "confirmed"}]},
        "code": {"coding": [{"system": system, "code": code, "display": display}], "text": display},
        "subject": _ref(),
        "onsetDateTime": onset,
    }


def observation(code: str, display: str, value: float, unit: str, when: str = "2026-11-20T09:00:00Z") -> Resource:
    return {
        "resourceType": "Observation",
        "id": f"o{next(_ids)}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": _ref(),
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def weight(kg: float = 70) -> Resource:
    return observation("29463-7", "Body weight", kg, "kg")


def blood_pressure(systolic: float, diastolic: float, when: str = "2026-11-20T09:00:00Z") -> Resource:
    def component(code: str, value: float) -> Resource:
        return {
            "code": {"coding": [{"system": LOINC, "code": code}]},
            "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"},
        }

    return {
        "resourceType": "Observation",
        "id": f"bp{next(_ids)}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
        "subject": _ref(),
        "effectiveDateTime": when,
        "component": [component("8480-6", systolic), component("8462-4", diastolic)],
    }


def ecg(when: str = "2026-10-15T09:00:00Z") -> Resource:
    resource = observation("34534-8", "12 lead EKG panel", 0, "1", when)
    del resource["valueQuantity"]
    resource["valueString"] = "Sinus rhythm, normal ECG"
    return resource


def opioid(code: str, display: str, tablets: float, per_day: int, status: str = "active") -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": f"m{next(_ids)}",
        "status": status,
        "intent": "order",
        "subject": _ref(),
        "authoredOn": "2026-10-01",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "TAB"}}],
            }
        ],
    }


def past_infusion(day: str) -> Resource:
    return {
        "resourceType": "MedicationAdministration",
        "id": f"a{next(_ids)}",
        "status": "completed",
        "subject": _ref(),
        "effectiveDateTime": f"{day}T10:00:00Z",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "238082", "display": "ketamine 10 MG/ML Injectable Solution"}]
        },
    }


def ketamine(
    mg_per_h: float | None = 35,
    *,
    bolus_mg: float | None = None,
    hours: float | None = 4,
    route: tuple[str, str] = ("47625008", "Intravenous route"),
    setting: str = "outpatient",
) -> Resource:
    dose_and_rate: list[Resource] = []
    if bolus_mg is not None:
        dose_and_rate.append({"doseQuantity": {"value": bolus_mg, "unit": "mg", "system": UCUM, "code": "mg"}})
    if mg_per_h is not None:
        dose_and_rate.append({"rateQuantity": {"value": mg_per_h, "unit": "mg/h", "system": UCUM, "code": "mg/h"}})
    return {
        "resourceType": "MedicationRequest",
        "id": "draft-ketamine",
        "status": "draft",
        "intent": "order",
        "subject": _ref(),
        "authoredOn": "2026-11-21",
        "category": [{"coding": [{"system": CATEGORY, "code": setting}]}],
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "238082", "display": "ketamine 10 MG/ML Injectable Solution"}]
        },
        "dosageInstruction": [
            {
                "route": {"coding": [{"system": SNOMED, "code": route[0], "display": route[1]}], "text": route[1]},
                **({"timing": {"repeat": {"duration": hours, "durationUnit": "h"}}} if hours else {}),
                "doseAndRate": dose_and_rate,
            }
        ],
    }


def liver_test(code: str, display: str) -> Resource:
    """A draft ServiceRequest for a liver test, as a protocol's order set drafts it beside the ketamine order."""
    return {
        "resourceType": "ServiceRequest",
        "id": f"draft-{code}",
        "status": "draft",
        "intent": "order",
        "subject": _ref(),
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
    }


def days_ago(days: int, hour: int = 10) -> str:
    """A date-time `days` before today (the service assesses on the day it is called)."""
    when = datetime.now(UTC).replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(days=days)
    return when.isoformat().replace("+00:00", "Z")


def pain(score: float, when: str) -> Resource:
    return observation("72514-3", "Pain severity - 0-10 verbal numeric rating", score, "{score}", when)


def weekly_series(*, responded: bool | None = None) -> list[Resource]:
    """Four weekly infusions over the last four weeks; pain 8 before the first and 4 (or 7) before the last."""
    series = [past_infusion(days_ago(d)[:10]) for d in (28, 21, 14, 7)]
    if responded is not None:
        series += [pain(8, days_ago(28, 8)), pain(4 if responded else 7, days_ago(7, 8))]
    return series


def benzodiazepine() -> Resource:
    return opioid("197901", "lorazepam 1 MG Oral Tablet", 1, 2)


def tapered_off() -> list[Resource]:
    """Oxycodone ER 20 mg then 10 mg every 12 h over months (60, then 30 MME/day), stopped 10 days ago."""
    steps = ((OXY_ER_20, 200, 101), (OXY_ER_10, 100, 10))
    orders = []
    for (code, display), start, end in steps:
        order = opioid(code, display, 1, 2, "completed")
        order["authoredOn"] = days_ago(start)[:10]
        order["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"] = {
            "start": days_ago(start)[:10],
            "end": days_ago(end)[:10],
        }
        orders.append(order)
    return orders


OXY_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
OXY_ER_20 = ("1049563", "12 HR oxycodone hydrochloride 20 MG Extended Release Oral Tablet")
OXY_ER_10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
MORPHINE_15 = ("892582", "morphine sulfate 15 MG Oral Tablet")  # RxNorm SCD (892494 is a 10 mg ER capsule)


@dataclass(frozen=True)
class Case:
    kind: str  # "correct", "alert", "opioid"
    title: str
    record: Callable[[], list[Resource]]
    draft: Callable[[], Resource]
    expect: frozenset[str] = field(default_factory=frozenset)  # rule ids that must fire at order-sign
    # Other drafts of the same ordering session (e.g. the LFTs of a protocol's order set), sent but not selected.
    with_drafts: Callable[[], list[Resource]] = field(default=lambda: [])


def healthy(*extra: Resource, birth: str = "1975-05-01") -> Callable[[], list[Resource]]:
    return lambda: [patient(birth), weight(), blood_pressure(122, 78), *extra]


CASES = (
    Case("correct", "healthy adult, 0.5 mg/kg/h for 4 h outpatient", healthy(), ketamine),
    Case("correct", "healthy adult, 0.5 mg/kg/h inpatient", healthy(), lambda: ketamine(setting="inpatient")),
    Case(
        "correct",
        "controlled hypertension, ECG 5 weeks ago",
        healthy(condition(SNOMED, "59621000", "Essential hypertension"), ecg()),
        ketamine,
    ),
    Case("correct", "patient on one opioid (30 MME/day)", healthy(opioid(*OXY_ER_10, 1, 2)), ketamine),
    Case("correct", "elderly patient (76), 0.5 mg/kg/h", healthy(birth="1950-03-01"), ketamine),
    Case(
        "correct",
        "third infusion this year, response documented",
        healthy(
            past_infusion(days_ago(240)[:10]),
            past_infusion(days_ago(120)[:10]),
            pain(7, days_ago(120, 8)),
            pain(3, days_ago(100)),
        ),
        ketamine,
    ),
    Case("correct", "bolus 0.2 mg/kg then 0.5 mg/kg/h", healthy(), lambda: ketamine(bolus_mg=14)),
    Case(
        "correct",
        "multi-day 0.4 mg/kg/h for 100 h (Noppers), with its LFTs",
        healthy(),
        lambda: ketamine(28, hours=100, setting="inpatient"),
        with_drafts=lambda: [liver_test("1742-6", "ALT"), liver_test("1920-8", "AST")],
    ),
    Case(
        "alert",
        "BP 172/104 (poorly controlled)",
        lambda: [
            patient(),
            weight(),
            condition(SNOMED, "59621000", "Essential hypertension"),
            blood_pressure(172, 104),
        ],
        ketamine,
        frozenset({"CI-CV"}),
    ),
    Case(
        "alert",
        "schizophrenia",
        healthy(condition(ICD10, "F20.9", "Schizophrenia, unspecified")),
        ketamine,
        frozenset({"CI-PSY"}),
    ),
    Case(
        "alert",
        "alcoholic cirrhosis",
        healthy(condition(ICD10, "K70.30", "Alcoholic cirrhosis of liver")),
        ketamine,
        frozenset({"CI-HEP"}),
    ),
    Case(
        "alert",
        "glaucoma",
        healthy(condition(SNOMED, "77075001", "Primary open angle glaucoma")),
        ketamine,
        frozenset({"CI-ICP-IOP"}),
    ),
    Case(
        "alert",
        "brain tumour",
        healthy(condition(ICD10, "C71.9", "Malignant neoplasm of brain")),
        ketamine,
        frozenset({"CI-ICP-IOP"}),
    ),
    Case(
        "alert",
        "pregnancy (onset 4 months ago)",
        healthy(condition(SNOMED, "77386006", "Pregnancy", onset="2026-08-01")),
        ketamine,
        frozenset({"CI-PREG"}),
    ),
    Case(
        "alert",
        "delirium",
        healthy(condition(ICD10, "F05", "Delirium due to known physiological condition")),
        ketamine,
        frozenset({"CI-DEL"}),
    ),
    Case(
        "alert",
        "hyperthyroidism",
        healthy(condition(ICD10, "E05.90", "Thyrotoxicosis, unspecified")),
        ketamine,
        frozenset({"CI-ENDO"}),
    ),
    Case(
        "alert",
        "HIV (benzodiazepine rescue limited)",
        healthy(condition(ICD10, "B20", "HIV disease")),
        ketamine,
        frozenset({"CI-RESCUE"}),
    ),
    Case(
        "alert",
        "alcohol dependence, serial course",
        healthy(condition(ICD10, "F10.20", "Alcohol dependence, uncomplicated"), past_infusion("2026-10-20")),
        ketamine,
        frozenset({"CI-SUD"}),
    ),
    Case(
        "alert",
        "coronary disease, no ECG",
        healthy(condition(ICD10, "I25.10", "Atherosclerotic heart disease")),
        ketamine,
        frozenset({"PRE-ECG", "CI-CV"}),
    ),
    Case("alert", "3 mg/kg/h (outside range)", healthy(), lambda: ketamine(210), frozenset({"DOSE-RATE"})),
    Case(
        "alert", "1.2 mg/kg/h outpatient (monitored setting)", healthy(), lambda: ketamine(84), frozenset({"DOSE-RATE"})
    ),
    Case("alert", "0.3 mg/kg/h (below range)", healthy(), lambda: ketamine(21), frozenset({"DOSE-RATE"})),
    Case(
        "alert",
        "0.5 mg/kg/h for 5 days (above studied multi-day)",
        healthy(),
        lambda: ketamine(35, hours=120, setting="inpatient"),
        frozenset({"DOSE-RATE"}),
    ),
    Case(
        "alert",
        "bolus 0.5 mg/kg",
        healthy(),
        lambda: ketamine(None, bolus_mg=35, hours=None),
        frozenset({"DOSE-BOLUS"}),
    ),
    Case(
        "alert", "1 h infusion (below ASRA minimum)", healthy(), lambda: ketamine(35, hours=1), frozenset({"DOSE-MIN"})
    ),
    Case(
        "alert",
        "epidural ketamine",
        healthy(),
        lambda: ketamine(route=("404820008", "Epidural route")),
        frozenset({"ROUTE-NEURAX"}),
    ),
    Case(
        "alert",
        "no body weight on record",
        lambda: [patient(), blood_pressure(120, 80)],
        ketamine,
        frozenset({"DOSE-RATE"}),
    ),
    Case(
        "alert",
        "8th treatment in 12 months",
        healthy(*(past_infusion(f"2026-{m:02d}-05") for m in range(1, 8))),
        ketamine,
        frozenset({"FREQ"}),
    ),
    Case(
        "alert",
        "two opioid species before ketamine",
        healthy(opioid(*OXY_ER_10, 1, 2), opioid(*MORPHINE_15, 1, 2)),
        ketamine,
        frozenset({"OPI-1SPECIES"}),
    ),
    Case(
        "alert",
        "weekly series, pain halved (frequent: LFT)",
        healthy(*weekly_series(responded=True)),
        ketamine,
        frozenset({"PRE-LFT"}),
    ),
    Case(
        "alert",
        "weekly series, no response documented",
        healthy(*weekly_series()),
        ketamine,
        frozenset({"FREQ-RESPONSE"}),
    ),
    Case(
        "alert",
        "weekly series continued, pain 8 to 7",
        healthy(*weekly_series(responded=False)),
        ketamine,
        frozenset({"FREQ-RESPONSE"}),
    ),
    Case(
        "alert",
        "multi-day 100 h (Noppers) without LFTs",
        healthy(),
        lambda: ketamine(28, hours=100, setting="inpatient"),
        frozenset({"PRE-LFT"}),
    ),
    Case(
        "alert",
        "patient on lorazepam and oxycodone",
        healthy(benzodiazepine(), opioid(*OXY_5, 1, 4)),
        ketamine,
        frozenset({"OPI-BZD"}),
    ),
    Case("opioid", "oxycodone 5 mg q6h alone (30 MME/day)", healthy(), lambda: opioid(*OXY_5, 1, 4, "draft")),
    Case(
        "opioid",
        "oxycodone 5 mg q6h for a patient on lorazepam",
        healthy(benzodiazepine()),
        lambda: opioid(*OXY_5, 1, 4, "draft"),
        frozenset({"OPI-BZD"}),
    ),
    Case(
        "opioid",
        "oxycodone 5 mg twice daily after a taper to off",
        healthy(*tapered_off()),
        lambda: opioid(*OXY_5, 1, 2, "draft"),
        frozenset({"POST-TAPER"}),
    ),
    Case(
        "opioid",
        "oxycodone 5 mg twice daily added to a stable 30 MME/day",
        healthy(opioid(*OXY_ER_10, 1, 2)),
        lambda: opioid(*OXY_5, 1, 2, "draft"),
    ),
    Case(
        "opioid",
        "oxycodone 10 mg q6h added to 30 MME/day (90 MME/day)",
        healthy(opioid(*OXY_ER_10, 1, 2)),
        lambda: opioid(*OXY_5, 2, 4, "draft"),
        frozenset({"MME"}),
    ),
)


def _topic(card: Resource) -> str:
    return str(card.get("source", {}).get("topic", {}).get("code", ""))


def actionable(card: Resource) -> bool:
    return _topic(card) in CATALOGUE or _topic(card) in ("MME", "PROTOCOL", "CHECKLIST")


async def _post(client: httpx.AsyncClient, service: str, body: Resource) -> list[Resource]:
    response = await client.post(f"/cds-services/{service}", json=body)
    response.raise_for_status()
    cards: list[Resource] = response.json()["cards"]
    return cards


@dataclass(frozen=True)
class Result:
    case: Case
    select: list[Resource]  # order-select, the draft selected
    sign: list[Resource]  # order-sign after that order-select (what repeats is not shown again)
    sign_alone: list[Resource]  # order-sign from an EHR that calls only order-sign


async def run_case(client: httpx.AsyncClient, alone: httpx.AsyncClient, case: Case) -> Result:
    record, draft = case.record(), case.draft()
    drafts = [draft, *case.with_drafts()]
    if case.kind == "opioid":
        sign = hook_request(
            "order-sign", patient_id=PATIENT, drafts=[draft], prefetch=prefetch_for(record, OPIOID_QUERIES)
        )
        cards = await _post(client, "opioid-mme-order-sign", sign)
        return Result(case, [], cards, cards)
    prefetch = prefetch_for(record, KETAMINE_QUERIES)
    selection = [f"MedicationRequest/{draft['id']}"]
    select = hook_request("order-select", patient_id=PATIENT, drafts=drafts, prefetch=prefetch, selections=selection)
    sign = hook_request("order-sign", patient_id=PATIENT, drafts=drafts, prefetch=prefetch)
    return Result(
        case,
        await _post(client, "ketamine-safety-order-select", select),
        await _post(client, "ketamine-safety-order-sign", sign),
        await _post(alone, "ketamine-safety-order-sign", sign),
    )


def _client(tmp: str, name: str) -> tuple[httpx.AsyncClient, Callable[[], None]]:
    store = FeedbackStore(f"sqlite:///{Path(tmp) / name}.sqlite3")
    app = create_app(ServiceSettings(auth_enabled=False), store=store)

    def close() -> None:
        app.state.card_writer().close()  # the queued card-issued rows, before the temporary database goes
        store.close()

    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench"), close


def _topics(cards: list[Resource]) -> set[str]:
    return {_topic(c) for c in cards if actionable(c)}


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (client, close), (alone, close_alone) = _client(tmp, "sequence"), _client(tmp, "alone")
        async with client, alone:
            results = [await run_case(client, alone, case) for case in CASES]
        close()
        close_alone()
    print(f"{'kind':<8} {'case':<50} {'select':>6} {'sign':>5} {'alone':>5} {'act.':>5}  fired / expected")
    totals: dict[str, list[int]] = {}
    missed: list[str] = []
    for r in results:
        cards = r.select + r.sign
        acts = sum(actionable(c) for c in cards)
        seen = _topics(r.select) | _topics(r.sign)
        ok = r.case.expect <= seen and r.case.expect <= _topics(r.sign_alone)
        if not ok:
            missed.append(r.case.title)
        t = totals.setdefault(r.case.kind, [0, 0, 0, 0, 0, 0])
        t[0] += 1
        t[1] += len(cards)
        t[2] += acts
        t[3] += 0 if ok else 1
        t[4] += int(not cards)
        t[5] += len(r.sign_alone)
        expected = ",".join(sorted(r.case.expect)) or "-"
        fired = ",".join(sorted(seen)) or "-"
        print(
            f"{r.case.kind:<8} {r.case.title[:50]:<50} {len(r.select):>6} {len(r.sign):>5} {len(r.sign_alone):>5} "
            f"{acts:>5}  {fired} / {expected}"
        )
    print()
    print("select + sign: an EHR calling order-select then order-sign; alone: an EHR calling only order-sign.")
    for kind, (n, card_count, acts, misses, silent, alone_cards) in totals.items():
        print(
            f"{kind:<8} orders {n:>3}  cards (select+sign) {card_count:>3} ({card_count / n:.2f}/order), "
            f"sign alone {alone_cards:>3} ({alone_cards / n:.2f}/order)  actionable {acts:>3}/{card_count}  "
            f"silent orders {silent:>3}  expected alerts missed {misses}"
        )
    print("Targets: 0 cards on correct orders; every card actionable; no expected alert missed (in either sequence).")
    if missed:
        print("MISSED: " + "; ".join(missed))


if __name__ == "__main__":
    asyncio.run(main())
