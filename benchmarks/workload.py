"""The benchmark's order-sign request: a realistic ~100 KB, 271-resource prefetch, a new patient on every call.

Real traffic is a different patient on every call, so every request has a new patient id, new resource ids and a
new hookInstance (`first_sight`); `repeat` is the same body again and again. Bodies come from one template in
which two placeholders stand for the patient id and the per-request prefix of every resource id, so a load
generator makes a new body with two byte replacements (`wrk_script` does the same in Lua).

The record: the patient; 25 conditions (pain, cardiovascular, psychiatric; some resolved); 196 observations of
the codes the service's prefetch asks for (weights, BP panels and single readings, ALT/AST/bilirubin/ALP, ECGs,
hCG) over two years; 20 medication orders (opioids with dosage, past ketamine courses, other drugs), 8
statements, 12 ketamine administrations, 2 Medications, 2 allergies and a consent.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
PATIENT = "XPATIENTX"  # placeholder of the patient id
PREFIX = "XRIDX"  # placeholder of the per-request prefix of every resource id and of the hookInstance
SERVICE = "/cds-services/ketamine-safety-order-sign"

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
_SUBJECT = {"reference": f"Patient/{PATIENT}"}
_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_VITALS = [{"coding": [{"system": _CATEGORY, "code": "vital-signs"}]}]
_LAB = [{"coding": [{"system": _CATEGORY, "code": "laboratory"}]}]


def _when(days_ago: float, now: datetime) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(days_ago: float, now: datetime) -> str:
    return (now - timedelta(days=days_ago)).strftime("%Y-%m-%d")


def _status(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": f"http://terminology.hl7.org/CodeSystem/{system}", "code": code}]}


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _observation(i: int, now: datetime) -> dict[str, Any]:
    kind = i % 10
    days = 2 + (i * 3.7) % 720
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{PREFIX}-obs-{i}",
        "status": "final" if i % 17 else "amended",
        "subject": _SUBJECT,
        "effectiveDateTime": _when(days, now),
    }
    if kind == 0:  # blood pressure panel
        return {
            **base,
            "code": {"coding": [{"system": LOINC, "code": "85354-9", "display": "Blood pressure panel"}]},
            "component": [
                {
                    "code": {"coding": [{"system": LOINC, "code": "8480-6", "display": "Systolic blood pressure"}]},
                    "valueQuantity": _quantity(118 + i % 30, "mm[Hg]"),
                },
                {
                    "code": {"coding": [{"system": LOINC, "code": "8462-4", "display": "Diastolic blood pressure"}]},
                    "valueQuantity": _quantity(72 + i % 20, "mm[Hg]"),
                },
            ],
        }
    code, display, unit, value, category = [
        ("29463-7", "Body weight", "kg", 70 + i % 5, _VITALS),
        ("1742-6", "ALT", "U/L", 20 + i % 9, _LAB),
        ("1920-8", "AST", "U/L", 22 + i % 7, _LAB),
        ("1975-2", "Bilirubin total", "mg/dL", 0.6 + (i % 5) / 10, _LAB),
        ("6768-6", "Alkaline phosphatase", "U/L", 70 + i % 30, _LAB),
        ("8480-6", "Systolic blood pressure", "mm[Hg]", 120 + i % 25, _VITALS),
        ("8462-4", "Diastolic blood pressure", "mm[Hg]", 75 + i % 15, _VITALS),
        ("29463-7", "Body weight", "kg", 71 + i % 4, _VITALS),
        ("1742-6", "ALT", "U/L", 24 + i % 9, _LAB),
    ][kind - 1]
    obs = {
        **base,
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "valueQuantity": _quantity(value, unit),
    }
    if category is _LAB and i % 4 == 0:
        obs["referenceRange"] = [{"high": _quantity(40 if unit == "U/L" else 1.2, unit)}]
    if i % 40 == 5:  # a few ECGs and pregnancy tests among them
        obs["code"] = {"coding": [{"system": LOINC, "code": "11524-6", "display": "EKG study"}], "text": "ECG"}
        obs.pop("valueQuantity")
        obs.pop("referenceRange", None)
        obs["valueString"] = "Normal sinus rhythm"
    if i % 80 == 7:
        obs["code"] = {"coding": [{"system": LOINC, "code": "2106-3", "display": "Choriogonadotropin [Presence]"}]}
        obs.pop("valueQuantity")
        obs.pop("referenceRange", None)
        obs["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": "260385009", "display": "Negative"}]}
    return obs


_CONDITIONS = [
    (SNOMED, "128200000", "Complex regional pain syndrome", "active"),
    (SNOMED, "55822004", "Hyperlipidemia", "active"),
    (ICD10, "I10", "Essential (primary) hypertension", "active"),
    (SNOMED, "35489007", "Depressive disorder", "active"),
    (SNOMED, "279039007", "Low back pain", "active"),
    (SNOMED, "44054006", "Diabetes mellitus type 2", "active"),
    (ICD10, "M54.16", "Radiculopathy, lumbar region", "resolved"),
    (SNOMED, "195967001", "Asthma", "inactive"),
    (SNOMED, "230690007", "Cerebrovascular accident", "resolved"),
    (SNOMED, "40055000", "Chronic sinusitis", "remission"),
]


def _condition(i: int, now: datetime) -> dict[str, Any]:
    system, code, display, clinical = _CONDITIONS[i % len(_CONDITIONS)]
    return {
        "resourceType": "Condition",
        "id": f"{PREFIX}-cond-{i}",
        "clinicalStatus": _status("condition-clinical", clinical),
        "verificationStatus": _status("condition-ver-status", "confirmed"),
        "code": {"coding": [{"system": system, "code": code, "display": display}]},
        "subject": _SUBJECT,
        "onsetDateTime": _when(400 + i * 31, now),
        "recordedDate": _date(390 + i * 31, now),
    }


_ORAL = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
_IV = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
_PRODUCTS = [  # (rxcui, name, per-dose quantity, unit, frequency, period, periodUnit, route)
    ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet", 1, "TAB", 1, 6, "h", _ORAL),
    ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet", 1, "TAB", 1, 12, "h", _ORAL),
    ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet", 1, "TAB", 1, 8, "h", _ORAL),
    ("310431", "gabapentin 300 MG Oral Capsule", 1, "CAP", 3, 1, "d", _ORAL),
    ("312938", "sertraline 50 MG Oral Tablet", 1, "TAB", 1, 1, "d", _ORAL),
    ("197361", "amlodipine 5 MG Oral Tablet", 1, "TAB", 1, 1, "d", _ORAL),
    ("617314", "atorvastatin 10 MG Oral Tablet", 1, "TAB", 1, 1, "d", _ORAL),
]


def _dosage(quantity: float, unit: str, frequency: int, period: float, period_unit: str, route: Any) -> Any:
    return {
        "text": f"{quantity} {unit} every {period} {period_unit}",
        "timing": {"repeat": {"frequency": frequency, "period": period, "periodUnit": period_unit}},
        "route": route,
        "doseAndRate": [
            {
                "doseQuantity": {
                    "value": quantity,
                    "unit": unit,
                    "system": "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm",
                    "code": unit,
                }
            }
        ],
    }


_KETAMINE = {
    "coding": [{"system": RXNORM, "code": "238082", "display": "ketamine 10 MG/ML Injectable Solution"}],
    "text": "ketamine 10 MG/ML Injectable Solution",
}


def _medication_request(i: int, now: datetime) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationRequest",
        "id": f"{PREFIX}-mr-{i}",
        "intent": "order",
        "subject": _SUBJECT,
        "authoredOn": _date(10 + i * 23, now),
        "category": [_status("medicationrequest-category", "community")],
    }
    if i % 5 == 4:  # a past ketamine course
        return {
            **base,
            "status": "completed",
            "medicationCodeableConcept": _KETAMINE,
            "dosageInstruction": [
                {
                    "text": "Ketamine 35 mg/h IV for 4 hours",
                    "route": _IV,
                    "timing": {"repeat": {"count": 1, "duration": 4, "durationUnit": "h"}},
                    "doseAndRate": [{"rateQuantity": _quantity(35, "mg/h")}],
                }
            ],
        }
    rxcui, name, quantity, unit, frequency, period, period_unit, route = _PRODUCTS[i % len(_PRODUCTS)]
    request = {
        **base,
        "status": "active" if i < 10 else "stopped",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui, "display": name}]},
        "dosageInstruction": [_dosage(quantity, unit, frequency, period, period_unit, route)],
        "dispenseRequest": {
            "validityPeriod": {"start": _date(10 + i * 23, now), "end": _date(i * 23 - 80, now)},
            "numberOfRepeatsAllowed": 2,
        },
    }
    if i >= 10:
        request.pop("dispenseRequest")
    if i == 3:  # one order that names a bundled Medication
        request.pop("medicationCodeableConcept")
        request["medicationReference"] = {"reference": f"Medication/{PREFIX}-med-0"}
    return request


def _medication_statement(i: int, now: datetime) -> dict[str, Any]:
    rxcui, name, quantity, unit, frequency, period, period_unit, route = _PRODUCTS[(i + 2) % len(_PRODUCTS)]
    statement = {
        "resourceType": "MedicationStatement",
        "id": f"{PREFIX}-ms-{i}",
        "status": "active" if i % 3 else "completed",
        "subject": _SUBJECT,
        "effectivePeriod": {"start": _date(200 + i * 17, now)},
        "dateAsserted": _date(30 + i * 11, now),
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui, "display": name}]},
        "dosage": [_dosage(quantity, unit, frequency, period, period_unit, route)],
    }
    if i == 5:
        statement.pop("medicationCodeableConcept")
        statement["medicationReference"] = {"reference": f"Medication/{PREFIX}-med-1"}
    return statement


def _medication_administration(i: int, now: datetime) -> dict[str, Any]:
    start = 20 + i * 27
    return {
        "resourceType": "MedicationAdministration",
        "id": f"{PREFIX}-ma-{i}",
        "status": "completed",
        "subject": _SUBJECT,
        "effectivePeriod": {"start": _when(start, now), "end": _when(start - 0.17, now)},
        "medicationCodeableConcept": _KETAMINE,
        "dosage": {"route": _IV, "rateQuantity": _quantity(35, "mg/h"), "dose": _quantity(140, "mg")},
    }


def _medications() -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "Medication",
            "id": f"{PREFIX}-med-0",
            "code": {"coding": [{"system": RXNORM, "code": "892582", "display": "morphine sulfate 15 MG Oral Tablet"}]},
            "form": {"coding": [{"system": SNOMED, "code": "385055001", "display": "Tablet"}]},
            "ingredient": [
                {
                    "itemCodeableConcept": {"coding": [{"system": RXNORM, "code": "7052", "display": "morphine"}]},
                    "strength": {"numerator": _quantity(15, "mg"), "denominator": {"value": 1, "unit": "TAB"}},
                }
            ],
        },
        {
            "resourceType": "Medication",
            "id": f"{PREFIX}-med-1",
            "code": {"text": "tramadol hydrochloride 50 MG Oral Tablet"},
        },
    ]


def _others(now: datetime) -> list[dict[str, Any]]:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": _status("allergyintolerance-clinical", "active"),
        "verificationStatus": _status("allergyintolerance-verification", "confirmed"),
        "patient": _SUBJECT,
        "recordedDate": _date(900, now),
    }
    return [
        {
            **allergy,
            "id": f"{PREFIX}-al-0",
            "code": {"coding": [{"system": RXNORM, "code": "7980", "display": "penicillin G"}]},
        },
        {**allergy, "id": f"{PREFIX}-al-1", "code": {"text": "shellfish"}},
        {
            "resourceType": "Consent",
            "id": f"{PREFIX}-consent-0",
            "status": "active",
            "scope": _status("consentscope", "treatment"),
            "category": [{"coding": [{"system": LOINC, "code": "59284-0", "display": "Consent Document"}]}],
            "patient": _SUBJECT,
            "dateTime": _when(15, now),
            "policyRule": {"text": "Off-label ketamine infusion consent"},
            "provision": {"type": "permit"},
        },
    ]


def resources(now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or datetime.now(UTC)
    patient = {
        "resourceType": "Patient",
        "id": PATIENT,
        "birthDate": "1971-06-02",
        "gender": "female",
        "name": [{"family": "Bench", "given": ["First", "Sight"]}],
    }
    return [
        patient,
        *(_condition(i, now) for i in range(25)),
        *(_observation(i, now) for i in range(196)),
        *(_medication_request(i, now) for i in range(20)),
        *(_medication_statement(i, now) for i in range(8)),
        *(_medication_administration(i, now) for i in range(12)),
        *_medications(),
        *_others(now),
    ]


def template(now: datetime | None = None) -> bytes:
    """The order-sign request with the placeholders in it (the draft is the outpatient ketamine infusion)."""
    from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
    from smart_app.cds_hooks.request_builder import hook_request, prefetch_for

    draft = orjson.loads((ROOT / "smart_app/samples/orders/ketamine-infusion-outpatient.json").read_bytes())
    draft["id"] = f"{PREFIX}-draft"
    body = hook_request(
        "order-sign", patient_id=PATIENT, drafts=[draft], prefetch=prefetch_for(resources(now), KETAMINE_QUERIES)
    )
    body["hookInstance"] = f"{PREFIX}-hook"
    return orjson.dumps(body)


class Bodies:
    """Request bodies from one template: `first_sight()` a new patient every call, `repeat()` always the same."""

    def __init__(self, now: datetime | None = None) -> None:
        self.template = template(now)
        self._counter = itertools.count()
        self._run = uuid.uuid4().hex[:8]
        self._repeat = self.body("repeat-patient", "repeat")

    def body(self, patient: str, prefix: str) -> bytes:
        return self.template.replace(PATIENT.encode(), patient.encode()).replace(PREFIX.encode(), prefix.encode())

    def first_sight(self) -> bytes:
        n = next(self._counter)
        return self.body(f"p{self._run}{n}", f"r{self._run}{n}")

    def repeat(self) -> bytes:
        return self._repeat


def wrk_script(template_path: Path, *, vary: bool) -> str:
    """A wrk Lua script posting the template: a new patient and new ids on every request when `vary`.

    The first script argument (`wrk ... -- NONCE`) makes this run's ids differ from any earlier run's."""
    return f"""-- generated by benchmarks/workload.py
local f = assert(io.open("{template_path}", "rb"))
template = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = "{SERVICE}"
wrk.headers["Content-Type"] = "application/json"
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", "t" .. threads)
end
function init(args)
  prefix = (args[1] or "run") .. tid
  counter = 0
  fixed = wrk.format(nil, nil, nil, (template:gsub("{PATIENT}", "rp"):gsub("{PREFIX}", "rr")))
  -- The template cut at its placeholders once, so that a request only joins the pieces with its ids: a gsub of
  -- the whole body per request cost wrk about 5 ms of CPU, taken from the 2 cores the server is measured on.
  pieces, slots = {{}}, {{}}
  local at = 1
  while true do
    local p_start, p_end = template:find("{PATIENT}", at, true)
    local r_start, r_end = template:find("{PREFIX}", at, true)
    local first, last, slot
    if p_start and (not r_start or p_start < r_start) then
      first, last, slot = p_start, p_end, "p"
    elseif r_start then
      first, last, slot = r_start, r_end, "r"
    else
      break
    end
    pieces[#pieces + 1] = template:sub(at, first - 1)
    slots[#slots + 1] = slot
    at = last + 1
  end
  tail = template:sub(at)
end
function request()
  if {"true" if vary else "false"} then
    counter = counter + 1
    local id = prefix .. "n" .. counter
    local values = {{p = "p" .. id, r = "r" .. id}}
    local out = {{}}
    for i = 1, #pieces do
      out[2 * i - 1] = pieces[i]
      out[2 * i] = values[slots[i]]
    end
    out[#out + 1] = tail
    return wrk.format(nil, nil, nil, table.concat(out))
  end
  return fixed
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %.3f %.3f %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
"""
