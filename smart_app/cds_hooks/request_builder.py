"""Building CDS Hooks requests from a patient's FHIR resources, as an EHR would (demo, benchmark, tests).

`prefetch_for` answers each of a service's prefetch templates from the given resources the way the spec says a
client must: a read gives the resource (or null), a search gives a searchset Bundle (possibly with no entries).
Referenced Medication resources travel with the medication searches, as `_include` results would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from smart_app.cds_hooks.prefetch import PrefetchQuery


def _searchset(resources: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }


def prefetch_for(resources: Iterable[dict[str, Any]], queries: Sequence[PrefetchQuery]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    prefetch: dict[str, Any] = {}
    for query in queries:
        resource_type = query.template.split("?")[0].split("/")[0]
        found = by_type.get(resource_type, [])
        if query.is_read:
            prefetch[query.key] = found[0] if found else None
        else:
            extra = by_type.get("Medication", []) if resource_type.startswith("Medication") else []
            prefetch[query.key] = _searchset([*found, *extra])
    return prefetch


def hook_request(
    hook: str,
    *,
    patient_id: str,
    drafts: Sequence[dict[str, Any]] = (),
    prefetch: dict[str, Any] | None = None,
    selections: Sequence[str] | None = None,
    fhir_server: str | None = None,
    access_token: str | None = None,
    user_id: str = "Practitioner/example",
) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": user_id, "patientId": patient_id}
    if hook != "patient-view":
        context["draftOrders"] = {
            "resourceType": "Bundle",
            "type": "collection",
            # As an EHR does: the drafts are the context patient's orders.
            "entry": [{"resource": {**d, "subject": {"reference": f"Patient/{patient_id}"}}} for d in drafts],
        }
    if selections is not None:
        context["selections"] = list(selections)
    body: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if fhir_server:
        body["fhirServer"] = fhir_server
    if access_token:
        body["fhirAuthorization"] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "user/Patient.read user/Condition.read user/Observation.read user/MedicationRequest.read",
            "subject": "smart-app-cds",
        }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body
