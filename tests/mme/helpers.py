"""Shared helpers of the MME tests: FHIR JSON in, MME report out (the same path the CLI and hooks use)."""

from __future__ import annotations

from typing import Any

from smart_app.config import MmeTable
from smart_app.core.mme import MmeItem, MmeReport, calculate_mme
from smart_app.core.model import ORDERABLE_DRUG_FORM
from smart_app.fhir.record import build_record
from tests import fhir_factory as f

HYDROCODONE_APAP = ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet")
OXYCODONE_ER_10 = ("1049502", "12 HR oxycodone hydrochloride 10 MG Extended Release Oral Tablet")
OXYCODONE_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
FENTANYL_25 = ("245134", "72 HR fentanyl 0.025 MG/HR Transdermal System")
METHADONE_10 = ("864706", "methadone hydrochloride 10 MG Oral Tablet")
TRAMADOL_50 = ("835603", "tramadol hydrochloride 50 MG Oral Tablet")
TAPENTADOL_50 = ("825411", "tapentadol 50 MG Oral Tablet")
MORPHINE_15 = ("892582", "morphine sulfate 15 MG Oral Tablet")
BUPRENORPHINE_NALOXONE_8 = ("351267", "buprenorphine 8 MG / naloxone 2 MG Sublingual Tablet")


def report(
    *resources: dict[str, Any], table: MmeTable = "cdc-2022", drafts: tuple[dict[str, Any], ...] = ()
) -> MmeReport:
    return calculate_mme(build_record(resources, draft_orders=drafts).medications, table=table)


def only_item(*resources: dict[str, Any], table: MmeTable = "cdc-2022") -> MmeItem:
    (item,) = report(*resources, table=table).items
    return item


def request(product: tuple[str, str], *dosages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return f.medication_request(product[0], product[1], dosages=list(dosages), **extra)


def tablets(value: float) -> dict[str, Any]:
    return f.dose_quantity(value, "TAB")


def dose_range(low: float, high: float, unit: str = "TAB") -> dict[str, Any]:
    return {"doseRange": {"low": f.dose_quantity(low, unit), "high": f.dose_quantity(high, unit)}}


def code_timing(code: str) -> dict[str, Any]:
    return {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": code}]}}


def max_per_day(count: float) -> dict[str, Any]:
    return {
        "numerator": {"value": count, "unit": "TAB", "system": ORDERABLE_DRUG_FORM, "code": "TAB"},
        "denominator": {"value": 1, "unit": "day", "system": f.UCUM, "code": "d"},
    }
