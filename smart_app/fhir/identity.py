"""Whose data a resource is, and one copy of each resource: the screen every decision's input passes.

Patient safety: a FHIR server or a prefetch that returns another patient's resources must not be believed (another
patient's schizophrenia would contraindicate ketamine, another patient's opioids would double the MME). Before
anything is judged, each resource the clinical core reads is matched against the patient in context:

- Condition, Observation, MedicationRequest/Statement/Administration: `subject`; AllergyIntolerance and Consent:
  `patient`. The reference must name `Patient/<patient id>` in a form FHIR allows: relative (`Patient/123`, with or
  without `/_history/n`), or absolute on the FHIR server's base (`https://ehr/fhir/Patient/123`; scheme and host
  compared case-insensitively, default ports normalised, the path exactly). A reference to another patient, to
  something that is not a Patient (`Group/7`), to another server, or that cannot be resolved here (`urn:uuid:`,
  `#contained`) is *foreign*: the resource is left out and counted, so the caller can say so.
- A Patient resource must have the patient's id.
- Without a FHIR base (a prefetch-only call without `fhirServer`), an absolute reference cannot be compared with
  the EHR's server, so it is matched by its `Patient/<id>` tail alone.
- A resource that names no patient at all (no `subject`/`patient`, or one given by identifier or display only):
  R4 makes the element required for every type above except Observation and Consent, where it is 0..1. Such a
  resource is *kept* when it came from a query scoped to this patient (every template of this service is:
  `?patient={{context.patientId}}`), because the EHR then vouches for it, and counted so the caller can say so;
  from an unscoped source it is left out as foreign. A malformed element (not an object) is left to validation,
  which reports the resource as unreadable.

Resources of other types (Medication, OperationOutcome, ...) carry no patient and pass through.

Duplicates (`deduplicate`): the same resource read twice (two pages, two prefetch keys, prefetch and fetch) counts
once: identity is resource type and id; when copies differ, the latest (`meta.lastUpdated`, then a numeric
`meta.versionId`) is kept, in the position of the first copy. Resources without an id are collapsed only when
their content is identical.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson

from smart_app.fhir import origins

# The element holding the patient reference, per resource type the clinical core reads.
PATIENT_ELEMENT: dict[str, str] = {
    "Condition": "subject",
    "Observation": "subject",
    "MedicationRequest": "subject",
    "MedicationStatement": "subject",
    "MedicationAdministration": "subject",
    "AllergyIntolerance": "patient",
    "Consent": "patient",
}

_ID = r"[A-Za-z0-9\-.]{1,64}"
_TAIL = re.compile(rf"(?:^|/)(?P<type>[A-Z][A-Za-z]{{1,63}})/(?P<id>{_ID})(?:/_history/{_ID})?$")


class Belonging(Enum):
    THIS = "this patient"
    OTHER = "another patient, or a patient that cannot be matched"
    UNSTATED = "no patient named"
    NOT_APPLICABLE = "not patient data"  # other resource types, or a malformed element left to validation


@dataclass(frozen=True, slots=True)
class Screened:
    """The resources a decision may use, and what was left out or kept with a caveat."""

    resources: tuple[dict[str, Any], ...]
    foreign: int = 0  # left out: another patient's (or not matchable to this one)
    unattributed: int = 0  # kept although they name no patient (from a patient-scoped query)
    duplicates: int = 0  # extra copies dropped


def reference_target(reference: str, fhir_base: str | None) -> tuple[str, str] | None:
    """(type, id) a literal reference names on `fhir_base`; None when it points elsewhere or cannot be resolved.

    Relative references resolve against the server the data came from. An absolute one must be on `fhir_base`;
    with no base known, its `Type/id` tail is taken."""
    if "?" in reference or "#" in reference:
        return None
    match = _TAIL.search(reference)
    if match is None:
        return None
    prefix = reference[: match.start()]
    if not prefix:  # relative: Type/id[/_history/v]
        return match["type"], match["id"]
    if "://" not in prefix:
        return None  # e.g. urn:uuid:..., or a relative path with extra segments
    here = origins.base_url(prefix)
    if here is None:
        return None
    if fhir_base is not None and here != origins.base_url(fhir_base):
        return None
    return match["type"], match["id"]


def belonging(
    resource: dict[str, Any], patient_id: str, fhir_base: str | None, matches: dict[str, bool] | None = None
) -> Belonging:
    """Whose the resource is. `matches`: what `refers_to_patient` answered for each reference string so far, for
    the same patient and base (a screen of one call asks about the same `Patient/<id>` hundreds of times)."""
    kind = resource.get("resourceType")
    if kind == "Patient":
        rid = resource.get("id")
        if rid is None:
            return Belonging.UNSTATED
        return Belonging.THIS if rid == patient_id else Belonging.OTHER
    element = PATIENT_ELEMENT.get(kind) if isinstance(kind, str) else None
    if element is None:
        return Belonging.NOT_APPLICABLE
    value = resource.get(element)
    if value is None:
        return Belonging.UNSTATED
    if not isinstance(value, dict):
        return Belonging.NOT_APPLICABLE  # invalid FHIR: validation reports it as unreadable
    reference = value.get("reference")
    if reference is None:
        return Belonging.UNSTATED  # identifier or display only: nothing to match, nothing contradicting
    if not isinstance(reference, str):
        return Belonging.NOT_APPLICABLE
    if matches is None:
        ours = refers_to_patient(reference, patient_id, fhir_base)
    else:
        found = matches.get(reference)
        if found is None:
            found = matches[reference] = refers_to_patient(reference, patient_id, fhir_base)
        ours = found
    return Belonging.THIS if ours else Belonging.OTHER


def refers_to_patient(reference: str, patient_id: str, fhir_base: str | None) -> bool:
    """True when `reference` names exactly `Patient/<patient_id>` on `fhir_base` (see `reference_target`)."""
    return reference_target(reference.strip(), fhir_base) == ("Patient", patient_id)


def screen(
    resources: Iterable[dict[str, Any]], patient_id: str, *, fhir_base: str | None, patient_scoped: bool = True
) -> Screened:
    """Keep what is this patient's (and, from a `patient_scoped` query, what names no patient); see the module."""
    return screen_sources([(resources, patient_scoped)], patient_id, fhir_base=fhir_base)


def screen_sources(
    sources: Iterable[tuple[Iterable[dict[str, Any]], bool]], patient_id: str, *, fhir_base: str | None
) -> Screened:
    """`screen` of each (resources, patient_scoped) source, then `combine` of the results, in one pass.

    The same result as screening each source and combining them: one copy of each resource (the latest version,
    the earliest copy among equally late ones) where its first copy stood, and the extra copies within and across
    sources counted alike; reading each resource once and matching each distinct reference once is what makes it
    cheaper."""
    matches: dict[str, bool] = {}
    slots: dict[object, int] = {}
    out: list[dict[str, Any]] = []
    foreign = unattributed = kept = 0
    this, other, unstated = Belonging.THIS, Belonging.OTHER, Belonging.UNSTATED  # this loop sees every resource
    elements = PATIENT_ELEMENT
    for resources, patient_scoped in sources:
        for resource in resources:
            # The usual resource, inline (one call per resource is a tenth of the screen): a plain reference
            # already matched, then a plain id not seen yet. Anything else takes `belonging` and `_place`,
            # which these lines only repeat.
            kind = resource.get("resourceType")
            element = elements.get(kind) if type(kind) is str else None
            value = resource.get(element) if element is not None else None
            reference = value.get("reference") if type(value) is dict else None
            ours = matches.get(reference) if type(reference) is str else None
            if ours is not None:
                whose = this if ours else other
            else:
                whose = belonging(resource, patient_id, fhir_base, matches)
            if whose is other or (whose is unstated and not patient_scoped):
                foreign += 1
                continue
            if whose is unstated:
                unattributed += 1
            kept += 1
            rid = resource.get("id")
            if type(rid) is str and rid and (kind, rid) not in slots:
                slots[(kind, rid)] = len(out)
                out.append(resource)
            else:
                _place(resource, slots, out)
    return Screened(tuple(out), foreign, unattributed, kept - len(out))


def combine(parts: Sequence[Screened]) -> Screened:
    """Several screened sets as one, de-duplicated across them (a resource in two prefetch keys counts once)."""
    unique, duplicates = deduplicate(r for part in parts for r in part.resources)
    return Screened(
        tuple(unique),
        foreign=sum(p.foreign for p in parts),
        unattributed=sum(p.unattributed for p in parts),
        duplicates=duplicates + sum(p.duplicates for p in parts),
    )


def deduplicate(resources: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """One copy of each resource (the latest version, where the first copy stood) and the number dropped."""
    slots: dict[object, int] = {}
    out: list[dict[str, Any]] = []
    seen = 0
    for resource in resources:
        seen += 1
        _place(resource, slots, out)
    return out, seen - len(out)


def _place(resource: dict[str, Any], slots: dict[object, int], out: list[dict[str, Any]]) -> None:
    """Add `resource` to `out`, or let it replace the copy already there when it is a later version."""
    key = _identity(resource)
    if key is None:
        out.append(resource)
        return
    index = slots.get(key)
    if index is None:
        slots[key] = len(out)
        out.append(resource)
    elif _version(resource) > _version(out[index]):
        out[index] = resource


def _identity(resource: dict[str, Any]) -> object | None:
    kind, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rid, str) and rid:
        return (kind, rid)
    try:  # no id: only an identical copy is a duplicate
        return (kind, None, orjson.dumps(resource, option=orjson.OPT_SORT_KEYS))
    except TypeError:  # not serialisable (e.g. an integer beyond 64 bits): never merged
        return None


_EPOCH = datetime.min.replace(tzinfo=UTC)


def _version(resource: dict[str, Any]) -> tuple[datetime, int]:
    """Sort key of a copy: (meta.lastUpdated, numeric meta.versionId); unknowns sort first."""
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        return _EPOCH, -1
    updated = _EPOCH
    raw = meta.get("lastUpdated")
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            updated = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        except ValueError:
            pass
    version = meta.get("versionId")
    number = int(version) if isinstance(version, str) and version.isdigit() and len(version) <= 18 else -1
    return updated, number


def notes(foreign: int, unattributed: int) -> list[str]:
    """Sentences for a data card or page: what the screen left out or kept with a caveat."""
    sentences = []
    if foreign:
        sentences.append(
            f"{foreign} resource(s) of another patient were ignored (their subject names a different patient, or "
            "one that could not be matched to this patient), so only this patient's data were used."
        )
    if unattributed:
        sentences.append(
            f"{unattributed} resource(s) name no patient; they were used because the EHR returned them in a search "
            "for this patient."
        )
    return sentences
