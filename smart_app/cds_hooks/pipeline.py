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
from smart_app.cds_hooks.data import GatheredData, gather
from smart_app.cds_hooks.models import Card
from smart_app.cds_hooks.presented import PresentedCards
from smart_app.cds_hooks.registry import ORDER_HOOKS, CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.core.model import PatientRecord
from smart_app.core.outcomes import SEVERITY_ORDER
from smart_app.fhir import identity
from smart_app.fhir.record import build_record

log = logging.getLogger(__name__)


class PreconditionFailed(Exception):
    """No patient data could be had from prefetch or from the FHIR server (CDS Hooks: 412)."""


class BadHookRequest(ValueError):
    """The request is well-formed JSON but not a usable call of this service (hook mismatch, no patientId)."""


def _decide(
    service: CdsService,
    request: HookRequest,
    data: GatheredData,
    chosen: Sequence[dict[str, Any]],
    settings: ServiceSettings,
    defaults: LocalDefaults,
    on: datetime,
    presented: PresentedCards | None,
) -> tuple[PatientRecord, ServiceResult]:
    # A draft the EHR already stored must count once, as the draft being signed.
    draft_keys = {_identity(d) for d in chosen}
    record = build_record(
        (r for r in data.resources if _identity(r) not in draft_keys),
        draft_orders=chosen,
        gaps=data.gaps,
    )
    relevant = service.relevant
    drafts = tuple(m for m in record.medications if m.is_draft_order and relevant is not None and relevant(m))
    return record, service.handler(ServiceCall(request, record, drafts, settings, defaults, on, presented))


def _identity(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def sort_cards(cards: list[Card]) -> list[Card]:
    return sorted(cards, key=lambda c: SEVERITY_ORDER[c.indicator])  # stable: services' own order kept within


async def run_service(
    service: CdsService,
    request: HookRequest,
    settings: ServiceSettings,
    defaults: LocalDefaults,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    on: datetime | None = None,
    presented: PresentedCards | None = None,
) -> list[Card]:
    if request.hook != service.hook:
        raise BadHookRequest(f"service {service.id} answers the {service.hook} hook, not {request.hook}")
    if request.patient_id is None:
        raise BadHookRequest("context.patientId is required")
    gaps: list[str] = []
    chosen: tuple[dict[str, Any], ...] = ()
    if service.hook in ORDER_HOOKS and service.relevant is not None:
        orders = read_draft_orders(request)
        chosen = orders.chosen(selected_only=service.selected_only)
        draft_record = build_record((), draft_orders=chosen)
        chosen = (*chosen, *orders.service_requests)  # tests drafted alongside may satisfy a baseline-test rule
        relevant = [m for m in draft_record.medications if service.relevant(m)]
        if not relevant and not draft_record.problems and not orders.problems:
            return []  # a draft of another drug: nothing to say, and no data access needed
        gaps.extend(orders.problems)
        gaps.extend(
            f"Draft order {p.reference} could not be read ({p.message}), so it was not checked."
            for p in draft_record.problems
        )

    data = await gather(
        request,
        service.queries,
        budget_s=settings.fhir_budget_s,
        allowed_servers=settings.fhir_server_allowlist,
        transport=transport,
    )
    if data.nothing_available:
        raise PreconditionFailed("; ".join(u.sentence for u in data.unavailable))
    # Validation and rules run inline: they are pure-Python CPU work of a few milliseconds, so a worker thread
    # would still hold the GIL against the event loop, and the hand-off measured ~4 ms per call (bench_cds.py).
    record, result = _decide(service, request, data, chosen, settings, defaults, on or datetime.now(UTC), presented)
    gaps[:0] = [u.sentence for u in data.unavailable]
    gaps.extend(identity.notes(data.foreign_resources, data.unattributed_resources))
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
