"""Authorization code flow with PKCE S256 for the three SMART client types, on authlib's httpx client.

- public: `client_id` in the token request body, no secret;
- confidential-symmetric: HTTP Basic (`client_secret_basic`), no `client_id` in the body;
- confidential-asymmetric: `private_key_jwt` with an RS384/ES384 assertion (kid, typ=JWT; iss=sub=client_id,
  aud=token endpoint, exp at most 5 minutes ahead, fresh jti).

Tokens never leave the server: callers keep the `TokenSet` in the server-side session.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.urls import add_params_to_qs
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7523.client import ASSERTION_TYPE
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from smart_app.smart.discovery import AUTH_METHOD, SmartConfiguration
from smart_app.smart.launch_context import LaunchContext, parse_launch_context
from smart_app.smart.scopes import GrantedScopes
from smart_app.smart.settings import SmartSettings

ASSERTION_LIFETIME_S = 300  # SMART: exp no more than 5 minutes in the future
REFRESH_LEEWAY_S = 30


class OAuthFlowError(Exception):
    """A step of the authorization flow failed; `kind` picks the error page, the message is safe to show."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, slots=True)
class PendingAuthorization:
    """What the app remembers between the redirect to the EHR and the callback (server side only)."""

    state: str
    code_verifier: str
    config: SmartConfiguration
    scope: str
    launch: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    scope: GrantedScopes
    context: LaunchContext
    expires_at: float | None = None
    refresh_token: str | None = None
    id_token: str | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at - REFRESH_LEEWAY_S

    def __repr__(self) -> str:  # never let a token reach a log through repr()
        return f"TokenSet(scope={self.scope.raw!r}, patient={'set' if self.context.patient else 'none'})"


def client_assertion(settings: SmartSettings, audience: str, *, now: float | None = None) -> str:
    """The `private_key_jwt` client assertion for the token endpoint `audience`."""
    issued = int(now if now is not None else time.time())
    jwk = settings.signing_key()
    key = RSAKey.import_key(jwk) if settings.signing_alg == "RS384" else ECKey.import_key(jwk)
    header = {"alg": settings.signing_alg, "kid": settings.key_id, "typ": "JWT"}
    claims = {
        "iss": settings.client_id,
        "sub": settings.client_id,
        "aud": audience,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
        "jti": secrets.token_urlsafe(32),
    }
    return jwt.encode(header, claims, key, algorithms=[settings.signing_alg])


class _PrivateKeyJwtAuth:
    """authlib client auth method adding our own assertion (authlib's default lifetime is an hour, too long)."""

    name = "private_key_jwt"

    def __init__(self, settings: SmartSettings, token_endpoint: str) -> None:
        self.settings = settings
        self.token_endpoint = token_endpoint

    def __call__(
        self, auth: Any, method: str, uri: str, headers: dict[str, str], body: str
    ) -> tuple[str, dict[str, str], str]:
        assertion = client_assertion(self.settings, self.token_endpoint)
        body = add_params_to_qs(
            body or "", [("client_assertion_type", ASSERTION_TYPE), ("client_assertion", assertion)]
        )
        return uri, headers, body


def _oauth_client(
    settings: SmartSettings, config: SmartConfiguration, transport: httpx.AsyncBaseTransport | None
) -> AsyncOAuth2Client:
    method = AUTH_METHOD[settings.client_type]
    client = AsyncOAuth2Client(
        client_id=settings.client_id,
        client_secret=settings.client_secret if method == "client_secret_basic" else None,
        token_endpoint_auth_method=method,
        redirect_uri=settings.redirect_uri,
        code_challenge_method="S256",
        timeout=settings.http_timeout_s,
        transport=transport,
    )
    if method == "private_key_jwt":
        client.register_client_auth_method(_PrivateKeyJwtAuth(settings, config.token_endpoint))
    return client


def begin_authorization(
    settings: SmartSettings, config: SmartConfiguration, *, launch: str | None, now: float | None = None
) -> tuple[str, PendingAuthorization]:
    """The authorize URL to redirect the browser to, and what to keep for the callback."""
    state = secrets.token_urlsafe(32)  # 256 bits; SMART requires at least 122
    verifier = secrets.token_urlsafe(64)
    scope = settings.requested_scopes(ehr_launch=launch is not None)
    extra = {"aud": config.issuer}
    if launch is not None:
        extra["launch"] = launch
    url = prepare_grant_uri(
        config.authorization_endpoint,
        client_id=settings.client_id,
        response_type="code",
        redirect_uri=settings.redirect_uri,
        scope=scope,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **extra,
    )
    pending = PendingAuthorization(
        state=state,
        code_verifier=verifier,
        config=config,
        scope=scope,
        launch=launch,
        created_at=now if now is not None else time.time(),
    )
    return url, pending


def _token_set(token: dict[str, Any], now: float, previous: TokenSet | None = None) -> TokenSet:
    access = token.get("access_token")
    if not isinstance(access, str) or not access:
        raise OAuthFlowError("token-error", "the EHR's token response has no access token")
    if str(token.get("token_type", "")).lower() != "bearer":
        raise OAuthFlowError("token-error", "the EHR's token response is not a Bearer token")
    expires_in = token.get("expires_in")
    expires_at = now + float(expires_in) if isinstance(expires_in, int | float) and expires_in > 0 else None
    scope = token.get("scope")
    context = parse_launch_context(token)
    if previous is not None:
        # A refresh may omit the launch context; it may never switch the patient under the user's feet.
        if context.patient and context.patient != previous.context.patient:
            raise OAuthFlowError("token-error", "the EHR changed the patient when the token was refreshed")
        if not context.patient:
            context = previous.context
        scope = scope if isinstance(scope, str) else previous.scope.raw
    if not isinstance(scope, str):
        raise OAuthFlowError("token-error", "the EHR's token response does not say which scopes were granted")
    refresh = token.get("refresh_token")
    return TokenSet(
        access_token=access,
        scope=GrantedScopes(scope),
        context=context,
        expires_at=expires_at,
        refresh_token=refresh if isinstance(refresh, str) else (previous.refresh_token if previous else None),
        id_token=token.get("id_token") if isinstance(token.get("id_token"), str) else None,
    )


def _describe_oauth_error(exc: OAuthError) -> str:
    code = str(exc.error or "error")[:60]
    return f"the EHR refused the token request ({code})"


async def exchange_code(
    settings: SmartSettings,
    pending: PendingAuthorization,
    code: str,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenSet:
    try:
        async with _oauth_client(settings, pending.config, transport) as client:
            token = await client.fetch_token(
                pending.config.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.code_verifier,
                redirect_uri=settings.redirect_uri,
            )
    except OAuthError as exc:
        raise OAuthFlowError("token-error", _describe_oauth_error(exc)) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise OAuthFlowError("token-error", f"the EHR's token endpoint did not answer ({type(exc).__name__})") from exc
    token_set = _token_set(dict(token), now if now is not None else time.time())
    if not token_set.context.patient:
        raise OAuthFlowError("no-patient", "the EHR did not say which patient this launch is for")
    return token_set


async def refresh(
    settings: SmartSettings,
    config: SmartConfiguration,
    tokens: TokenSet,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenSet:
    """A new TokenSet from the refresh token; raises OAuthFlowError('session-expired') when that is impossible."""
    if not tokens.refresh_token:
        raise OAuthFlowError("session-expired", "the EHR's access token expired and cannot be refreshed")
    try:
        async with _oauth_client(settings, config, transport) as client:
            # No `scope`: a refresh may only narrow the grant, and we want all of it.
            token = await client.refresh_token(config.token_endpoint, refresh_token=tokens.refresh_token)
    except OAuthError as exc:
        raise OAuthFlowError("session-expired", _describe_oauth_error(exc)) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise OAuthFlowError(
            "session-expired", f"the EHR's token endpoint did not answer ({type(exc).__name__})"
        ) from exc
    return _token_set(dict(token), now if now is not None else time.time(), previous=tokens)


async def active_tokens(
    settings: SmartSettings,
    config: SmartConfiguration,
    tokens: TokenSet,
    *,
    now: float | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> TokenSet:
    """`tokens` if still valid, otherwise refreshed ones."""
    moment = now if now is not None else time.time()
    if not tokens.expired(moment):
        return tokens
    return await refresh(settings, config, tokens, now=moment, transport=transport)
