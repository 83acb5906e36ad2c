"""The SMART app's routes (mounted at /smart by the main server).

/launch     EHR launch (`iss` + `launch`) or standalone launch (`iss` only, asks for `launch/patient`)
/callback   the authorization server's redirect: state check, code exchange, session
/           overview: MME, ketamine findings with their evidence and sources, baseline ECG/LFT, what is missing
/protocols  protocol builder: GET choose and preview, POST write the draft ketamine order (CSRF-protected)
/error      the error pages by name
/.well-known/jwks.json  the public signing key, for registering a confidential-asymmetric client with the EHR
"""

from __future__ import annotations

import logging
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from smart_app.config import LocalDefaults, local_defaults
from smart_app.fhir.client import FhirClient, FhirWriteError
from smart_app.smart import views
from smart_app.smart.discovery import DiscoveryError, fetch_smart_configuration
from smart_app.smart.errors import ERRORS
from smart_app.smart.oauth import OAuthFlowError, active_tokens, begin_authorization, exchange_code
from smart_app.smart.patient_data import PatientData, PatientDataError, load_patient_data
from smart_app.smart.sessions import COOKIE_NAME, Session, SessionStore
from smart_app.smart.settings import SmartSettings
from smart_app.storage.shared import SharedState, SharedStateError

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # pages hold patient data
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",  # the callback URL carries the authorization code
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'",
}


class _SharedTransport(httpx.AsyncBaseTransport):
    """One connection pool for all calls to EHRs: an httpx client with its own transport loads the CA bundle
    (measured ~160 ms here) and loses keep-alive. Clients built on this one cannot close it; it lives with the app."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        pass  # shared: outlives each per-request client


class _Failure(Exception):
    def __init__(self, kind: str, reason: str | None = None) -> None:
        super().__init__(kind)
        self.kind = kind
        self.reason = reason


def create_smart_app(
    settings: SmartSettings, *, defaults: LocalDefaults | None = None, state: SharedState | None = None
) -> FastAPI:
    """The app; `state` is the deployment's shared store (Redis) when it has several workers, else memory."""
    app = FastAPI(title="Ketamine and opioid safety: SMART app", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["inline_markdown"] = views.inline_markdown
    store = SessionStore(settings.effective_session_secret, settings.session_ttl_seconds, state)
    transport = _SharedTransport()
    app.state.sessions = store
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    if settings.dev_mode and not settings.allowed_issuers:
        log.warning("SMART app: dev mode with an empty issuer allowlist; launches from ANY issuer are accepted")

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(_SECURITY_HEADERS)
        return response

    def error_page(request: Request, kind: str, reason: str | None = None) -> HTMLResponse:
        error = ERRORS[kind]
        return render(request, "error.html", {"error": error, "kind": kind, "reason": reason}, error.status)

    def set_cookie(request: Request, response: Response, session: Session) -> None:
        # Scoped to the app's mount path (/smart/), so other services on the host never receive it.
        response.set_cookie(
            COOKIE_NAME,
            store.cookie_value(session),
            max_age=settings.session_ttl_seconds,
            httponly=True,
            samesite="lax",
            secure=settings.cookie_secure,
            path=urlsplit(str(request.url_for("overview"))).path,
        )

    async def current(request: Request) -> Session | None:
        return await store.get(request.cookies.get(COOKIE_NAME))

    async def authorized(request: Request) -> tuple[Session, PatientData]:
        session = await current(request)
        if session is None or session.tokens is None or session.config is None:
            raise _Failure("session-expired")
        try:
            refreshed = await active_tokens(settings, session.config, session.tokens, transport=transport)
        except OAuthFlowError as exc:
            await store.delete(session)
            raise _Failure(exc.kind, exc.message) from exc
        if refreshed is not session.tokens:
            session.tokens = refreshed
            await store.save(session)
        patient_id = session.tokens.context.patient
        assert patient_id is not None  # exchange_code refuses tokens without a patient
        tokens = session.tokens
        async with FhirClient(session.config.issuer, access_token=tokens.access_token, transport=transport) as fhir:
            try:
                data = await load_patient_data(fhir, patient_id, session.tokens.scope, budget_s=settings.fhir_budget_s)
            except PatientDataError as exc:
                raise _Failure("fhir-error", str(exc)) from exc
        return session, data

    @app.get("/launch", name="launch")
    async def launch(request: Request, iss: str | None = None, launch: str | None = None) -> Response:
        if not iss:
            return error_page(request, "missing-iss")
        if not settings.issuer_allowed(iss):
            log.warning("SMART launch refused: issuer not on the allowlist (%.100r)", iss)
            return error_page(request, "issuer-not-allowed")
        try:
            config = await fetch_smart_configuration(
                iss.rstrip("/"), settings.client_type, timeout_s=settings.http_timeout_s, transport=transport
            )
        except DiscoveryError as exc:
            log.warning("SMART launch refused: %s", exc)
            return error_page(request, "discovery-failed", str(exc))
        url, pending = begin_authorization(settings, config, launch=launch or None)
        session = await current(request) or await store.create()
        await store.add_pending(session, pending)
        response = RedirectResponse(url, status_code=302)
        response.headers.update(_SECURITY_HEADERS)
        set_cookie(request, response, session)
        return response

    @app.get("/callback", name="callback")
    async def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> Response:
        session = await current(request)
        if session is None:
            return error_page(request, "session-expired")
        pending = await store.take_pending(session, state, time.time()) if state else None
        if pending is None:
            log.warning("SMART callback rejected: unknown, reused or expired state")
            return error_page(request, "bad-state")
        if error:
            return error_page(request, "access-denied" if error == "access_denied" else "authorization-error")
        if not code:
            return error_page(request, "authorization-error", "the EHR sent no authorization code")
        try:
            tokens = await exchange_code(settings, pending, code, transport=transport)
        except OAuthFlowError as exc:
            log.warning("SMART sign-in failed: %s", exc.message)
            return error_page(request, exc.kind, exc.message)
        # A fresh session id at sign-in, so an id planted before it (session fixation) is worthless.
        await store.delete(session)
        fresh = await store.create(tokens=tokens, config=pending.config)
        response = RedirectResponse(str(request.url_for("overview")), status_code=303)
        response.headers.update(_SECURITY_HEADERS)
        set_cookie(request, response, fresh)
        return response

    @app.get("/", name="overview")
    async def overview(request: Request) -> Response:
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        assert session.tokens is not None
        page = views.overview_page(data, session.tokens, defaults or local_defaults())
        return render(request, "overview.html", {"page": page, "context": session.tokens.context})

    @app.get("/protocols", name="protocols")
    async def protocols(request: Request, protocol: str | None = None) -> Response:
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        assert session.tokens is not None
        try:
            page = views.protocol_page(data, session.tokens, defaults or local_defaults(), protocol)
        except views.UnknownProtocolError:
            return error_page(request, "unknown-protocol")
        context = {"page": page, "context": session.tokens.context, "csrf_token": session.csrf_token}
        return render(request, "protocols.html", context)

    @app.post("/protocols", name="write_order")
    async def write_order(
        request: Request, protocol: str = Form(...), csrf_token: str = Form(""), override: str = Form("")
    ) -> Response:
        session = await current(request)
        if session is not None and not secrets.compare_digest(csrf_token, session.csrf_token):
            return error_page(request, "csrf")
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        tokens, config = session.tokens, session.config
        assert tokens is not None and config is not None
        if not tokens.scope.can_write_medication_request:
            return error_page(request, "write-not-allowed")
        try:
            page = views.protocol_page(data, tokens, defaults or local_defaults(), protocol)
        except views.UnknownProtocolError:
            return error_page(request, "unknown-protocol")
        order = page.draft_order
        if order is None:
            return render(request, "protocols.html", {"page": page, "context": tokens.context, "csrf_token": ""})
        if page.needs_override and override != "yes":
            page = views.with_problem(page, views.OVERRIDE_REQUIRED)
            context = {"page": page, "context": tokens.context, "csrf_token": session.csrf_token}
            return render(request, "protocols.html", context, 400)
        async with FhirClient(config.issuer, access_token=tokens.access_token, transport=transport) as fhir:
            try:
                created = await fhir.create(order)
            except FhirWriteError as exc:
                if exc.status == 401:  # the EHR revoked or expired the token early
                    await store.delete(session)
                    return error_page(request, "session-expired", "The draft order was not written.")
                return error_page(request, "fhir-error", f"The draft order was not written: {exc}.")
        page = views.with_created(page, created)
        return render(request, "protocols.html", {"page": page, "context": tokens.context, "csrf_token": ""})

    @app.get("/.well-known/jwks.json", name="jwks")
    async def jwks() -> Response:
        keys = settings.public_jwks()
        if keys is None:
            return JSONResponse({"error": "this app does not use private_key_jwt"}, status_code=404)
        return JSONResponse(keys, headers={"Cache-Control": "max-age=3600"})

    @app.exception_handler(SharedStateError)
    async def state_unavailable(request: Request, exc: SharedStateError) -> Response:
        log.error("SMART app: session store unavailable: %s", exc)
        return error_page(request, "state-unavailable")

    @app.get("/error", name="error")
    async def error(request: Request, kind: str = "") -> Response:
        return error_page(request, kind if kind in ERRORS else "session-expired")

    return app
