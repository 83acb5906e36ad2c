"""Draft orders as real CDS clients send them, normalised to FHIR R4 MedicationRequest dicts.

The CDS Hooks sandbox still sends DSTU2 `MedicationOrder` drafts, STU3-shaped `MedicationRequest` drafts (a single
`category` object, `dose[x]`/`rate[x]` on the Dosage itself, `requester.agent`, `context`) and UCUM's `{pill}`
annotation as the dose unit. All are translated here, field by field, so that the clinical core only ever sees R4.
Nothing is invented: a field the draft does not carry stays absent (and the core reports it as missing).
"""

from __future__ import annotations

from typing import Any

from smart_app.core.model import ORDERABLE_DRUG_FORM

# `{pill}` is a UCUM annotation ("a pill"), i.e. one tablet/capsule; TAB is the HL7 v3 orderable drug form code
# that EHRs use for "per tablet" doses and that the MME engine understands.
PILL_UNITS = frozenset({"{pill}", "{pills}", "pill", "pills"})
TABLET_QUANTITY_UNIT = {"unit": "TAB", "system": ORDERABLE_DRUG_FORM, "code": "TAB"}

# DSTU2 Timing.repeat spells some elements differently from R4.
_DSTU2_REPEAT_RENAMES = {"periodUnits": "periodUnit", "durationUnits": "durationUnit"}
# Every DSTU2 MedicationOrder.status is spelt the same in R4 MedicationRequest.status.
_R4_STATUSES = frozenset(
    {"active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft", "unknown"}
)


def normalise_quantity(quantity: dict[str, Any]) -> dict[str, Any]:
    """A Quantity with `{pill}` (or 'pill') as unit/code becomes a TAB quantity; others are returned unchanged."""
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    if unit not in PILL_UNITS:
        return quantity
    out = {k: v for k, v in quantity.items() if k not in ("unit", "code", "system")}
    return {**out, **TABLET_QUANTITY_UNIT}


def _repeat(repeat: dict[str, Any]) -> dict[str, Any]:
    return {_DSTU2_REPEAT_RENAMES.get(k, k): v for k, v in repeat.items()}


def _dstu2_dosage(dosage: dict[str, Any]) -> dict[str, Any]:
    """DSTU2 MedicationOrder.dosageInstruction -> R4 Dosage (dose and rate move into doseAndRate)."""
    out: dict[str, Any] = {}
    for key in ("text", "asNeededBoolean", "asNeededCodeableConcept", "route", "method", "maxDosePerPeriod"):
        if key in dosage:
            out[key] = dosage[key]
    if "site" in dosage:
        out["site"] = dosage["site"]
    elif "siteCodeableConcept" in dosage:
        out["site"] = dosage["siteCodeableConcept"]
    timing = dosage.get("timing")
    if isinstance(timing, dict):
        timing = dict(timing)
        if isinstance(timing.get("repeat"), dict):
            timing["repeat"] = _repeat(timing["repeat"])
        out["timing"] = timing
    dose_and_rate: dict[str, Any] = {}
    if isinstance(dosage.get("doseQuantity"), dict):
        dose_and_rate["doseQuantity"] = normalise_quantity(dosage["doseQuantity"])
    elif isinstance(dosage.get("doseRange"), dict):
        dose_and_rate["doseRange"] = dosage["doseRange"]
    for dstu2_key, r4_key in (("rateRatio", "rateRatio"), ("rateRange", "rateRange")):
        if isinstance(dosage.get(dstu2_key), dict):
            dose_and_rate[r4_key] = dosage[dstu2_key]
    if dose_and_rate:
        out["doseAndRate"] = [dose_and_rate]
    return out


def medication_order_to_request(order: dict[str, Any]) -> dict[str, Any]:
    """A DSTU2 MedicationOrder as an R4 MedicationRequest (status kept, intent 'order': it is an order being placed)."""
    request: dict[str, Any] = {"resourceType": "MedicationRequest", "intent": "order"}
    if "id" in order:
        request["id"] = order["id"]
    status = order.get("status")
    request["status"] = (
        status if isinstance(status, str) and status in _R4_STATUSES else "draft"
    )  # it came in a hook's draftOrders
    if isinstance(order.get("patient"), dict):
        request["subject"] = order["patient"]
    for key in ("medicationCodeableConcept", "medicationReference", "contained", "note", "reasonReference"):
        if key in order:
            request[key] = order[key]
    if "reasonCodeableConcept" in order:
        request["reasonCode"] = [order["reasonCodeableConcept"]]
    if "dateWritten" in order:
        request["authoredOn"] = order["dateWritten"]
    if "prescriber" in order:
        request["requester"] = order["prescriber"]
    dosages = order.get("dosageInstruction")
    if isinstance(dosages, list):
        request["dosageInstruction"] = [_dstu2_dosage(d) for d in dosages if isinstance(d, dict)]
    dispense = order.get("dispenseRequest")
    if isinstance(dispense, dict) and "numberOfRepeatsAllowed" in dispense:
        request["dispenseRequest"] = {"numberOfRepeatsAllowed": dispense["numberOfRepeatsAllowed"]}
    return request


# Dose and rate elements that STU3 (and DSTU2) put on the Dosage itself and R4 moves into Dosage.doseAndRate.
_DOSE_RATE_KEYS = ("doseQuantity", "doseRange", "rateQuantity", "rateRatio", "rateRange")


def _stu3_dosage(dosage: dict[str, Any]) -> dict[str, Any]:
    """An STU3 Dosage (dose[x], rate[x] at its root) as R4 (one doseAndRate entry); an R4 Dosage is unchanged."""
    if not any(k in dosage for k in _DOSE_RATE_KEYS) or "doseAndRate" in dosage:
        return dosage
    entry = {k: dosage[k] for k in _DOSE_RATE_KEYS if k in dosage}
    return {**{k: v for k, v in dosage.items() if k not in _DOSE_RATE_KEYS}, "doseAndRate": [entry]}


def _stu3_request(request: dict[str, Any]) -> dict[str, Any]:
    """STU3 MedicationRequest elements R4 spells differently (the sandbox's STU3 drafts; R4 drafts with a single
    `category` object, as the sandbox's R4 drafts send it)."""
    out = dict(request)
    if isinstance(out.get("category"), dict):
        out["category"] = [out["category"]]
    requester = out.get("requester")
    if isinstance(requester, dict) and "agent" in requester:
        if isinstance(requester.get("agent"), dict):
            out["requester"] = requester["agent"]
        else:
            out.pop("requester")
    if "context" in out and "encounter" not in out:
        context = out.pop("context")
        if isinstance(context, dict) and str(context.get("reference", "")).split("/")[-2:-1] == ["Encounter"]:
            out["encounter"] = context
    out.pop("definition", None)  # STU3 protocol reference; R4 has instantiatesCanonical/Uri instead
    substitution = out.get("substitution")
    if isinstance(substitution, dict) and "allowed" in substitution:
        allowed = substitution["allowed"]
        out["substitution"] = {
            **{k: v for k, v in substitution.items() if k != "allowed"},
            **({"allowedBoolean": allowed} if isinstance(allowed, bool) else {}),
        }
        if "allowedBoolean" not in out["substitution"]:
            out.pop("substitution")
    return out


def normalise_r4_request(request: dict[str, Any]) -> dict[str, Any]:
    """A MedicationRequest draft as R4: STU3 shapes converted (`_stu3_request`), `{pill}` doses rewritten to TAB;
    other fields untouched."""
    request = _stu3_request(request)
    dosages = request.get("dosageInstruction")
    if not isinstance(dosages, list):
        return request
    new_dosages = []
    for dosage in dosages:
        if not isinstance(dosage, dict):
            new_dosages.append(dosage)
            continue
        dosage = _stu3_dosage(dosage)
        entries = dosage.get("doseAndRate")
        if isinstance(entries, list):
            dosage = {
                **dosage,
                "doseAndRate": [
                    {**e, "doseQuantity": normalise_quantity(e["doseQuantity"])}
                    if isinstance(e, dict) and isinstance(e.get("doseQuantity"), dict)
                    else e
                    for e in entries
                ],
            }
        new_dosages.append(dosage)
    return {**request, "dosageInstruction": new_dosages}
