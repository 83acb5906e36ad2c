"""The draft orders of a hook call as the clinical core sees them: drugs resolved, unreadable drafts named.

A draft's drug may be a `medicationReference`. It is resolved, in order, from the draft's contained resources, the
draftOrders Bundle (the shape Epic sends and cqf-ruler assumes), the prefetched data, and the EHR's FHIR server
(a read of `Medication/<id>`, only from an allowed server). Then each draft is one of:

- readable: checked in full;
- identified but not readable in full (invalid FHIR in its dosage, say): its drug is read from what is valid
  (id, status, medication, contained Medication) and it is marked `unreadable`, so the rules say its dose could
  not be read rather than run on a guess or skip it silently;
- unidentified: its drug cannot be told (no code, no name, a reference that resolves nowhere, or nothing valid to
  salvage). No service checks it, and every order service says which order it did not check.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.fhir.record import ParseMemo, build_record, resource_problem

# What a draft's drug can be read from when the rest of it is invalid.
_SALVAGED_KEYS = (
    "resourceType",
    "id",
    "status",
    "intent",
    "subject",
    "medicationCodeableConcept",
    "medicationReference",
)


@dataclass(frozen=True, slots=True)
class Unidentified:
    reference: str  # "MedicationRequest/draft-2"
    reason: str  # "its medicationReference Medication/abc could not be resolved"

    def sentence(self, checked_for: str) -> str:
        return f"Draft order {self.reference}: its drug could not be identified ({self.reason}), so it was not " + (
            f"checked {checked_for}."
        )


@dataclass(frozen=True, slots=True)
class ReadDrafts:
    """The drafts as dicts to build the record with, what could not be read of them, and what is unidentified."""

    drafts: tuple[dict[str, Any], ...]  # readable drafts, then salvaged ones
    unreadable: dict[str, str]  # draft reference -> why it could not be read in full
    unidentified: tuple[Unidentified, ...]
    medications: tuple[dict[str, Any], ...]  # Medication resources the drafts' references resolve to
    notes: tuple[tuple[str, str], ...] = ()  # (draft reference, note): e.g. a drug known only by its display


def _medications_in(value: Any) -> Iterable[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("resourceType") == "Medication":
            yield value
        elif value.get("resourceType") == "Bundle" and isinstance(value.get("entry"), list):
            for entry in value["entry"]:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if isinstance(resource, dict) and resource.get("resourceType") == "Medication":
                    yield resource


def prefetched_medications(prefetch: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Medication resources anywhere in the prefetch (a client may _include them with the medication orders)."""
    return [m for value in (prefetch or {}).values() for m in _medications_in(value)]


def _reference(draft: dict[str, Any]) -> str | None:
    ref = draft.get("medicationReference")
    value = ref.get("reference") if isinstance(ref, dict) else None
    return value if isinstance(value, str) and value else None


def _label(draft: dict[str, Any]) -> str:
    return f"MedicationRequest/{draft.get('id')}"


def _keys(medications: Iterable[dict[str, Any]]) -> set[str]:
    keys: set[str] = set()
    for m in medications:
        if isinstance(m.get("id"), str):
            keys.update({m["id"], f"Medication/{m['id']}"})
    return keys


def unresolved_references(drafts: Sequence[dict[str, Any]], medications: Sequence[dict[str, Any]]) -> list[str]:
    """The `Medication/<id>` references of drafts that neither their contained resources nor `medications` hold."""
    known = _keys(medications)
    missing: list[str] = []
    for draft in drafts:
        ref = _reference(draft)
        if ref is None or ref.startswith("#"):
            continue
        relative = "/".join(ref.rstrip("/").split("/")[-2:])
        if relative.startswith("Medication/") and ref not in known and relative not in known:
            missing.append(relative)
    return list(dict.fromkeys(missing))


def _resolved(draft: dict[str, Any], medications: Sequence[dict[str, Any]]) -> bool:
    ref = _reference(draft)
    if ref is None:
        return True
    if ref.startswith("#"):
        contained = draft.get("contained")
        return isinstance(contained, list) and any(isinstance(c, dict) and c.get("id") == ref[1:] for c in contained)
    return not unresolved_references([draft], medications)


def _salvage(draft: dict[str, Any], memo: ParseMemo) -> dict[str, Any]:
    """The parts of an invalid draft that name its drug (and only valid contained Medications)."""
    out = {k: draft[k] for k in _SALVAGED_KEYS if k in draft}
    out["resourceType"] = "MedicationRequest"
    if not isinstance(out.get("status"), str):
        out["status"] = "draft"
    if not isinstance(out.get("intent"), str):
        out["intent"] = "order"
    contained = draft.get("contained")
    if isinstance(contained, list):
        valid = [c for c in contained if isinstance(c, dict) and resource_problem(c, memo) is None]
        if valid:
            out["contained"] = valid
    return out


def _identified(med: MedicationUse) -> bool:
    return bool(med.medication.codings or med.medication.text or med.ingredients)


def _read_one(
    meds: Sequence[dict[str, Any]], draft: dict[str, Any], memo: ParseMemo
) -> tuple[MedicationUse | None, str | None]:
    record = build_record(meds, draft_orders=[draft], memo=memo)
    drafts = [m for m in record.medications if m.is_draft_order]
    if drafts:
        return drafts[0], None
    problem = next((p.message for p in record.problems if p.reference.startswith("MedicationRequest")), None)
    return None, problem or "invalid FHIR"


def _readable_medications(medications: Sequence[dict[str, Any]], memo: ParseMemo) -> list[dict[str, Any]]:
    """The Medications that can be read, in order. A client may _include the same Medication with each medication
    key: each distinct JSON is read once, its copies take the same answer."""
    firsts: dict[bytes, dict[str, Any]] = {}
    readable: list[dict[str, Any]] = []
    for m in medications:
        try:
            first = firsts.setdefault(orjson.dumps(m), m)
        except TypeError:  # not writable as JSON (an integer beyond 64 bits): read on its own
            first = m
        if first is not m:
            memo.share(m, first)
        if resource_problem(m, memo) is None:
            readable.append(m)
    return readable


def read_drafts(
    drafts: Sequence[dict[str, Any]], medications: Sequence[dict[str, Any]], *, memo: ParseMemo | None = None
) -> ReadDrafts:
    """Sort the drafts into readable, salvaged (unreadable in part) and unidentified ones. `memo`: shared with
    the call's later `build_record`s, which then read these drafts and Medications again for free."""
    memo = memo if memo is not None else ParseMemo()
    meds = _readable_medications(medications, memo)
    readable: list[dict[str, Any]] = []
    salvaged: list[dict[str, Any]] = []
    unreadable: dict[str, str] = {}
    unidentified: list[Unidentified] = []
    notes: list[tuple[str, str]] = []
    for draft in drafts:
        label = _label(draft)
        med, problem = _read_one(meds, draft, memo)
        candidate = draft
        if med is None:
            candidate = _salvage(draft, memo)
            med, _ = _read_one(meds, candidate, memo)
            if med is None:
                unidentified.append(Unidentified(label, f"it could not be read: {problem}"))
                continue
        ref = _reference(draft)
        if not _resolved(draft, meds):
            if not _identified(med):
                unidentified.append(Unidentified(label, f"its medicationReference {ref} could not be resolved"))
                continue
            notes.append(
                (
                    label,
                    f"Draft order {label}: its Medication ({ref}) could not be read, so the drug is known only by "
                    f"the name '{med.medication.label}' and its product and strength are unknown.",
                )
            )
        elif not _identified(med):
            unidentified.append(Unidentified(label, "it names no drug (no code and no name)"))
            continue
        if candidate is draft:
            readable.append(draft)
        else:
            salvaged.append(candidate)
            unreadable[med.reference] = problem or "invalid FHIR"
    return ReadDrafts(tuple(readable + salvaged), unreadable, tuple(unidentified), tuple(meds), tuple(notes))


def mark_unreadable(record: PatientRecord, unreadable: dict[str, str]) -> PatientRecord:
    """The record with each salvaged draft marked as not readable in full (why, for the rules to say)."""
    if not unreadable:
        return record
    meds = tuple(
        replace(m, unreadable=unreadable[m.reference], dosages=())
        if m.is_draft_order and m.reference in unreadable
        else m
        for m in record.medications
    )
    return replace(record, medications=meds)
