"""The SMART app's routes (mounted at /smart by the main server).

/launch     EHR launch (`iss` + `launch`) or standalone launch (`iss` only, asks for `launch/patient`)
/callback   the authorization server's redirect: state check, code exchange, session
/           overview: a summary strip, then MME (over time, each opioid's share), findings with their evidence and
            sources, ketamine treatments and pain scores, baseline ECG/LFT, the checklist of every rule
/protocols  protocol builder: GET choose and preview (and, with `receipt`, what a write put in the EHR); POST
            write the protocol's draft orders once per form (CSRF-protected, one-time form token, redirect after)
/follow-up  follow-up questionnaire: GET the form and the response review, POST write the QuestionnaireResponse
            once per form (CSRF-protected, one-time form token, redirect after; shown as JSON to copy without
            patient/QuestionnaireResponse.c)
/error      the error pages by name
/.well-known/jwks.json  the public signing key, for registering a confidential-asymmetric client with the EHR

Embedding: the session cookie is SameSite=None; Secure; Partitioned over https (settings.same_site), so the app
works in a cross-site EHR frame; CSP frame-ancestors limits who may frame it (settings.frame_ancestors). CSRF does
not rely on SameSite: every POST must carry its form's token and, when the browser says where it came from
(Sec-Fetch-Site, else Origin), come from the app's own origin.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from smart_app.config import LocalDefaults, local_defaults
from smart_app.fhir.client import FhirClient, FhirWriteError
from smart_app.smart import follow_up, views
from smart_app.smart import overview as overview_page
from smart_app.smart.cookies import session_cookie
from smart_app.smart.discovery import DiscoveryError, fetch_smart_configuration
from smart_app.smart.errors import ERRORS
from smart_app.smart.oauth import OAuthFlowError, active_tokens, begin_authorization, exchange_code
from smart_app.smart.patient_data import EhrSessionEndedError, PatientData, PatientDataError, load_patient_data
from smart_app.smart.sessions import COOKIE_NAME, Session, SessionStore
from smart_app.smart.settings import SmartSettings
from smart_app.smart.writeback import (
    check_override_reason,
    fhir_user,
    issue_form_token,
    read_form_token,
    session_key,
    write_order_set,
)
from smart_app.storage.protocol_writes import WRITING, ProtocolWriteStore, WriteClaim, WriteRecord
from smart_app.storage.shared import SharedState, SharedStateError

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent
WRITE_WAIT_S = 20.0  # a second submission of a form being written waits this long for the first to finish
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",  # pages hold patient data
    "Pragma": "no-cache",
    # The callback URL carries the authorization code: no Referer ever leaves for another origin. (Not
    # "no-referrer": under it browsers send `Origin: null` on the app's own form posts, which the CSRF check needs.)
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_CSP = "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"
_DESCRIPTION_MAX = 300  # characters of the EHR's error_description shown
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    settings: SmartSettings,
    *,
    defaults: LocalDefaults | None = None,
    state: SharedState | None = None,
    protocol_writes: ProtocolWriteStore | None = None,
    database_url: str | None = None,
) -> FastAPI:
    """The app; `state` is the deployment's shared store (Redis) when it has several workers, else memory.
    `protocol_writes` is the audit store of protocol writes (default: opened on `database_url` at the first write,
    the feedback database: `DATABASE_URL`, else the SQLite default)."""
    app = FastAPI(title="Ketamine and opioid safety: SMART app", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["inline_markdown"] = views.inline_markdown
    store = SessionStore(settings.effective_session_secret, settings.session_ttl_seconds, state)
    transport = _SharedTransport()
    app.state.sessions = store
    writes_holder: dict[str, ProtocolWriteStore | None] = {"store": protocol_writes}

    async def writes() -> ProtocolWriteStore:
        opened = writes_holder["store"]
        if opened is None:
            opened = await run_in_threadpool(ProtocolWriteStore, database_url)
            writes_holder["store"] = opened
        return opened

    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")
    csp = _CSP + (f"; frame-ancestors 'self' {' '.join(settings.frame_ancestors)}" if settings.frame_ancestors else "")
    security_headers = {**_SECURITY_HEADERS, "Content-Security-Policy": csp}
    app_origin = settings.app_origin
    if settings.dev_mode and not settings.allowed_issuers:
        log.warning("SMART app: dev mode with an empty issuer allowlist; launches from ANY issuer are accepted")

    def render(request: Request, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(security_headers)
        return response

    def error_page(request: Request, kind: str, reason: str | None = None) -> HTMLResponse:
        error = ERRORS[kind]
        return render(request, "error.html", {"error": error, "kind": kind, "reason": reason}, error.status)

    def set_cookie(request: Request, response: Response, session: Session) -> None:
        # Scoped to the app's mount path (/smart/), so other services on the host never receive it.
        header = session_cookie(
            COOKIE_NAME,
            store.cookie_value(session),
            max_age=settings.session_ttl_seconds,
            path=urlsplit(str(request.url_for("overview"))).path,
            secure=settings.cookie_secure,
            same_site=settings.same_site,
            partitioned=settings.cookie_partitioned,
        )
        response.headers.append("set-cookie", header)

    @app.middleware("http")
    async def same_origin_writes(request: Request, call_next: Any) -> Response:
        """CSRF defence that does not rely on SameSite (the cookie is SameSite=None when embedded): a request that
        changes state must not come from another origin. The per-session form token is checked by the route."""
        if request.method not in _SAFE_METHODS:
            # Sec-Fetch-Site (set by the browser, never by a page) when sent; else Origin, where "null" (an opaque
            # or hidden origin) is not the app's own.
            site = request.headers.get("sec-fetch-site")
            origin = request.headers.get("origin")
            foreign = site not in ("same-origin", "none") if site else origin is not None and origin != app_origin
            if foreign:
                log.warning("SMART app: %s refused, it came from another origin or site", request.method)
                return error_page(request, "csrf")
        response: Response = await call_next(request)
        return response

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
            except EhrSessionEndedError as exc:
                await store.delete(session)
                raise _Failure("ehr-session-ended") from exc
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
        response.headers.update(security_headers)
        set_cookie(request, response, session)
        return response

    @app.get("/callback", name="callback")
    async def callback(
        request: Request,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
        error_description: str | None = None,
    ) -> Response:
        session = await current(request)
        if session is None:
            return error_page(request, "session-expired")
        pending = await store.take_pending(session, state, time.time()) if state else None
        if pending is None:
            log.warning("SMART callback rejected: unknown, reused or expired state")
            return error_page(request, "bad-state")
        if error:
            # The EHR's own words, as text (the page escapes them), short and on one line.
            said = _CONTROL.sub(" ", f"{error}: {error_description}" if error_description else error).strip()
            said = said if len(said) <= _DESCRIPTION_MAX else said[: _DESCRIPTION_MAX - 1] + "…"
            kind = "access-denied" if error == "access_denied" else "authorization-error"
            return error_page(request, kind, f"the EHR said: {said}")
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
        response.headers.update(security_headers)
        set_cookie(request, response, fresh)
        return response

    @app.get("/", name="overview")
    async def overview(request: Request) -> Response:
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        assert session.tokens is not None
        page = overview_page.overview_page(data, session.tokens, defaults or local_defaults())
        return render(request, "overview.html", {"page": page, "context": session.tokens.context})

    def protocol_form(session: Session, page: views.ProtocolPage) -> str | None:
        """A fresh one-time token when the page offers the write form."""
        if page.selected is None or page.draft_order is None or not page.can_write:
            return None
        assert session.tokens is not None and session.tokens.context.patient is not None
        return issue_form_token(
            settings.effective_session_secret,
            session_id=session.id,
            patient=session.tokens.context.patient,
            protocol_id=page.selected.protocol.id,
        )

    def receipt_url(request: Request, record: WriteRecord) -> str:
        return str(
            request.url_for("protocols").include_query_params(protocol=record.protocol_id, receipt=record.receipt)
        )

    @app.get("/protocols", name="protocols")
    async def protocols(request: Request, protocol: str | None = None, receipt: str | None = None) -> Response:
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        assert session.tokens is not None
        try:
            page = views.protocol_page(data, session.tokens, defaults or local_defaults(), protocol)
        except views.UnknownProtocolError:
            return error_page(request, "unknown-protocol")
        confirmation = already = None
        if receipt or (page.selected is not None and page.draft_order is not None and page.can_write):
            store_ = await writes()
            key, patient = session_key(session.id), f"Patient/{session.tokens.context.patient}"
            record = await run_in_threadpool(store_.by_receipt, receipt, key) if receipt else None
            confirmation = views.confirmation_of(record) if record is not None else None
            if page.selected is not None and confirmation is None:
                last = await run_in_threadpool(store_.last_written, key, patient, page.selected.protocol.id)
                already = views.confirmation_of(last) if last is not None else None
        page = views.with_form(page, protocol_form(session, page), confirmation=confirmation, already_written=already)
        context = {"page": page, "context": session.tokens.context, "csrf_token": session.csrf_token}
        return render(request, "protocols.html", context)

    async def settled(store_: ProtocolWriteStore, nonce: str) -> WriteRecord | None:
        """The record of a form another submission is writing, once it has finished (or after WRITE_WAIT_S)."""
        deadline = time.monotonic() + WRITE_WAIT_S
        record = await run_in_threadpool(store_.by_nonce, nonce)
        while record is not None and record.state == WRITING and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            record = await run_in_threadpool(store_.by_nonce, nonce)
        return record

    def see_receipt(request: Request, record: WriteRecord) -> Response:
        response = RedirectResponse(receipt_url(request, record), status_code=303)
        response.headers.update(_SECURITY_HEADERS)
        return response

    @app.post("/protocols", name="write_order")
    async def write_order(
        request: Request,
        protocol: str = Form(...),
        csrf_token: str = Form(""),
        form_token: str = Form(""),
        override: str = Form(""),
        override_reason: str = Form(""),
    ) -> Response:
        session = await current(request)
        if session is not None and not secrets.compare_digest(csrf_token, session.csrf_token):
            return error_page(request, "csrf")
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        tokens, config = session.tokens, session.config
        assert tokens is not None and config is not None and tokens.context.patient is not None
        if not tokens.scope.can_write_medication_request:
            return error_page(request, "write-not-allowed")
        patient = tokens.context.patient
        form = read_form_token(
            settings.effective_session_secret,
            form_token,
            max_age_s=settings.session_ttl_seconds,
            session_id=session.id,
            patient=patient,
            protocol_id=protocol,
        )
        if form is None:
            return error_page(request, "form-expired")
        store_ = await writes()
        earlier = await settled(store_, form.nonce)
        if earlier is not None:  # this form was submitted before: show what that submission wrote
            return see_receipt(request, earlier)
        requester = fhir_user(tokens.id_token)
        reason = " ".join(override_reason.split())
        try:
            page = views.protocol_page(data, tokens, defaults or local_defaults(), protocol, requester=requester)
        except views.UnknownProtocolError:
            return error_page(request, "unknown-protocol")
        if page.draft_order is None or page.order_set is None:
            return render(request, "protocols.html", {"page": page, "context": tokens.context, "csrf_token": ""})
        if page.needs_override:
            problem = views.OVERRIDE_REQUIRED if override != "yes" else check_override_reason(reason)
            if problem is not None:  # the form is not spent: fix it and submit again
                page = views.with_form(views.with_problem(page, problem, override_reason=override_reason), form_token)
                context = {"page": page, "context": tokens.context, "csrf_token": session.csrf_token}
                return render(request, "protocols.html", context, 400)
            page = views.protocol_page(  # the reason goes on every resource written
                data, tokens, defaults or local_defaults(), protocol, override_reason=reason, requester=requester
            )
        else:
            reason = ""  # a reason is recorded only for an override
        order_set = page.order_set
        assert order_set is not None
        claim = WriteClaim(
            form_nonce=form.nonce,
            receipt=secrets.token_urlsafe(16),
            session_key=form.session_key,
            patient=f"Patient/{patient}",
            protocol_id=protocol,
            protocol_status=order_set.status,
            status_reasons=order_set.reasons,
            override_reason=reason or None,
            requester=requester,
        )
        first = await run_in_threadpool(store_.claim, claim)
        if first is not None:  # a concurrent submission of the same form claimed it a moment earlier
            return see_receipt(request, await settled(store_, form.nonce) or first)
        async with FhirClient(config.issuer, access_token=tokens.access_token, transport=transport) as fhir:
            outcome = await write_order_set(fhir, order_set.resources, tokens.scope)
        record = await run_in_threadpool(
            store_.finish,
            form.nonce,
            written=outcome.written,
            not_written=outcome.not_written,
            problem=outcome.problem,
        )
        if outcome.unauthorized:  # the EHR revoked or expired the token early
            await store.delete(session)
            written = "; ".join(w.reference for w in outcome.written) or "nothing"
            return error_page(
                request, "ehr-session-ended", f"The draft orders were not all written (written: {written})."
            )
        if not outcome.written:
            return error_page(request, "fhir-error", f"The draft orders were not written: {outcome.problem}.")
        return see_receipt(request, record)

    # Follow-up forms already written, by form nonce (this worker): a second submission of the same form shows the
    # first one's result instead of writing again. The response also carries the nonce as its identifier.
    follow_ups_written: OrderedDict[str, str] = OrderedDict()
    written_max = 10_000

    def follow_up_form_token(session: Session, page: follow_up.FollowUpPage) -> str | None:
        if not page.can_write:
            return None
        assert session.tokens is not None and session.tokens.context.patient is not None
        return issue_form_token(
            settings.effective_session_secret,
            session_id=session.id,
            patient=session.tokens.context.patient,
            protocol_id=follow_up.FORM,
        )

    @app.get("/follow-up", name="follow_up")
    async def follow_up_form(request: Request, written: str | None = None) -> Response:
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        assert session.tokens is not None
        page = follow_up.follow_up_page(data, session.tokens, defaults or local_defaults())
        page = follow_up.with_form(page, follow_up_form_token(session, page), written=written)
        context = {"page": page, "context": session.tokens.context, "csrf_token": session.csrf_token}
        return render(request, "follow_up.html", context)

    def see_follow_up(request: Request, reference: str) -> Response:
        url = str(request.url_for("follow_up").include_query_params(written=reference))
        response = RedirectResponse(url, status_code=303)
        response.headers.update(_SECURITY_HEADERS)
        return response

    @app.post("/follow-up", name="write_follow_up")
    async def write_follow_up(request: Request) -> Response:
        form = await request.form()
        answers = {key: value for key, value in form.items() if isinstance(value, str)}
        session = await current(request)
        if session is not None and not secrets.compare_digest(answers.get("csrf_token", ""), session.csrf_token):
            return error_page(request, "csrf")
        try:
            session, data = await authorized(request)
        except _Failure as exc:
            return error_page(request, exc.kind, exc.reason)
        tokens, config = session.tokens, session.config
        assert tokens is not None and config is not None and tokens.context.patient is not None
        page = follow_up.follow_up_page(data, tokens, defaults or local_defaults())
        nonce = None
        if page.can_write:
            token = answers.get("form_token", "")
            issued = read_form_token(
                settings.effective_session_secret,
                token,
                max_age_s=settings.session_ttl_seconds,
                session_id=session.id,
                patient=tokens.context.patient,
                protocol_id=follow_up.FORM,
            )
            if issued is None:
                return error_page(request, "form-expired")
            nonce = issued.nonce
            if nonce in follow_ups_written:  # submitted before: show what that submission wrote
                return see_follow_up(request, follow_ups_written[nonce])
            page = follow_up.with_form(page, token)
        page, resource = follow_up.submitted(page, answers, tokens, author=fhir_user(tokens.id_token), nonce=nonce)
        context = {"page": page, "context": tokens.context, "csrf_token": session.csrf_token}
        if resource is None or nonce is None:  # an answer to correct, or no write scope (the JSON is shown to copy)
            return render(request, "follow_up.html", context, 400 if page.problems else 200)
        async with FhirClient(config.issuer, access_token=tokens.access_token, transport=transport) as fhir:
            try:
                created = await fhir.create(resource)
            except FhirWriteError as exc:
                if exc.status == 401:  # the EHR revoked or expired the token early
                    await store.delete(session)
                    return error_page(request, "session-expired", "The follow-up was not written.")
                return error_page(request, "fhir-error", f"The follow-up was not written: {exc}.")
        reference = f"QuestionnaireResponse/{created.get('id', '')}"
        follow_ups_written[nonce] = reference
        while len(follow_ups_written) > written_max:
            follow_ups_written.popitem(last=False)
        return see_follow_up(request, reference)

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
