"""Build a `PatientRecord` from FHIR R4 resource dicts.

Each resource of a type the clinical core uses is read by the lean typed parse (`smart_app.fhir.lean`), which
holds what it reads to R4B's rules and hands anything it cannot vouch for to full validation with the
fhir.resources R4B model; resources of other types are skipped without validation (they cost nothing). A resource
that fails validation becomes an `InputProblem` so that what could not be read is reported rather than lost.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from smart_app.caching import ByteBoundedLRU
from smart_app.core.model import (
    DataGap,
    Demographics,
    InputProblem,
    Observation,
    PatientRecord,
    ServiceOrder,
)
from smart_app.core.safety.windows import CodeWindow, Relevance
from smart_app.fhir import convert, lean, plausibility

MEDICATION_TYPES = ("MedicationRequest", "MedicationStatement", "MedicationAdministration")
_CLINICAL_TYPES: dict[str, Callable[[Any], Any]] = {
    "Condition": convert.condition,
    "Observation": convert.observation,
    "AllergyIntolerance": convert.allergy,
    "Consent": convert.consent,
    "QuestionnaireResponse": convert.questionnaire_response,
}
USED_TYPES = frozenset({"Patient", "Medication", "ServiceRequest", *MEDICATION_TYPES, *_CLINICAL_TYPES})


def _label(raw: dict[str, Any], index: int) -> str:
    rid = raw.get("id")
    return f"{raw.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else f"{raw.get('resourceType')} #{index}"


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if not str(p).startswith("function-"))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid FHIR at {where or 'resource'}: {first.get('msg', 'invalid')}{more}"


def validate(raw: dict[str, Any]) -> Any:
    """Validate one resource dict with its R4B model; raises ValidationError or KeyError for unknown types."""
    model = get_fhir_model_class(raw["resourceType"])
    return model.model_validate(raw)


@dataclass(frozen=True, slots=True)
class _Parsed:
    """One resource read: a core object (clinical types, Patient), a PendingUse (Medication*), (id, parts)
    (Medication), or the reason it could not be read."""

    value: Any
    problem: str | None = None


# Resources the lean path leaves to R4B (primitive extensions, contained resources, XHTML, values R4B coerces),
# validated once each: an EHR sends the same unchanged resources again and again. Keyed by the canonical JSON,
# bounded in bytes (a 1 MB note must not stay), and only for resources of a sane size.
_FULL_CACHE_BYTES = 32 * 1024 * 1024
_FULL_CACHE_ENTRY_BYTES = 256 * 1024
_full_cache: ByteBoundedLRU[bytes, _Parsed] = ByteBoundedLRU(
    _FULL_CACHE_BYTES, max_entries=20_000, max_entry_bytes=_FULL_CACHE_ENTRY_BYTES
)


def validation_cache() -> ByteBoundedLRU[bytes, _Parsed]:
    return _full_cache


def clear_validation_cache() -> None:
    """Forget every validated resource (benchmarks measure first sight; a deployment never needs to)."""
    _full_cache.clear()


def _parse_full(raw: dict[str, Any]) -> _Parsed:
    try:
        model = validate(raw)
    except ValidationError as exc:
        return _Parsed(None, describe_validation_error(exc))
    kind = raw["resourceType"]
    if kind in _CLINICAL_TYPES:
        value = _CLINICAL_TYPES[kind](model)
        implausible = plausibility.converted_problem(value)
        return _Parsed(None, implausible) if implausible is not None else _Parsed(value)
    if kind == "Patient":
        return _Parsed(convert.demographics(model))
    if kind == "Medication":
        return _Parsed((model.id, convert.medication_parts(model)))
    if kind == "ServiceRequest":
        return _Parsed(model)  # converted when taken: a draft's flag comes from where it was found
    return _Parsed(convert.pending_use(model))


def _parse_full_cached(raw: dict[str, Any]) -> _Parsed:
    try:
        canonical = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # not JSON-serialisable as orjson sees it (e.g. an integer beyond 64 bits): no caching
        return _parse_full(raw)
    found = _full_cache.get(canonical)
    if found is None:
        found = _parse_full(raw)
        _full_cache.put(canonical, found, 2 * len(canonical))  # the key, and at most as much again in values
    return found  # type: ignore[no-any-return]


# Where the serialised JSON can hold a number plausibility.raw_problem objects to (any beyond 1e8 in magnitude): a
# JSON number (after ':', '[' or ',', perhaps negative) with nine or more integer digits, or one in exponent form,
# which orjson writes only from 1e16 on and always as 'e+' with two or more digits ('1e+16'). One translation of the
# bytes (digits to '0'; ':', '[', ',' and '-' to ':') and two substring searches, all in C: where neither is found,
# walking the resources for such a number is wasted work. Text that merely looks like one (',123456789' or
# '-123456789' in a note) only costs the walk. The needles are long on purpose: CPython finds a long needle with
# few candidate starts faster than a short one.
_KEPT = {
    **dict.fromkeys(b"0123456789", ord("0")),
    **dict.fromkeys(b":[,-", ord(":")),
    **{ord("e"): ord("e"), ord("E"): ord("e"), ord("+"): ord("+")},
}
_SHAPES = bytes(_KEPT.get(i, ord(" ")) for i in range(256))


def _may_hold_large_number(blob: bytes) -> bool:
    shapes = blob.translate(_SHAPES)
    return b":000000000" in shapes or b"0e+00" in shapes


def _implausible(raw: dict[str, Any]) -> str | None:
    """plausibility.raw_problem, skipped when the JSON holds no number that could be one."""
    try:
        if not _may_hold_large_number(orjson.dumps(raw)):
            return None
    except TypeError:  # an integer beyond 64 bits
        pass
    return plausibility.raw_problem(raw)


def _holds_no_large_number(resources: list[dict[str, Any]]) -> bool:
    """True when no resource's JSON has a number plausibility could object to (one scan for all of them)."""
    try:
        return not _may_hold_large_number(orjson.dumps(resources))
    except TypeError:
        return False


def parse_resource(raw: dict[str, Any], *, full: bool = False, numbers_checked: bool = False) -> _Parsed:
    """One resource of a used type: the lean path, or R4B when the lean path cannot decide (or `full`).
    Numbers no record can hold make it unreadable, whichever path reads it (`plausibility`); `numbers_checked`:
    the caller found none that could be."""
    implausible = None if numbers_checked else _implausible(raw)  # a data error, not a computation
    if implausible is not None:
        return _Parsed(None, implausible)
    if not full:
        try:
            value = lean.parse(raw)
        except lean.Unusual:
            pass
        else:
            if type(value) is Observation:
                implausible = plausibility.converted_problem(value)
                if implausible is not None:
                    return _Parsed(None, implausible)
            return _Parsed(value)
    return _parse_full_cached(raw)


class ParseMemo:
    """What `parse_resource` made of each resource dict, by the dict's identity, within one hook call.

    A call reads the same dicts several times (each prefetched Medication to vet it, then with each draft, then in
    the drafts' record and the patient's record); the memo makes each read once. Keyed by `id()` with the dict
    held, so an id is never reused while the memo lives; the dicts must not be changed meanwhile (the pipeline
    never changes the request's JSON). Never shared across calls: a resource of patient A is never looked up for
    patient B, and the lean path's own memos (by content) are what spans calls."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[tuple[int, bool], tuple[dict[str, Any], _Parsed]] = {}

    def __contains__(self, key: tuple[dict[str, Any], bool]) -> bool:
        return (id(key[0]), key[1]) in self._entries

    def share(self, copy: dict[str, Any], original: dict[str, Any]) -> None:
        """Let `copy` read as `original` has been read: the caller found their JSON byte for byte the same (which
        tells 1, 1.0 and true apart, as the parse does; `==` would not)."""
        for full in (False, True):
            found = self._entries.get((id(original), full))
            if found is not None:
                self._entries[(id(copy), full)] = (copy, found[1])

    def parse(self, raw: dict[str, Any], *, full: bool = False, numbers_checked: bool = False) -> _Parsed:
        """`parse_resource(raw, full=full)`, read once. `numbers_checked` is only a shortcut of the same answer."""
        key = (id(raw), full)
        found = self._entries.get(key)
        if found is not None:
            return found[1]
        parsed = parse_resource(raw, full=full, numbers_checked=numbers_checked)
        self._entries[key] = (raw, parsed)
        return parsed


def resource_problem(raw: dict[str, Any], memo: ParseMemo | None = None) -> str | None:
    """Why `raw` cannot be read (None: it can, or it is of a type no record reads), as `build_record([raw])`
    would report it: its only `InputProblem`."""
    if raw.get("resourceType") not in USED_TYPES:
        return None
    return (memo.parse(raw) if memo is not None else parse_resource(raw)).problem


# How many resources of a type one record holds. Reading and evaluating grow with the data (20,000 observations
# took 3.8 s to answer); beyond these bounds the newest are kept and the data card says what was left out, so the
# answer stays within its deadline (settings.answer_deadline_s). Far above any real prefetch or search page.
MAX_RESOURCES: dict[str, int] = {
    "Observation": 2000,
    "Condition": 1000,
    "MedicationRequest": 1000,
    "MedicationStatement": 1000,
    "MedicationAdministration": 1000,
    "Medication": 2000,
    "AllergyIntolerance": 500,
    "Consent": 200,
    "Patient": 10,
}
_DATE_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Observation": (("effectiveDateTime",), ("effectiveInstant",), ("effectivePeriod", "end"), ("issued",)),
    "Condition": (("recordedDate",), ("onsetDateTime",)),
    "MedicationRequest": (("authoredOn",),),
    "MedicationStatement": (("dateAsserted",), ("effectiveDateTime",), ("effectivePeriod", "start")),
    "MedicationAdministration": (("effectiveDateTime",), ("effectivePeriod", "start")),
    "AllergyIntolerance": (("recordedDate",),),
    "Consent": (("dateTime",),),
}
_PLURAL = {
    "Observation": "observations",
    "Condition": "conditions",
    "MedicationRequest": "medication orders",
    "MedicationStatement": "medication statements",
    "MedicationAdministration": "medication administrations",
    "Medication": "Medication resources",
    "AllergyIntolerance": "allergies",
    "Consent": "consents",
    "Patient": "Patient resources",
}


def _date_text(raw: dict[str, Any]) -> str:
    """The resource's clinical date as written (ISO strings sort by time closely enough to choose the newest)."""
    for path in _DATE_PATHS.get(str(raw.get("resourceType")), ()):
        value: Any = raw
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return ""


def _bounded(
    resources: list[dict[str, Any]], limits: Mapping[str, int]
) -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """The resources with at most `limits[type]` of each type (the newest), and a sentence per type cut."""
    counts = Counter(str(r.get("resourceType")) for r in resources)
    over = {kind: n for kind, n in counts.items() if kind in limits and n > limits[kind]}
    if not over:
        return resources, ()
    keep: set[int] = set()
    for kind in over:
        of_kind = [i for i, r in enumerate(resources) if r.get("resourceType") == kind]
        of_kind.sort(key=lambda i: _date_text(resources[i]), reverse=True)
        keep.update(of_kind[: limits[kind]])
    kept = [r for i, r in enumerate(resources) if str(r.get("resourceType")) not in over or i in keep]
    sentences = tuple(
        f"Only the newest {limits[kind]:,} of {n:,} {_PLURAL.get(kind, kind)} were evaluated, so that the answer "
        "stays within its deadline; older ones were not checked."
        for kind, n in sorted(over.items())
    )
    return kept, sentences


def _relevant(
    resources: list[dict[str, Any]],
    relevance: Relevance,
    parse: Callable[[dict[str, Any]], _Parsed] = parse_resource,
) -> list[dict[str, Any]]:
    """The resources without the observations and conditions no rule can read (see core/safety/windows.py).
    `parse`: how the record will read a resource (an older candidate is read to see whether its reader takes it)."""
    keep = [True] * len(resources)
    older: dict[str, list[tuple[datetime, int]]] = {}
    windows: dict[bytes, CodeWindow] = {}  # by the code's JSON: a record holds a handful of distinct codes
    on, panel_since = relevance.on, relevance.panel_since
    result_status, window_of = relevance.result_status, relevance.window_of
    observation_when, concept_of, dumps = lean.observation_when, lean.concept_of, orjson.dumps
    for index, raw in enumerate(resources):
        kind = raw.get("resourceType")
        try:
            if kind == "Observation":
                status = raw.get("status")
                if isinstance(status, str) and not result_status(status):
                    keep[index] = False
                    continue
                when = observation_when(raw)
                if when is None or when > on:  # undated or future: read (and judged) as the record would
                    continue
                value = raw.get("code")
                try:
                    key = dumps(value)
                except TypeError:  # not writable (an integer beyond 64 bits): the lean path cannot read it either
                    continue
                window = windows.get(key)
                if window is None:
                    window = windows[key] = window_of(concept_of(value))
                since = window.since
                if "component" in raw and (since is None or panel_since < since):
                    since = panel_since  # a panel: vitals.latest_bp reads its components
                if since is not None and when >= since:
                    continue
                keep[index] = False
                for name in window.newest_older:
                    older.setdefault(name, []).append((when, index))
            elif kind == "Condition":
                code = concept_of(raw.get("code"))
                keep[index] = code is not None and relevance.coded(code)
        except lean.Unusual:
            keep[index] = True  # cannot tell cheaply: read it (and report it if it is broken)
    for name, candidates in older.items():
        candidates.sort(key=lambda c: c[0], reverse=True)
        for when, index in candidates:
            parsed = parse(resources[index])
            if parsed.problem is not None or type(parsed.value) is not Observation:
                keep[index] = True  # unreadable: reported, as every broken resource that is read
                continue
            if relevance.usable(name, parsed.value):
                for other_when, other in candidates:
                    if other_when == when:
                        keep[other] = True
                break
    return [raw for raw, kept in zip(resources, keep, strict=True) if kept]


def build_record(
    resources: Iterable[dict[str, Any]],
    *,
    draft_orders: Iterable[dict[str, Any]] = (),
    gaps: Iterable[DataGap] = (),
    full_validation: bool = False,
    limits: Mapping[str, int] | None = MAX_RESOURCES,
    relevant: Relevance | None = None,
    memo: ParseMemo | None = None,
) -> PatientRecord:
    """The patient's record from resource dicts; `draft_orders` are the unsigned orders of a CDS Hooks context;
    `gaps` name the data the caller could not supply.

    Resources are read by the lean path (`smart_app.fhir.lean`), which falls back to R4B validation for anything
    it cannot vouch for; `full_validation` validates every resource with its R4B model (the CLI's choice). At most
    `limits[type]` resources of a type are read (the newest; None: no bound), and `PatientRecord.truncated` says
    what was left out. With `relevant` (the evaluation time and windows of core/safety/windows.py), observations
    and conditions that no rule can read are skipped unread. Draft orders are never left out. `memo`: the
    resources already read in this hook call (the same record either way)."""
    resources, truncated = _bounded(list(resources), limits or {})
    memo = memo if memo is not None else ParseMemo()
    if relevant is not None:
        resources = _relevant(resources, relevant, partial(memo.parse, full=full_validation))
    # One scan of what is not read yet for numbers plausibility could object to (read ones are answered).
    numbers_checked = _holds_no_large_number([r for r in resources if (r, full_validation) not in memo])
    problems: list[InputProblem] = []
    service_orders: list[ServiceOrder] = []
    pending: list[tuple[convert.PendingUse, bool]] = []
    medications: dict[str, convert.MedicationParts] = {}
    clinical: dict[str, list[Any]] = {k: [] for k in _CLINICAL_TYPES}
    demographics: Demographics | None = None

    def take(raw: dict[str, Any], index: int, is_draft: bool) -> None:
        nonlocal demographics
        kind = raw.get("resourceType")
        if kind not in USED_TYPES:
            return
        parsed = memo.parse(raw, full=full_validation, numbers_checked=numbers_checked and not is_draft)
        if parsed.problem is not None:
            problems.append(InputProblem(_label(raw, index), parsed.problem))
        elif kind == "Medication":
            mid, parts = parsed.value
            if mid:
                medications[mid] = parts
                medications[f"Medication/{mid}"] = parts
        elif kind == "Patient":
            demographics = demographics or parsed.value
        elif kind in MEDICATION_TYPES:
            pending.append((parsed.value, is_draft))
        elif kind == "ServiceRequest":
            service_orders.append(convert.service_order(parsed.value, is_draft=is_draft))
        else:
            clinical[kind].append(parsed.value)

    for index, raw in enumerate(resources):
        take(raw, index, False)
    for index, raw in enumerate(draft_orders):
        take(raw, index, True)

    # Medications are resolved last: a medicationReference may point at a Medication later in the Bundle.
    meds = tuple(convert.resolve(p, medications, is_draft=d) for p, d in pending)
    return PatientRecord(
        demographics=demographics or Demographics(),
        medications=meds,
        conditions=tuple(clinical["Condition"]),
        observations=tuple(clinical["Observation"]),
        allergies=tuple(clinical["AllergyIntolerance"]),
        consents=tuple(clinical["Consent"]),
        questionnaire_responses=tuple(clinical["QuestionnaireResponse"]),
        service_orders=tuple(service_orders),
        problems=tuple(problems),
        gaps=tuple(gaps),
        truncated=truncated,
    )
