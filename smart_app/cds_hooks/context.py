"""The CDS Hooks 2.0 request: top-level fields validated, hook context read into draft orders and selections.

Only the envelope is modelled strictly (what the spec makes REQUIRED). `context` and `prefetch` stay plain JSON
because their content is FHIR, validated later per resource by `smart_app.fhir.record`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from smart_app.cds_hooks.dstu2 import medication_order_to_request, normalise_r4_request
from smart_app.fhir import identity


class FhirAuthorization(BaseModel):
    """The bearer token the CDS client grants for its FHIR server. `SecretStr`: it never shows in reprs or logs.

    The spec makes `expires_in` and `subject` required, but the CDS Hooks sandbox (and other clients) omit them when
    their token response does; the token still works, so a request without them is accepted and the omission is
    logged (`missing_details`)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    access_token: SecretStr
    token_type: str
    expires_in: int | None = None
    scope: str
    subject: str | None = None
    patient: str | None = None

    @property
    def missing_details(self) -> tuple[str, ...]:
        """The spec-required fields the client left out (never the token itself)."""
        return tuple(name for name in ("expires_in", "subject") if getattr(self, name) is None)


class HookRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    hook: str = Field(min_length=1)
    hook_instance: str = Field(alias="hookInstance", min_length=1)
    fhir_server: str | None = Field(None, alias="fhirServer")
    fhir_authorization: FhirAuthorization | None = Field(None, alias="fhirAuthorization")
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhir_authorization is not None and not self.fhir_server:
            raise ValueError("fhirServer is required when fhirAuthorization is provided")
        if self.fhir_server is not None and not self.fhir_server.startswith(("http://", "https://")):
            raise ValueError("fhirServer must be an http(s) URL")
        return self

    @property
    def patient_id(self) -> str | None:
        value = self.context.get("patientId")
        return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class DraftOrders:
    """Medication drafts from `context.draftOrders` as R4 dicts; `selected` are the ids named in `selections`."""

    medication_requests: tuple[dict[str, Any], ...]
    selected_ids: frozenset[str]
    problems: tuple[str, ...]
    service_requests: tuple[dict[str, Any], ...] = ()  # test orders drafted alongside (e.g. an accepted ECG)
    medications: tuple[dict[str, Any], ...] = ()  # Medication resources in the Bundle (Epic: medicationReference)

    def chosen(self, *, selected_only: bool) -> tuple[dict[str, Any], ...]:
        """The drafts to check: on order-select only those the user selected (all, when none are named)."""
        if not selected_only or not self.selected_ids:
            return self.medication_requests
        return tuple(r for r in self.medication_requests if str(r.get("id")) in self.selected_ids)


def _entries(draft_orders: Any) -> list[Any]:
    if isinstance(draft_orders, dict) and draft_orders.get("resourceType") == "Bundle":
        entries = draft_orders.get("entry") or []
        return (
            [e.get("resource") if isinstance(e, dict) else None for e in entries] if isinstance(entries, list) else []
        )
    if isinstance(draft_orders, list):  # some clients send a bare array of resources
        return list(draft_orders)
    if isinstance(draft_orders, dict) and "resourceType" in draft_orders:
        return [draft_orders]
    return []


def _is_for_patient(subject: Any, patient_id: str, fhir_base: str | None) -> bool:
    """True unless the subject reference names something other than this patient (`smart_app.fhir.identity`)."""
    reference = subject.get("reference") if isinstance(subject, dict) else None
    if not isinstance(reference, str):
        return True  # no literal reference (e.g. identifier-only): nothing contradicts the context
    return identity.refers_to_patient(reference, patient_id, fhir_base)


def sent_references(request: HookRequest) -> dict[str, str]:
    """The medication drafts the EHR sent WITH an id: our reference ("MedicationRequest/<id>") to the reference the
    EHR knows ("MedicationRequest/<id>", or "MedicationOrder/<id>" from a DSTU2 client). A draft sent without an id
    is named "draft-N" here, and an action cannot point at it."""
    sent: dict[str, str] = {}
    for resource in _entries(request.context.get("draftOrders")):
        if not isinstance(resource, dict):
            continue
        kind, rid = resource.get("resourceType"), resource.get("id")
        if kind in ("MedicationRequest", "MedicationOrder") and isinstance(rid, str) and rid:
            sent[f"MedicationRequest/{rid}"] = f"{kind}/{rid}"
    return sent


def read_draft_orders(request: HookRequest) -> DraftOrders:
    raw = request.context.get("draftOrders")
    requests: list[dict[str, Any]] = []
    service_requests: list[dict[str, Any]] = []
    medications: list[dict[str, Any]] = []
    problems: list[str] = []
    entries = _entries(raw)
    if raw is not None and not entries and not (isinstance(raw, dict) and raw.get("resourceType") == "Bundle"):
        problems.append("context.draftOrders is not a FHIR Bundle of orders")
    for index, resource in enumerate(entries):
        if not isinstance(resource, dict):
            problems.append(f"context.draftOrders entry[{index}] has no resource")
            continue
        kind = resource.get("resourceType")
        if kind == "Medication":
            medications.append(resource)  # what a draft's medicationReference names (the shape Epic sends)
            continue
        if kind == "ServiceRequest":
            if request.patient_id is None or _is_for_patient(
                resource.get("subject"), request.patient_id, request.fhir_server
            ):
                service_requests.append(resource)
            continue
        if kind == "MedicationRequest":
            draft = normalise_r4_request(resource)
        elif kind == "MedicationOrder":
            draft = medication_order_to_request(resource)
        else:
            continue  # drafts of other kinds are not this service's business
        draft = dict(draft)  # never mutate the request's own JSON
        if "subject" not in draft and request.patient_id:
            draft = {**draft, "subject": {"reference": f"Patient/{request.patient_id}"}}
        elif request.patient_id and not _is_for_patient(draft.get("subject"), request.patient_id, request.fhir_server):
            # Checking another patient's order against this record would give confident, wrong cards.
            problems.append(
                f"Draft order {draft.get('id') or f'entry[{index}]'} is for a different patient than "
                "context.patientId, so it was not checked."
            )
            continue
        draft.setdefault("status", "draft")
        draft.setdefault("intent", "order")
        if not draft.get("id"):
            draft["id"] = f"draft-{index + 1}"  # drafts may have no id yet; cards still need to name them
        requests.append(draft)
    selections = request.context.get("selections")
    selected = (
        frozenset(s.split("/", 1)[-1] for s in selections if isinstance(s, str))
        if isinstance(selections, list)
        else frozenset()
    )
    return DraftOrders(tuple(requests), selected, tuple(problems), tuple(service_requests), tuple(medications))
