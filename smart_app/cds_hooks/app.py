"""The CDS Hooks 2.0 HTTP service (FastAPI): discovery, service calls, feedback.

Errors are answered as the spec and FHIR expect: 401 with no detail when the client JWT does not verify, 400/404/
413 with an OperationOutcome, 412 (OperationOutcome) only when no patient data could be had at all, and a bare
500 OperationOutcome (no internals) for a bug. Logs name the hookInstance, the service and timings; never tokens,
JWTs or patient identifiers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from smart_app.cds_hooks.auth import AuthConfig, AuthError, JwtVerifier
from smart_app.cds_hooks.cards import DATA_TOPIC
from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.models import cards_json
from smart_app.cds_hooks.pipeline import BadHookRequest, PreconditionFailed, run_service
from smart_app.cds_hooks.presented import PresentedCards
from smart_app.cds_hooks.registry import Registry
from smart_app.cds_hooks.retries import RetryMemo
from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.cds_hooks.warmup import warm_routes, warm_up
from smart_app.config import LocalDefaults, local_defaults
from smart_app.storage import FeedbackRequest, FeedbackStore
from smart_app.storage.shared import SharedState
from smart_app.storage.writer import CardIssuedWriter

log = logging.getLogger("smart_app.cds_hooks")


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def operation_outcome(status: int, code: str, text: str) -> JsonResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }
    return JsonResponse(body, status_code=status)


class _TooLarge(Exception):
    pass


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing more than `limit` bytes without reading it all (chunked bodies too)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    settings: ServiceSettings | None = None,
    *,
    registry: Registry | None = None,
    verifier: JwtVerifier | None = None,
    store: FeedbackStore | None = None,
    defaults: LocalDefaults | None = None,
    fhir_transport: httpx.AsyncBaseTransport | None = None,
    shared_state: SharedState | None = None,
    warm: bool = False,
) -> FastAPI:
    """The service. Injected parts (verifier, store, FHIR transport) are for tests and the in-process demo;
    `shared_state` is the deployment's shared store (Redis) for the jti replay cache, closed with the app; `warm`
    (the deployed server's choice): answer sample calls at start and freeze the heap (`warmup.py`)."""
    settings = settings or ServiceSettings()
    registry = registry or default_registry()
    state: dict[str, Any] = {"verifier": verifier, "store": store, "writer": None}
    # Cards shown at order-select, not repeated at order-sign: in the shared state, so any worker answers either.
    presented = PresentedCards(shared_state)
    retries = RetryMemo(settings.retry_window_s)  # a retried call gets the first call's answer

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if shared_state is not None:
            await shared_state.check()  # at start-up, so an unreachable Redis stops the worker rather than a call
        if settings.auth_enabled and state["verifier"] is None:
            state["verifier"] = JwtVerifier(AuthConfig.from_env(), replay_store=shared_state)
        if not settings.auth_enabled:
            log.warning("CDS client authentication is OFF (--no-auth): for local testing only")
        if not settings.fhir_server_allowlist:
            log.warning(
                "SMART_APP_FHIR_SERVER_ALLOWLIST is empty: FHIR data will be fetched from any fhirServer a client "
                "names; set it in production"
            )
        if state["store"] is None:  # at start-up, so a bad database URL stops the server rather than a call
            state["store"] = await run_in_threadpool(FeedbackStore, settings.database_url)
        card_writer()
        if warm:
            await warm_up(registry, settings, defaults or local_defaults())
            await warm_routes(app, registry)
            await run_in_threadpool(state["store"].warm)
        yield
        if state["writer"] is not None:  # write the queued card-issued rows before the process ends
            await run_in_threadpool(state["writer"].close)
            state["writer"] = None
        if verifier is None and state["verifier"] is not None:
            await state["verifier"].aclose()
        if shared_state is not None:
            await shared_state.aclose()

    app = FastAPI(title="smart_app CDS Hooks service", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type"],
        max_age=600,
    )

    def feedback_store() -> FeedbackStore:
        if state["store"] is None:
            state["store"] = FeedbackStore(settings.database_url)
        store_: FeedbackStore = state["store"]
        return store_

    def card_writer() -> CardIssuedWriter:
        if state["writer"] is None:
            state["writer"] = CardIssuedWriter(feedback_store())
        writer_: CardIssuedWriter = state["writer"]
        return writer_

    app.state.card_writer = card_writer  # for tests and diagnostics: stats(), flush()

    async def authenticated(request: Request) -> str | None:
        """Who is calling ("" with authentication off), or None when the call is refused."""
        if not settings.auth_enabled:
            return ""
        current: JwtVerifier | None = state["verifier"]
        if current is None:  # app used without its lifespan (e.g. a bare ASGI transport)
            current = state["verifier"] = JwtVerifier(AuthConfig.from_env(), replay_store=shared_state)
        base = (settings.public_base_url or str(request.base_url)).rstrip("/")
        try:
            client = await current.verify(request.headers.get("authorization"), audience=base + request.url.path)
        except AuthError as exc:
            log.info("401 on %s: %s", request.url.path, exc)
            return None
        except Exception as exc:  # fail closed: a verifier bug refuses the call, and the log has no token
            log.error("401 on %s: the verifier failed with %s", request.url.path, type(exc).__name__)
            return None
        return f"{client.iss}\x1f{client.tenant or ''}"

    def unauthorized() -> Response:
        return Response(status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    async def health() -> Response:
        """For load balancers and orchestrators (no authentication; no patient data or configuration in the
        answer), each check bounded. 503 "fail" when hook calls cannot be answered: the shared state (jti replay
        cache, SMART sessions) is unreachable. A failing feedback database is 200 "warn": cards are still answered
        (their card-issued rows wait in the writer's queue; feedback POSTs get a 503 to retry), and taking every
        replica out of rotation for it would stop the decision support itself."""
        checks = {
            "database": await _check(lambda: run_in_threadpool(feedback_store().ping)),
            "sharedState": "not configured" if shared_state is None else await _check(shared_state.check),
        }
        failing = [name for name, result in checks.items() if result.startswith("fail")]
        if failing:
            log.warning("health check: %s", ", ".join(f"{n} {checks[n]}" for n in failing))
        status = "fail" if "sharedState" in failing else "warn" if failing else "pass"
        return JsonResponse({"status": status, "checks": checks}, status_code=503 if status == "fail" else 200)

    @app.get("/cds-services")
    async def discovery(request: Request) -> Response:
        if await authenticated(request) is None:
            return unauthorized()
        return JsonResponse(registry.discovery(auth_enabled=settings.auth_enabled))

    @app.post("/cds-services/{service_id}")
    async def call_service(service_id: str, request: Request) -> Response:
        started = time.perf_counter()
        client = await authenticated(request)
        if client is None:
            return unauthorized()
        service = registry.get(service_id)
        if service is None:
            return operation_outcome(404, "not-found", f"no CDS service {service_id!r}")
        retry_key: bytes | None = None
        try:
            raw = await read_body(request, settings.max_request_bytes)
            if retries.enabled:
                retry_key = retries.key(service_id, client, raw)
                repeated = retries.answer(retry_key)
                if repeated is not None:  # already counted in the card-issued rows when first answered
                    log.info("hook call to %s repeated within %.0f s: answered as before", service_id, retries.window_s)
                    return Response(repeated, media_type="application/json")
            hook_request = HookRequest.model_validate(orjson.loads(raw))
        except _TooLarge:
            return operation_outcome(413, "too-costly", f"request body over {settings.max_request_bytes} bytes")
        except orjson.JSONDecodeError:
            return operation_outcome(400, "structure", "request body is not JSON")
        except ValidationError as exc:
            return operation_outcome(400, "structure", _validation_text(exc))
        try:
            cards = await run_service(
                service,
                hook_request,
                settings,
                defaults or local_defaults(),
                transport=fhir_transport,
                presented=presented,
                caller=client,
            )
        except BadHookRequest as exc:
            return operation_outcome(400, "invalid", str(exc))
        except PreconditionFailed as exc:
            log.info("hook %s: 412 for %s (no patient data)", hook_request.hook_instance, service_id)
            return operation_outcome(412, "not-found", f"No patient data could be obtained: {exc}")
        except Exception as exc:  # a bug: answer without internals, log the type only (messages may hold data)
            log.error("hook %s: %s failed with %s", hook_request.hook_instance, service_id, type(exc).__name__)
            return operation_outcome(500, "exception", "internal error")
        log.info(
            "hook %s: %s answered in %.1f ms",
            hook_request.hook_instance,
            service_id,
            (time.perf_counter() - started) * 1000,
        )
        answer = cards_json(cards)
        # Which rule each card came from, for feedback reports: queued to the one bounded writer (never blocks).
        topics = {c.uuid: (c.source.topic.code if c.source.topic else "unknown") for c in cards}
        card_writer().submit(service_id, hook_request.hook_instance, topics)
        if retry_key is not None and DATA_TOPIC not in topics.values():
            retries.keep(retry_key, answer)  # an answer that named missing data is computed again on a retry
        return Response(answer, media_type="application/json")

    @app.post("/cds-services/{service_id}/feedback")
    async def feedback(service_id: str, request: Request) -> Response:
        if await authenticated(request) is None:
            return unauthorized()
        if registry.get(service_id) is None:
            return operation_outcome(404, "not-found", f"no CDS service {service_id!r}")
        try:
            parsed = FeedbackRequest.model_validate_json(await read_body(request, settings.max_request_bytes))
        except _TooLarge:
            return operation_outcome(413, "too-costly", f"request body over {settings.max_request_bytes} bytes")
        except ValidationError as exc:
            return operation_outcome(400, "structure", _validation_text(exc))
        # Written and committed before the 200: feedback the client was told is accepted is never lost.
        try:
            stored = await run_in_threadpool(feedback_store().record, service_id, parsed.feedback)
        except Exception as exc:
            log.error("feedback for %s not stored: %s", service_id, type(exc).__name__)
            return operation_outcome(503, "transient", "feedback could not be stored; please retry")
        return JsonResponse({"stored": stored})

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.error("unhandled %s on %s", type(exc).__name__, request.url.path)
        return operation_outcome(500, "exception", "internal error")

    return app


HEALTH_CHECK_TIMEOUT_S = 3.0


async def _check(probe: Callable[[], Awaitable[Any]]) -> str:
    """ "pass", or "fail: <why>" in a few words (the error's type; never a URL, host or credential)."""
    try:
        await asyncio.wait_for(probe(), HEALTH_CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"fail: no answer within {HEALTH_CHECK_TIMEOUT_S:.0f} s"
    except Exception as exc:
        return f"fail: {type(exc).__name__}"
    return "pass"


def _validation_text(exc: ValidationError) -> str:
    first = exc.errors(include_input=False)[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid request at {where or 'body'}: {first.get('msg', 'invalid')}{more}"
