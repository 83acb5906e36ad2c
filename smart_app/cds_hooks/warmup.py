"""Warm-up at start and garbage-collector settings, so that the first call is as fast as the rest and no call
pays for a full collection of the whole heap.

The first hook call used to cost about 100 ms more than the next: it imported the R4B model classes, read the
mappings, compiled patterns and built the card models' validators. `warm_up` answers one call of every service
with a bundled sample patient (prefetch complete, so no network), then collects and freezes the heap: what
exists after start (modules, models, mappings, caches' skeletons) moves to the permanent generation that
collections never traverse. Every bundled sample patient is used, so that the test and protocol cards and the
R4B models of generated orders are warm too. Full collections of that heap took 70-320 ms and were the p99
spikes; with it frozen and a higher first-generation threshold, collections look only at what a call allocates.

`warm_routes` then sends each HTTP route one request through the app itself (in-process ASGI, no socket): an
empty body, refused with a 400 (or a 401 with authentication on) before any patient data, card or stored row.
FastAPI reads an endpoint's source lines on its first request (for error messages), which cost the first real
call a few milliseconds more.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import orjson

from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.models import cards_json
from smart_app.cds_hooks.registry import ORDER_HOOKS, Registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.fhir import lean

log = logging.getLogger(__name__)

ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

# A call allocates tens of thousands of container objects (the request's JSON, the record): the default
# first-generation threshold of 700 ran dozens of collections per call.
GC_THRESHOLDS = (50_000, 20, 100)
_SAMPLE_DRAFTS = ("orders/ketamine-infusion-outpatient.json", "orders/oxycodone-5mg-q6h.json")
# R4B models validated on the hot path: generated orders, and resources the lean parse leaves to R4B. Importing
# one costs tens of milliseconds the first time.
_MODELS = (
    "ServiceRequest",
    "MedicationRequest",
    "Observation",
    "Condition",
    "Consent",
    "Medication",
    "Patient",
    "Task",
)


def _sample(name: str) -> Any:
    from importlib.resources import files

    return orjson.loads(files("smart_app.samples").joinpath(name).read_bytes())


def _requests(registry: Registry) -> list[tuple[Any, HookRequest]]:
    """One call of every service for every bundled sample patient (they reach the test and protocol cards too)."""
    from importlib.resources import files

    from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
    from smart_app.fhir.bundle import iter_resources

    drafts = [_sample(name) for name in _SAMPLE_DRAFTS]
    calls = []
    for path in sorted(files("smart_app.samples").joinpath("patients").iterdir(), key=lambda p: p.name):
        resources = list(iter_resources(orjson.loads(path.read_bytes())))
        patient = next(str(r["id"]) for r in resources if r["resourceType"] == "Patient")
        for service in registry:
            body = hook_request(
                service.hook,
                patient_id=patient,
                drafts=drafts if service.hook in ORDER_HOOKS else (),
                prefetch=prefetch_for(resources, service.queries),
            )
            calls.append((service, HookRequest.model_validate(body)))
    return calls


async def warm_up(registry: Registry, settings: ServiceSettings, defaults: LocalDefaults) -> None:
    """Answer one sample call of every service (results discarded), then tune and freeze the collector."""
    from fhir.resources.R4B import get_fhir_model_class

    from smart_app.cds_hooks.pipeline import run_service

    started = time.perf_counter()
    lean.warm()
    for name in _MODELS:
        get_fhir_model_class(name)
    try:
        for service, request in _requests(registry):
            cards_json(await run_service(service, request, settings, defaults, on=datetime.now(UTC)))
        _warm_order_templates(defaults)
    except Exception as exc:  # warm-up is an optimisation: never a reason not to start
        log.warning("warm-up call failed (%s); the first call will be slower", type(exc).__name__)
    tune_gc()
    log.info("warmed up in %.0f ms", (time.perf_counter() - started) * 1000)


def _warm_order_templates(defaults: LocalDefaults) -> None:
    """Build every protocol's order set as a hook call would (proposal, a requester, with and without a baseline
    MME, with no test planned by a rule and with every test planned once), so that each order template (built and
    validated in R4B the first time its shape is met, fhir/order_templates.py) exists before the first call: the sample
    patients alone do not reach every shape (e.g. a multi-day protocol's post-course LFTs with a rule's reason)."""
    from smart_app.core.outcomes import Citation, Outcome
    from smart_app.core.protocols.catalogue import list_protocols
    from smart_app.fhir.orders import TEST_PLANS, build_order_set

    # The baseline-test rules (no effect on which protocols fit) asking for every test once.
    planned = tuple(
        Outcome(
            rule_id=rule_id,
            status="fired",
            severity="info",
            summary="warm-up",
            detail="warm-up",
            citations=(Citation(document="asra-2018", section="warm-up"),),
            plans=plans,
        )
        for rule_id, plans in (("PRE-ECG", TEST_PLANS[:1]), ("PRE-LFT", TEST_PLANS[1:]))
    )
    on = datetime.now(UTC)
    for protocol in list_protocols():
        for outcomes in ((), planned):
            for baseline in (None, 30.0):
                build_order_set(
                    protocol.id,
                    weight_kg=70.0,
                    age=40,
                    outcomes=outcomes,
                    intent="proposal",
                    patient_reference="Patient/warm-up",
                    settings=defaults,
                    on=on,
                    requester="Practitioner/warm-up",
                    baseline_mme_per_day=baseline,
                )


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def warm_routes(app: ASGIApp, registry: Registry) -> None:
    """One empty-bodied request to every route (discovery, each service and its feedback), refused before any
    work; the app's own log lines for these refusals are held back, so the start-up log shows no made-up 400/401."""
    paths = [("GET", "/cds-services")]
    for service in registry:
        paths += [("POST", f"/cds-services/{service.id}"), ("POST", f"/cds-services/{service.id}/feedback")]
    with _quiet(logging.getLogger("smart_app.cds_hooks")):
        for method, path in paths:
            try:
                await _asgi_request(app, method, path)
            except Exception as exc:  # an optimisation, as warm_up
                log.warning("warm-up request to a route failed (%s)", type(exc).__name__)


def asgi_scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    """The ASGI scope of one local JSON request (the warm-up's, and the benchmark's in-process calls)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }


async def _asgi_request(app: ASGIApp, method: str, path: str) -> None:
    body = b"{}" if method == "POST" else b""
    scope = asgi_scope(method, path, body)
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(_: Any) -> None:
        return None

    await app(scope, receive, send)


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    def drop(_: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
