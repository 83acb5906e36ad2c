"""Gather the patient's data for one hook call: prefetch first, the CDS client's FHIR server for the rest.

Each prefetch key arrives in one of five shapes (spec, "Prefetch Template"): absent (the client chose not to or
could not satisfy it), `null` (no data), an OperationOutcome (the client's prefetch failed), a Bundle (possibly
only the first page), or the resource of a read. Whatever cannot be had from prefetch is fetched from `fhirServer`
concurrently, within one time budget. What still cannot be had is returned as a reason naming the data and what
depends on it, so the service decides on what is available and says what it could not check.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.prefetch import PrefetchQuery
from smart_app.core.model import DataGap
from smart_app.fhir import identity
from smart_app.fhir.client import PATIENT_TOKEN, FetchResult, FhirClient
from smart_app.fhir.origins import fhir_server_problem

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Unavailable:
    """Data the decision lacks (wholly, or partly when `partial`), and why."""

    query: PrefetchQuery
    reason: str
    partial: bool = False

    @property
    def gap(self) -> DataGap | None:
        """As the clinical core sees it: the resource type that is missing (None for data it does not read)."""
        kind = self.query.resource_type
        return DataGap(kind, self.reason, self.partial) if kind else None

    @property
    def sentence(self) -> str:
        what = f"Some {self.query.data}" if self.partial else self.query.data.capitalize()
        verb = "were missing" if self.partial else "were unavailable"
        return f"{what} {verb} ({self.reason}), so {self.query.needed_for} could not be fully checked."


@dataclass(frozen=True, slots=True)
class GatheredData:
    resources: tuple[dict[str, Any], ...]  # this patient's only, one copy of each (`smart_app.fhir.identity`)
    available: tuple[str, ...]  # prefetch keys whose data (possibly partial) was had
    unavailable: tuple[Unavailable, ...] = field(default=())
    foreign_resources: int = 0  # left out: they name another patient (or one not matchable to context.patientId)
    unattributed_resources: int = 0  # kept: they name no patient but came from a search for this patient

    @property
    def nothing_available(self) -> bool:
        return not self.available

    @property
    def gaps(self) -> tuple[DataGap, ...]:
        """The unavailable data as the clinical core sees it: which resource types, wholly or in part."""
        return tuple(gap for u in self.unavailable if (gap := u.gap) is not None)


@dataclass(frozen=True, slots=True)
class _KeyState:
    resources: list[dict[str, Any]]
    problem: str | None  # None: complete
    usable: bool  # some data was had


def _list(value: Any) -> list[Any]:
    """A JSON array element, or [] when the client sent something else there."""
    return value if isinstance(value, list) else []


def _outcome_text(outcome: dict[str, Any]) -> str:
    codes = [
        str(i["code"]) for i in _list(outcome.get("issue")) if isinstance(i, dict) and isinstance(i.get("code"), str)
    ]
    return f"the EHR reported an error ({', '.join(codes) or 'OperationOutcome'})"


def _bundle_resources(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], bool, bool]:
    """(resources, has a next page, carried an error OperationOutcome entry)."""
    resources: list[dict[str, Any]] = []
    error = False
    for entry in _list(bundle.get("entry")):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            continue
        if resource["resourceType"] == "OperationOutcome":
            error = error or any(
                isinstance(i, dict) and i.get("severity") in ("error", "fatal") for i in _list(resource.get("issue"))
            )
            continue
        resources.append(resource)
    paged = any(isinstance(link, dict) and link.get("relation") == "next" for link in _list(bundle.get("link")))
    return resources, paged, error


def read_prefetch(query: PrefetchQuery, prefetch: dict[str, Any] | None) -> _KeyState:
    """What one prefetch key gives, before any fallback."""
    if prefetch is None or query.key not in prefetch:
        return _KeyState([], "not prefetched by the EHR", False)
    value = prefetch[query.key]
    if value is None:  # the client has no data for this template: a real, empty answer
        return _KeyState([], None, True)
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return _KeyState([], "the EHR's prefetch value was not a FHIR resource", False)
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        return _KeyState([], _outcome_text(value), False)
    if kind == "Bundle":
        resources, paged, error = _bundle_resources(value)
        if paged:
            return _KeyState(resources, "the EHR sent only the first page", True)
        if error:
            return _KeyState(resources, "the EHR reported an error for part of it", True)
        return _KeyState(resources, None, True)
    return _KeyState([value], None, True)  # a read (e.g. Patient/123)


def fetch_spec(query: PrefetchQuery) -> tuple[str, dict[str, str]]:
    """The template as (resource type, search params) for `FhirClient.fetch_patient_data`; reads become `_id`."""
    path, _, search = query.template.partition("?")
    if not search:
        resource_type, _, _id = path.partition("/")
        return resource_type, {"_id": PATIENT_TOKEN if _id == PATIENT_TOKEN else _id}
    return path, dict(parse_qsl(search, keep_blank_values=True))


async def gather(
    request: HookRequest,
    queries: Sequence[PrefetchQuery],
    *,
    budget_s: float,
    allowed_servers: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> GatheredData:
    """`allowed_servers`: FHIR base URLs the service may fetch from, compared as parsed URLs (`fhir.origins`);
    empty: any well-formed server (e.g. for the sandbox)."""
    states = {q.key: read_prefetch(q, request.prefetch) for q in queries}
    to_fetch = [q for q in queries if states[q.key].problem is not None]
    fetched: dict[str, FetchResult] = {}
    server_problem: str | None = None
    server = request.fhir_server
    if server:
        server_problem = fhir_server_problem(server, allowed_servers)
        if server_problem is not None:
            log.warning("hook %s: fhirServer not used: %s", request.hook_instance, server_problem)
            server = None
    if to_fetch and server and request.patient_id:
        token = request.fhir_authorization.access_token.get_secret_value() if request.fhir_authorization else None
        started = time.monotonic()
        try:
            async with FhirClient(server, access_token=token, transport=transport) as client:
                fetched = await client.fetch_patient_data(
                    request.patient_id, {q.key: fetch_spec(q) for q in to_fetch}, budget_s=budget_s
                )
        except Exception as exc:  # a client bug must not cost the findings that prefetch already supports
            log.error("hook %s: FHIR fallback failed: %s", request.hook_instance, type(exc).__name__)
            server_problem = "the EHR's FHIR server could not be queried"
        log.info(
            "hook %s: fetched %d key(s) from FHIR in %.0f ms",
            request.hook_instance,
            len(to_fetch),
            (time.monotonic() - started) * 1000,
        )
    elif to_fetch and server_problem is None:
        server_problem = "no FHIR server was given to fetch it from"

    per_query: list[tuple[list[dict[str, Any]], bool]] = []  # each key's resources, from a patient-scoped query
    available: list[str] = []
    unavailable: list[Unavailable] = []
    for query in queries:
        state = states[query.key]
        result = fetched.get(query.key)
        resources: list[dict[str, Any]] = []
        if state.problem is None:
            resources.extend(state.resources)
            available.append(query.key)
        elif result is not None and result.ok:
            resources.extend(result.resources)
            available.append(query.key)
            if not result.complete:
                unavailable.append(Unavailable(query, result.problem or "the FHIR search was incomplete", True))
        else:
            fallback = (result.problem if result is not None else server_problem) or "not fetched"
            reason = f"{state.problem}; {fallback}"
            if state.usable:  # e.g. the first page of a paged prefetch: use it, and say the rest is missing
                resources.extend(state.resources)
                available.append(query.key)
            unavailable.append(Unavailable(query, reason, partial=state.usable))
        per_query.append((resources, PATIENT_TOKEN in query.template))
    if request.patient_id is not None:  # every key screened and de-duplicated in one pass
        screened = identity.screen_sources(per_query, request.patient_id, fhir_base=request.fhir_server)
    else:  # no patient to match against: the pipeline refuses such a call before it gets here
        screened = identity.combine([identity.Screened(tuple(resources)) for resources, _ in per_query])
    if screened.foreign:  # worth an operator's attention: the EHR sent another patient's data
        log.warning(
            "hook %s: %d resource(s) of another patient left out, %d duplicate(s) dropped",
            request.hook_instance,
            screened.foreign,
            screened.duplicates,
        )
    elif screened.duplicates:  # routine (a Medication in several keys): not worth a line per call
        log.debug("hook %s: %d duplicate resource(s) dropped", request.hook_instance, screened.duplicates)
    return GatheredData(
        screened.resources,
        tuple(available),
        tuple(unavailable),
        foreign_resources=screened.foreign,
        unattributed_resources=screened.unattributed,
    )


async def read_references(
    request: HookRequest,
    references: Sequence[str],
    *,
    budget_s: float,
    allowed_servers: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Read resources that are not the patient's own (e.g. the `Medication/<id>` a draft references) from the
    EHR's FHIR server, under the same allow-list as `gather`; (resources read, why some could not be)."""
    server = request.fhir_server
    if not references:
        return [], None
    if not server:
        return [], "no FHIR server was given to read it from"
    server_problem = fhir_server_problem(server, allowed_servers)
    if server_problem is not None:
        return [], server_problem
    token = request.fhir_authorization.access_token.get_secret_value() if request.fhir_authorization else None
    deadline = time.monotonic() + budget_s
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    try:
        async with FhirClient(server, access_token=token, transport=transport) as client:
            for reference in references:
                result = await client.read(reference, deadline=deadline)
                if result.ok:
                    found.extend(result.resources)
                else:
                    problems.append(f"{reference}: {result.problem}")
    except Exception as exc:  # a client bug must not cost the checks of the other drafts
        log.error("hook %s: reading referenced resources failed: %s", request.hook_instance, type(exc).__name__)
        return found, "the EHR's FHIR server could not be queried"
    return found, "; ".join(problems) or None
