"""After warm-up, a hook call meets no order-template shape for the first time (the first call is not slowed by
building and R4B-validating templates): checked with the benchmark's rich record, whose multi-day protocols carry
post-course liver tests with a rule's reason as well as the course's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson

from benchmarks.workload import Bodies
from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.pipeline import run_service
from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.cds_hooks.warmup import warm_up
from smart_app.config import local_defaults
from smart_app.fhir import order_templates


def test_a_call_after_warm_up_builds_no_new_order_template() -> None:
    settings, defaults, registry = ServiceSettings(auth_enabled=False), local_defaults(), default_registry()
    order_templates.TEMPLATES.clear()
    asyncio.run(warm_up(registry, settings, defaults))
    warmed = set(order_templates.TEMPLATES._data)
    request = HookRequest.model_validate(orjson.loads(Bodies().first_sight()))
    service = next(s for s in registry if s.id == "ketamine-safety-order-sign")
    cards = asyncio.run(run_service(service, request, settings, defaults, on=datetime.now(UTC)))
    assert any(card.suggestions for card in cards)  # the call did build order sets
    assert set(order_templates.TEMPLATES._data) == warmed
