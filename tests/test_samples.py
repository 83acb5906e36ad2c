"""The bundled sample patients: each its own Patient id, and one transaction Bundle that loads them all.

`smart_app/samples/all-samples-transaction.json` is generated from `samples/patients/*.json`; after changing a
sample, regenerate it with `SMART_APP_UPDATE_SAMPLES=1 .venv/bin/pytest tests/test_samples.py`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fhir_server import running_fhir_server

SAMPLES = Path(__file__).resolve().parents[1] / "smart_app" / "samples"
PATIENTS = sorted((SAMPLES / "patients").glob("*.json"))
TRANSACTION = SAMPLES / "all-samples-transaction.json"


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _references(v)]
    return []


def build_transaction() -> dict[str, Any]:
    """Every sample patient's resources as one FHIR transaction: PUT Type/id, so loading it twice changes nothing."""
    entries = []
    for path in PATIENTS:
        for entry in _load(path)["entry"]:
            resource = entry["resource"]
            url = f"{resource['resourceType']}/{resource['id']}"
            entries.append({"resource": resource, "request": {"method": "PUT", "url": url}})
    return {
        "resourceType": "Bundle",
        "id": "all-samples",
        "type": "transaction",
        "meta": {"tag": [{"system": "urn:smart-app:samples", "code": "generated", "display": "tests/test_samples.py"}]},
        "entry": entries,
    }


def test_every_sample_patient_has_its_own_id_and_refers_only_to_itself() -> None:
    patient_ids = []
    for path in PATIENTS:
        resources = [e["resource"] for e in _load(path)["entry"]]
        patients = [r for r in resources if r["resourceType"] == "Patient"]
        assert len(patients) == 1, path.name
        pid = patients[0]["id"]
        assert pid == path.stem, f"{path.name}: the Patient id is the file's name"
        patient_ids.append(pid)
        foreign = [r for r in _references(resources) if r.startswith("Patient/") and r != f"Patient/{pid}"]
        assert not foreign, f"{path.name} refers to another patient: {foreign}"
    assert len(patient_ids) == len(set(patient_ids))


def test_resource_ids_are_unique_across_samples() -> None:
    keys = Counter(
        (e["resource"]["resourceType"], e["resource"]["id"]) for path in PATIENTS for e in _load(path)["entry"]
    )
    assert [k for k, n in keys.items() if n > 1] == []


def test_the_shipped_transaction_bundle_is_the_samples() -> None:
    expected = build_transaction()
    if os.environ.get("SMART_APP_UPDATE_SAMPLES"):
        TRANSACTION.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    assert _load(TRANSACTION) == expected, "regenerate: SMART_APP_UPDATE_SAMPLES=1 pytest tests/test_samples.py"


def test_the_transaction_bundle_loads_every_sample_into_a_real_fhir_server() -> None:
    bundle = _load(TRANSACTION)
    with running_fhir_server() as base, httpx.Client(timeout=30) as http:
        response = http.post(base, json=bundle, headers={"Content-Type": "application/fhir+json"})
        assert response.status_code == 200, response.text[:2000]
        statuses = [e["response"]["status"] for e in response.json()["entry"]]
        assert all(s.startswith("2") for s in statuses), statuses
        again = http.post(base, json=bundle, headers={"Content-Type": "application/fhir+json"})
        assert again.status_code == 200  # PUT by id: loading twice updates, never duplicates
        for path in PATIENTS:
            resources = [e["resource"] for e in _load(path)["entry"]]
            read = http.get(f"{base}/Patient/{path.stem}")
            assert read.status_code == 200 and read.json()["id"] == path.stem
            for kind, count in Counter(r["resourceType"] for r in resources if r["resourceType"] != "Patient").items():
                found = http.get(f"{base}/{kind}", params={"patient": path.stem, "_count": 100}).json()
                assert len(found.get("entry", [])) == count, (path.stem, kind)


@pytest.mark.parametrize("path", PATIENTS, ids=lambda p: p.stem)
def test_each_sample_is_a_collection_named_after_its_patient(path: Path) -> None:
    bundle = _load(path)
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
