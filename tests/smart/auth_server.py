"""A test EHR for SMART App Launch: authorization server (authlib's Flask OAuth 2 server) plus a FHIR proxy.

The app discovers `{iss}/.well-known/smart-configuration`, so `iss` must be a URL this test EHR controls; it
serves that document at `{fhir_base}/.well-known/smart-configuration` and forwards every other `{fhir_base}/...`
call to the real FHIR server (sekmet-fhir) after checking the bearer token it issued. The authorize endpoint
auto-approves (the "user" is always the test clinician), requires PKCE S256 (plain is refused, as SMART requires),
checks `aud` and returns the launch context (`patient`, `need_patient_banner`, `appContext`) in the token response.

    with running_test_ehr(upstream_fhir_base, client_id="app", redirect_uri=...) as ehr:
        launch = ehr.register_launch("patient-1")
        # open f"{app}/smart/launch?iss={ehr.fhir_base}&launch={launch}"
"""

from __future__ import annotations

import html
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, InvalidClientError, grants
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.serving import make_server

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "host"}


@dataclass
class _Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    redirect_uri: str
    secret: str | None = None
    public_jwk: dict[str, Any] | None = None  # registered key of a confidential-asymmetric client

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope  # the test EHR grants everything asked for

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.public_jwk is not None:
            return method == "private_key_jwt"
        return method == ("client_secret_basic" if self.secret else "none")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    context: dict[str, Any]
    issued_at: float = field(default_factory=time.time)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() - self.issued_at > 60  # SMART: codes live about one minute


class _S256Only(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # noqa: RUF012 (authlib's class attribute)

    def get_authorization_code_challenge(self, authorization_code: _Code) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: _Code) -> str:
        return authorization_code.code_challenge_method


class _PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    """SMART asymmetric client authentication on authlib's RFC 7523 verifier, with SMART's extra demands:
    RS384/ES384 only, a `kid` naming the registered key, `typ` JWT, exp at most 5 minutes ahead, no jti replay."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, token_url: str) -> None:
        super().__init__(validate_jti=True, leeway=5)
        self.audience = token_url
        self.seen_jti: set[str] = set()

    def get_audiences(self) -> list[str]:
        return [self.audience]

    def validate_jti(self, claims: dict[str, Any], jti: str) -> bool:
        if jti in self.seen_jti:
            return False
        self.seen_jti.add(jti)
        return True

    def resolve_client_public_key(self, client: _Client) -> dict[str, Any]:
        return client.public_jwk or {}

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=["RS384", "ES384"])
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        if token.header.get("kid") != resolve_key.kid or token.header.get("typ") != "JWT":
            raise InvalidClientError(description="kid must name the registered key and typ must be JWT")
        if float(token.claims.get("exp", 0)) > time.time() + 300 + self.leeway:
            raise InvalidClientError(description="exp more than 5 minutes ahead")
        self.verify_claims(token.claims)
        return dict(token.claims)


@dataclass
class SimulatedEhr:
    fhir_base: str
    upstream: str
    launches: dict[str, dict[str, Any]] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    standalone_patient: str | None = None

    def register_launch(
        self,
        patient: str,
        *,
        app_context: str | None = None,
        banner: bool = True,
        fhir_context: list[dict[str, Any]] | None = None,
    ) -> str:
        """An opaque launch id for `patient`, as an EHR creates when the clinician opens the app; `fhir_context` is
        SMART 2.2's `fhirContext` (e.g. the draft order the clinician is working on)."""
        launch = secrets.token_urlsafe(12)
        context: dict[str, Any] = {"patient": patient, "need_patient_banner": banner}
        if app_context is not None:
            context["appContext"] = app_context
        if fhir_context is not None:
            context["fhirContext"] = fhir_context
        self.launches[launch] = context
        return launch


def _build_app(ehr: SimulatedEhr, clients: dict[str, _Client], granted_scope: str | None, http: httpx.Client) -> Flask:
    app = Flask("test_ehr")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {"authorization_code": 3600}

    def save_token(token: dict[str, Any], req: Any) -> None:
        ehr.tokens[token["access_token"]] = {"scope": token.get("scope"), "client_id": req.client.client_id}

    server = AuthorizationServer(app, query_client=clients.get, save_token=save_token)
    token_url = ehr.fhir_base.removesuffix("/fhir") + "/oauth/token"
    server.register_client_auth_method(_PrivateKeyJwt.CLIENT_AUTH_METHOD, _PrivateKeyJwt(token_url))

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt", "none"]  # noqa: RUF012

        def save_authorization_code(self, code: str, req: Any) -> None:
            launch = req.payload.data.get("launch")
            context = dict(ehr.launches.get(launch, {})) if launch else {}
            if not launch and ehr.standalone_patient:  # standalone: the "patient picker" chose this one
                context = {"patient": ehr.standalone_patient, "need_patient_banner": True}
            ehr.codes[code] = _Code(
                code=code,
                client_id=req.client.client_id,
                redirect_uri=req.payload.redirect_uri,
                scope=granted_scope or req.payload.scope,
                code_challenge=req.payload.data.get("code_challenge"),
                code_challenge_method=req.payload.data.get("code_challenge_method"),
                context=context,
            )

        def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
            item = ehr.codes.get(code)
            if item and item.client_id == client.client_id and not item.is_expired():
                return item
            return None

        def delete_authorization_code(self, authorization_code: _Code) -> None:
            ehr.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: _Code) -> dict[str, str]:
            return {"id": "practitioner-1"}

        def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
            context = self.request.authorization_code.context
            status, token, headers = super().create_token_response()
            token.update(context)  # SMART launch context travels beside the access token
            return status, token, headers

    server.register_grant(CodeGrant, [_S256Only(required=True)])

    @app.get("/fhir/.well-known/smart-configuration")
    def smart_configuration() -> Response:
        root = ehr.fhir_base.removesuffix("/fhir")
        return jsonify(
            {
                "authorization_endpoint": f"{root}/oauth/authorize",
                "token_endpoint": f"{root}/oauth/token",
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
                "scopes_supported": ["launch", "launch/patient", "openid", "fhirUser", "patient/*.rs"],
                "capabilities": ["launch-ehr", "launch-standalone", "client-public", "context-banner", "permission-v2"],
            }
        )

    @app.get("/oauth/authorize")
    def authorize() -> Any:
        if request.args.get("aud", "").rstrip("/") != ehr.fhir_base:
            return Response("aud does not name this EHR's FHIR server", status=400)
        launch = request.args.get("launch")
        if launch is not None and launch not in ehr.launches:
            return Response("unknown launch", status=400)
        user = {"id": "practitioner-1"}  # auto-approve: the test clinician consents to everything
        grant = server.get_consent_grant(end_user=user)
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/oauth/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/ehr/chart")
    def chart() -> Response:
        """The EHR's chart page with the app embedded in a frame, as EHRs embed apps: `app` is the app's launch URL
        (usually on another site than the EHR), `launch` a handle from `register_launch`."""
        launch, app_url = request.args.get("launch", ""), request.args.get("app", "")
        if launch not in ehr.launches or not app_url.startswith(("https://", "http://")):
            return Response("unknown launch or app", status=400)
        src = f"{app_url}?{urlencode({'iss': ehr.fhir_base, 'launch': launch})}"
        page = (
            "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Test EHR: chart</title></head>"
            "<body><h1>Test EHR: patient chart</h1>"
            f"<iframe id='smart-app' title='Ketamine and opioid safety app' src='{html.escape(src, quote=True)}' "
            "width='1280' height='1100'></iframe></body></html>"
        )
        return Response(page, mimetype="text/html")

    @app.route("/fhir/<path:path>", methods=["GET", "POST", "PUT"])
    def fhir(path: str) -> Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in ehr.tokens:
            return Response('{"resourceType":"OperationOutcome"}', status=401, mimetype="application/fhir+json")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS | {"authorization"}}
        upstream = http.request(
            request.method,
            f"{ehr.upstream}/{path}",
            params=list(request.args.items(multi=True)),
            content=request.get_data(),
            headers=headers,
        )
        body = upstream.content.replace(ehr.upstream.encode(), ehr.fhir_base.encode())
        out = Response(body, status=upstream.status_code)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP_HEADERS:
                out.headers[name] = value.replace(ehr.upstream, ehr.fhir_base)
        return out

    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_test_ehr(
    upstream_fhir_base: str,
    *,
    client_id: str,
    redirect_uri: str,
    client_secret: str | None = None,
    client_public_jwk: dict[str, Any] | None = None,
    granted_scope: str | None = None,
) -> Iterator[SimulatedEhr]:
    """Start the test EHR on a free loopback port (in a thread of this process) and stop it at exit."""
    ehr = SimulatedEhr(fhir_base="", upstream=upstream_fhir_base.rstrip("/"))
    clients = {client_id: _Client(client_id, redirect_uri, client_secret, client_public_jwk)}
    http = httpx.Client(timeout=30)  # one pool for the proxy: a client per call would reload the CA bundle
    port = _free_port()
    ehr.fhir_base = f"http://127.0.0.1:{port}/fhir"
    app = _build_app(ehr, clients, granted_scope, http)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="test-ehr", daemon=True)
    thread.start()
    try:
        yield ehr
    finally:
        server.shutdown()
        thread.join(timeout=10)
        http.close()
