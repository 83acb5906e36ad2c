"""Shared helpers for the CDS Hooks tests: sample patients, drafts, a no-auth client on a temporary store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from smart_app.cds_hooks.app import create_app
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES, PrefetchQuery
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.fhir.bundle import iter_resources
from smart_app.storage import FeedbackStore
from tests import fhir_factory as f

SAMPLES = Path(__file__).resolve().parents[2] / "smart_app" / "samples"
FHIR_BASE = "https://ehr.example.org/fhir"


def sample_patient(name: str) -> list[dict[str, Any]]:
    return list(iter_resources(json.loads((SAMPLES / "patients" / f"{name}.json").read_text())))


def sample_order(name: str) -> dict[str, Any]:
    order: dict[str, Any] = json.loads((SAMPLES / "orders" / f"{name}.json").read_text())
    return order


def patient_id(resources: list[dict[str, Any]]) -> str:
    return next(str(r["id"]) for r in resources if r["resourceType"] == "Patient")


def client(tmp_path: Path, **settings: Any) -> TestClient:
    settings.setdefault("auth_enabled", False)
    store = FeedbackStore(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    return TestClient(create_app(ServiceSettings(**settings), store=store))


def order_sign(
    resources: list[dict[str, Any]],
    drafts: list[dict[str, Any]],
    *,
    queries: tuple[PrefetchQuery, ...] = KETAMINE_QUERIES,
    hook: str = "order-sign",
    **kwargs: Any,
) -> dict[str, Any]:
    return hook_request(
        hook, patient_id=patient_id(resources), drafts=drafts, prefetch=prefetch_for(resources, queries), **kwargs
    )


def ketamine_infusion(mg_per_h: float | None, *, rid: str = "draft-ket") -> dict[str, Any]:
    """A draft IV ketamine infusion (10 mg/mL), with a rate in mg/h or no dose at all (a bare selection)."""
    dosage: dict[str, Any] = {"route": {"coding": [f.coding(f.SNOMED, "47625008", "Intravenous route")]}}
    if mg_per_h is not None:
        dosage["doseAndRate"] = [
            {"rateQuantity": {"value": mg_per_h, "unit": "mg/h", "system": f.UCUM, "code": "mg/h"}}
        ]
        dosage["timing"] = {"repeat": {"count": 1, "duration": 4, "durationUnit": "h"}}
    return f.medication_request(
        "238082", "ketamine 10 MG/ML Injectable Solution", dosages=[dosage], status="draft", rid=rid
    )


def oxycodone_draft(tablets: float = 1, per_day: int = 4, *, rid: str = "draft-oxy") -> dict[str, Any]:
    return f.medication_request(
        "1049621",
        "oxycodone hydrochloride 5 MG Oral Tablet",
        dosages=[f.dosage(dose=f.dose_quantity(tablets), frequency=per_day)],
        status="draft",
        rid=rid,
    )


def cards_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def topic(card: dict[str, Any]) -> str:
    return str(card["source"]["topic"]["code"])
