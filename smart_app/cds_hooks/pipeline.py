"""One hook call from request to cards: drafts, data gathering, the service's decision, the data-gap card.

Pure orchestration with no HTTP: the FastAPI layer (`app.py`) turns `PreconditionFailed` into 412 and everything
else into a 200 with cards.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx

from smart_app.cds_hooks.cards import data_card
from smart_app.cds_hooks.context import HookRequest, read_draft_orders
from smart_app.cds_hooks.data import GatheredData, gather, read_references
from smart_app.cds_hooks.models import Card
from smart_app.cds_hooks.presented import PresentedCards, PresentedView
from smart_app.cds_hooks.registry import ORDER_HOOKS, CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.core.model import PatientRecord
from smart_app.core.outcomes import SEVERITY_ORDER
from smart_app.core.safety.windows import relevance_for
from smart_app.fhir import identity
from smart_app.fhir.drafts import (
    ReadDrafts,
    mark_unreadable,
    prefetched_medications,
    read_drafts,
    unresolved_references,
)
from smart_app.fhir.record import ParseMemo, build_record

log = logging.getLogger(__name__)


class PreconditionFailed(Exception):
    """No patient data could be had from prefetch or from the FHIR server (CDS Hooks: 412)."""


class BadHookRequest(ValueError):
    """The request is well-formed JSON but not a usable call of this service (hook mismatch, no patientId)."""


def _decide(
    service: CdsService,
    request: HookRequest,
    data: GatheredData,
    read: ReadDrafts | None,
    extra: Sequence[dict[str, Any]],
    settings: ServiceSettings,
    defaults: LocalDefaults,
    on: datetime,
    presented: PresentedView | None,
    memo: ParseMemo,
) -> tuple[PatientRecord, ServiceResult]:
    chosen = (*(read.drafts if read else ()), *extra)
    # A draft the EHR already stored must count once, as the draft being signed.
    draft_keys = {_identity(d) for d in chosen}
    medications = read.medications if read else ()
    record = build_record(
        (*medications, *(r for r in data.resources if _identity(r) not in draft_keys)),
        draft_orders=chosen,
        gaps=data.gaps,
        relevant=relevance_for(on, defaults),
        memo=memo,
    )
    if read is not None:
        record = mark_unreadable(record, read.unreadable)
    relevant = service.relevant
    drafts = tuple(m for m in record.medications if m.is_draft_order and relevant is not None and relevant(m))
    unchecked = tuple(u.reference for u in read.unidentified) if read else ()
    call = ServiceCall(request, record, drafts, settings, defaults, on, presented, unchecked)
    return record, service.handler(call)


def _identity(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def sort_cards(cards: list[Card]) -> list[Card]:
    return sorted(cards, key=lambda c: SEVERITY_ORDER[c.indicator])  # stable: services' own order kept within


async def _read_order_drafts(
    service: CdsService,
    request: HookRequest,
    settings: ServiceSettings,
    transport: httpx.AsyncBaseTransport | None,
    memo: ParseMemo,
) -> tuple[ReadDrafts, tuple[dict[str, Any], ...], list[str], dict[str, str]]:
    """The hook's drafts with their drugs resolved (contained, draftOrders Bundle, prefetch, FHIR server), the test
    orders drafted alongside, and what could not be had: of the drafts as a whole, and per draft reference."""
    orders = read_draft_orders(request)
    chosen = orders.chosen(selected_only=service.selected_only)
    medications = [*orders.medications, *prefetched_medications(request.prefetch)]
    gaps = list(orders.problems)
    missing = unresolved_references(chosen, medications)
    if missing:
        found, problem = await read_references(
            request,
            missing,
            budget_s=settings.fhir_budget_s,
            allowed_servers=settings.fhir_server_allowlist,
            transport=transport,
        )
        medications.extend(r for r in found if r.get("resourceType") == "Medication")
        if problem:
            log.info("hook %s: %d referenced Medication(s) not read from FHIR", request.hook_instance, len(missing))
    read = read_drafts(chosen, medications, memo=memo)
    per_draft = {
        ref: f"Draft order {ref} could not be read in full ({why}); its drug is known, its dose could not be checked."
        for ref, why in read.unreadable.items()
    }
    for ref, note in read.notes:
        per_draft[ref] = f"{per_draft[ref]} {note}" if ref in per_draft else note
    return read, orders.service_requests, gaps, per_draft


def _log_authorization(request: HookRequest) -> None:
    auth = request.fhir_authorization
    if auth is not None and auth.missing_details:
        log.info(
            "hook %s: fhirAuthorization lacks %s; accepted, the token is used as given",
            request.hook_instance,
            ", ".join(auth.missing_details),
        )


async def run_service(
    service: CdsService,
    request: HookRequest,
    settings: ServiceSettings,
    defaults: LocalDefaults,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on: datetime | None = None,
    presented: PresentedCards | None = None,
    caller: str = "",
) -> list[Card]:
    """`caller`: who called (the authenticated client's issuer and tenant; "" with authentication off)."""
    if request.hook != service.hook:
        raise BadHookRequest(f"service {service.id} answers the {service.hook} hook, not {request.hook}")
    if request.patient_id is None:
        raise BadHookRequest("context.patientId is required")
    _log_authorization(request)
    gaps: list[str] = []
    read: ReadDrafts | None = None
    extra: tuple[dict[str, Any], ...] = ()
    memo = ParseMemo()  # this call's only: each draft and Medication is read once, for all the records built
    if service.hook in ORDER_HOOKS and service.relevant is not None:
        read, extra, draft_gaps, per_draft = await _read_order_drafts(service, request, settings, transport, memo)
        draft_record = mark_unreadable(
            build_record(read.medications, draft_orders=read.drafts, memo=memo), read.unreadable
        )
        relevant = [m for m in draft_record.medications if m.is_draft_order and service.relevant(m)]
        not_checked = [u.sentence(f"by {service.title.lower()}") for u in read.unidentified]
        if not relevant:
            # Only the drugs this service is for are checked, and only identified ones: a draft of another drug
            # gets nothing (and no data access); one whose drug cannot be told is named, and nothing is run on it.
            if not_checked or draft_gaps:
                return [data_card([*not_checked, *draft_gaps], (), service.source_label)]
            return []
        gaps.extend(draft_gaps)
        gaps.extend(per_draft[m.reference] for m in relevant if m.reference in per_draft)
        gaps.extend(not_checked)

    data = await gather(
        request,
        service.queries,
        budget_s=settings.fetch_budget_s(),
        allowed_servers=settings.fhir_server_allowlist,
        transport=transport,
    )
    if data.nothing_available:
        raise PreconditionFailed("; ".join(u.sentence for u in data.unavailable))
    # Validation and rules run inline: they are pure-Python CPU work of a few milliseconds, so a worker thread
    # would still hold the GIL against the event loop, and the hand-off measured ~4 ms per call (bench_cds.py).
    view: PresentedView | None = None
    if presented is not None and service.remembers_selection:
        view = await presented.view(request, caller)  # read once: the handler is synchronous
    record, result = _decide(
        service, request, data, read, extra, settings, defaults, on or datetime.now(UTC), view, memo
    )
    if presented is not None and view is not None:
        await presented.save(view)
    gaps[:0] = [u.sentence for u in data.unavailable]
    gaps.extend(identity.notes(data.foreign_resources, data.unattributed_resources))
    gaps.extend(record.truncated)
    gaps.extend(
        f"{p.reference} could not be read ({p.message}) and was left out."
        for p in record.problems
        if not any(p.reference in g for g in gaps)
    )
    cards = sort_cards(list(result.cards))
    if gaps or result.unchecked:
        cards.append(data_card(gaps, result.unchecked, service.source_label))
    log.info("hook %s: service %s returned %d card(s)", request.hook_instance, service.id, len(cards))
    return cards
