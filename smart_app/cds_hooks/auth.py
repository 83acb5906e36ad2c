"""Verification of the JWT a CDS client sends on every call (CDS Hooks 2.0, "Trusting CDS Clients").

Accepted: `Authorization: Bearer <JWT>` signed with ES384 or RS384 (the algorithms the spec recommends; `none` and
every symmetric algorithm are refused, as the spec requires), header `kid` required, header `typ` required with
the spec's fixed value `JWT` (compared case-insensitively, as media types are), a `crit` header only as a list of
names (joserfc then refuses any it does not support); `iss` on the trusted-issuer list; the key found by `kid` in
that issuer's JWK Set; `aud` exactly the URL of the endpoint being called; `exp`, `iat` and `jti` present, `exp`
not past, `iat` neither in the future nor older than the maximum age; `jti` not seen before (replay cache). `sub`
is optional (the spec does not list it) and `tenant` is passed on when present.

Where the JWK Set comes from: the issuer's static `jwks`, else its configured `jwks_url`. A token's `jku` header
is used only when it is on that issuer's `jku_allowlist`; a token with any other `jku` is refused without
fetching it. Fetched sets are cached per URL (TTL), refetched at most once per interval when a `kid` is unknown
(key rotation: a key the client adds is accepted at most one interval after the last fetch), with a short timeout.

Configuration (JSON list of issuers), from the environment:

- `SMART_APP_CDS_TRUSTED_ISSUERS`: the JSON itself, or
- `SMART_APP_CDS_TRUSTED_ISSUERS_FILE`: path of a file holding it.

    [{"iss": "https://ehr.example.org/",
      "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
      "jku_allowlist": ["https://ehr.example.org/jwk_uri"],
      "jwks": null}]

Optional numbers: `SMART_APP_CDS_JWT_LEEWAY_S` (clock skew, default 60), `SMART_APP_CDS_JWT_MAX_AGE_S` (oldest
`iat` accepted, default 300), `SMART_APP_CDS_JWT_REPLAY_CACHE_SIZE` (default 100000, the in-process cache only),
`SMART_APP_CDS_JWKS_REFETCH_INTERVAL_S` (least time between two fetches of one JWK Set for an unknown `kid`, default
10: shorter delays a rotated key less, longer spares the client's JWKS endpoint a stream of unknown kids).

The replay cache is the deployment's shared store when one is configured (`SMART_APP_REDIS_URL`, see
`smart_app.storage.shared`): a jti is claimed there with `SET NX` and a TTL ending when the token could no longer
pass the exp and age checks, so a token replayed to another worker or host, or after a restart, is refused. Without
one it is this process's memory. When the shared store cannot be reached the call is refused (fail closed).

A malformed token (a header `alg` that is a list, a `crit` that is not a list, bad base64 or JSON, numbers out of
range) is an `AuthError` like any other refusal, never a server error.

`AuthError` messages are for the server log only; the caller answers 401 with no detail.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from smart_app.storage.shared import MemoryState, SharedState, SharedStateError

log = logging.getLogger(__name__)

ALLOWED_ALGORITHMS = frozenset({"ES384", "RS384"})
ENV_ISSUERS = "SMART_APP_CDS_TRUSTED_ISSUERS"
ENV_ISSUERS_FILE = "SMART_APP_CDS_TRUSTED_ISSUERS_FILE"
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class AuthError(Exception):
    """The call is not authenticated. The message is for logs; never send it to the client."""


class AuthConfigError(ValueError):
    """The trusted-issuer configuration is unreadable or invalid (the service should refuse to start)."""


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    iss: str
    jwks_url: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    jwks: Mapping[str, Any] | None = None  # a JWK Set given out of band (config or tests)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    issuers: tuple[TrustedIssuer, ...] = ()
    enabled: bool = True
    leeway_s: int = 60
    max_token_age_s: int = 300
    replay_cache_size: int = 100_000
    jwks_ttl_s: float = 3600.0
    jwks_timeout_s: float = 3.0
    jwks_refetch_interval_s: float = 10.0  # at most one refetch per URL per interval on an unknown kid

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, enabled: bool = True) -> AuthConfig:
        env = os.environ if environ is None else environ
        raw = env.get(ENV_ISSUERS)
        origin = ENV_ISSUERS
        if not raw and env.get(ENV_ISSUERS_FILE):
            origin = env[ENV_ISSUERS_FILE]
            try:
                raw = Path(origin).read_text(encoding="utf-8")
            except OSError as exc:
                raise AuthConfigError(f"{origin}: cannot read trusted issuers file ({exc.strerror})") from exc
        issuers = parse_issuers(raw, origin=origin) if raw else ()
        numbers = {
            field: _int_env(env, name)
            for field, name in (
                ("leeway_s", "SMART_APP_CDS_JWT_LEEWAY_S"),
                ("max_token_age_s", "SMART_APP_CDS_JWT_MAX_AGE_S"),
                ("replay_cache_size", "SMART_APP_CDS_JWT_REPLAY_CACHE_SIZE"),
                ("jwks_refetch_interval_s", "SMART_APP_CDS_JWKS_REFETCH_INTERVAL_S"),
            )
            if env.get(name)
        }
        return cls(issuers=issuers, enabled=enabled, **numbers)


@dataclass(frozen=True, slots=True)
class VerifiedClient:
    iss: str
    sub: str | None
    jti: str
    tenant: str | None


class _IssuerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jku_allowlist: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None


_ISSUER_LIST = TypeAdapter(list[_IssuerSpec])


def parse_issuers(raw: str, *, origin: str = "configuration") -> tuple[TrustedIssuer, ...]:
    try:
        specs = _ISSUER_LIST.validate_json(raw)
    except ValidationError as exc:
        raise AuthConfigError(f"{origin}: invalid trusted issuers: {exc.errors(include_input=False)}") from exc
    issuers = []
    for spec in specs:
        for url in (spec.jwks_url, *spec.jku_allowlist):
            if url is not None and not _secure_url(url):
                raise AuthConfigError(f"{origin}: JWK Set URL for {spec.iss} must be https: {url}")
        if spec.jwks is None and spec.jwks_url is None and not spec.jku_allowlist:
            raise AuthConfigError(f"{origin}: issuer {spec.iss} has no jwks, jwks_url or jku_allowlist")
        if spec.jwks is not None:
            _import_key_set(spec.jwks)  # fail at start-up, not on the first call
        issuers.append(TrustedIssuer(spec.iss, spec.jwks_url, spec.jku_allowlist, spec.jwks))
    return tuple(issuers)


class JwtVerifier:
    """Verifies CDS client JWTs. One instance per service process (it holds the JWKS and replay caches)."""

    def __init__(
        self,
        config: AuthConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        replay_store: SharedState | None = None,
    ) -> None:
        self.config = config
        self._issuers = {issuer.iss: issuer for issuer in config.issuers}
        self._static_sets = {i.iss: _import_key_set(i.jwks) for i in config.issuers if i.jwks is not None}
        self._clock = clock
        self._http = httpx.AsyncClient(timeout=config.jwks_timeout_s, transport=transport, follow_redirects=False)
        self._jwks = _JwksCache(self._http, config)
        self._replay = _ReplayCache(
            replay_store
            if replay_store is not None  # an empty MemoryState is falsy (it has a length)
            else MemoryState(config.replay_cache_size, name="in-process JWT replay cache")
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def verify(self, authorization_header: str | None, *, audience: str) -> VerifiedClient:
        """Check the `Authorization` header of a call to the endpoint whose exact URL is `audience`.

        Every failure is an `AuthError` (the caller answers 401): a token is attacker-controlled input, so an
        error of the JOSE library or a type error on a malformed header is a refusal, never a server error."""
        try:
            return await self._verify(authorization_header, audience)
        except AuthError:
            raise
        except (JoseError, TypeError, ValueError, KeyError, AttributeError, IndexError, OverflowError) as exc:
            raise AuthError(f"token is malformed ({type(exc).__name__})") from None

    async def _verify(self, authorization_header: str | None, audience: str) -> VerifiedClient:
        token = _bearer_token(authorization_header)
        header, claims = _unverified_parts(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ALLOWED_ALGORITHMS:
            raise AuthError(f"algorithm {alg!r:.40} not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("JWT header has no kid")
        typ = header.get("typ")
        if not isinstance(typ, str) or typ.upper() != "JWT":  # REQUIRED, fixed value JWT (media types: any case)
            raise AuthError("JWT header typ is missing or not JWT")
        crit = header.get("crit")
        if crit is not None and (not isinstance(crit, list) or not all(isinstance(c, str) for c in crit)):
            raise AuthError("JWT header crit is not a list of names")
        iss = claims.get("iss")
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError("issuer not trusted")
        key = await self._key_for(issuer, header.get("jku"), kid)
        try:
            verified = jwt.decode(token, key, algorithms=[alg])
        except JoseError as exc:
            raise AuthError(f"signature not valid ({exc.error})") from exc
        return await self._check_claims(verified.claims, issuer.iss, audience)

    async def _key_for(self, issuer: TrustedIssuer, jku: Any, kid: str) -> ECKey | RSAKey:
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.jku_allowlist:
                raise AuthError("jku not on the issuer's allowlist (not fetched)")
            return await self._jwks.key(jku, kid)
        if issuer.iss in self._static_sets:
            key = _find_key(self._static_sets[issuer.iss], kid)
            if key is None:
                raise AuthError("kid not in the issuer's configured JWK Set")
            return key
        if issuer.jwks_url is not None:
            return await self._jwks.key(issuer.jwks_url, kid)
        raise AuthError("token has no jku and the issuer has no configured JWK Set")

    async def _check_claims(self, claims: Mapping[str, Any], iss: str, audience: str) -> VerifiedClient:
        now = self._clock()
        leeway = self.config.leeway_s
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if audience not in audiences:
            raise AuthError("aud is not this endpoint")
        exp, iat, jti = _number(claims.get("exp")), _number(claims.get("iat")), claims.get("jti")
        if exp is None or iat is None:
            raise AuthError("exp and iat are required numbers")
        if now > exp + leeway:
            raise AuthError("token expired")
        if iat > now + leeway:
            raise AuthError("iat is in the future")
        if now - iat > self.config.max_token_age_s + leeway:
            raise AuthError("token too old (iat)")
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti is required")
        sub, tenant = claims.get("sub"), claims.get("tenant")
        # Remember the jti until the token could no longer pass the exp or age checks above.
        forget_at = min(exp, iat + self.config.max_token_age_s) + leeway
        if not await self._replay.add(iss, jti, forget_at - now):
            raise AuthError("jti replayed")
        return VerifiedClient(
            iss=iss,
            sub=sub if isinstance(sub, str) else None,
            jti=jti,
            tenant=tenant if isinstance(tenant, str) else None,
        )


class _JwksCache:
    """JWK Sets fetched from allow-listed URLs, cached per URL, refetched (rate limited) on an unknown kid."""

    def __init__(self, http: httpx.AsyncClient, config: AuthConfig) -> None:
        self._http = http
        self._config = config
        self._sets: dict[str, tuple[KeySet, float]] = {}
        self._last_fetch: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def key(self, url: str, kid: str) -> ECKey | RSAKey:
        async with self._locks.setdefault(url, asyncio.Lock()):
            cached = self._sets.get(url)
            now = time.monotonic()
            if cached is None or now - cached[1] > self._config.jwks_ttl_s:
                cached = await self._fetch(url)
            key = _find_key(cached[0], kid)
            if key is None and now - self._last_fetch.get(url, 0.0) >= self._config.jwks_refetch_interval_s:
                key = _find_key((await self._fetch(url))[0], kid)  # the client may have rotated its keys
            if key is None:
                raise AuthError("kid not in the issuer's JWK Set")
            return key

    async def _fetch(self, url: str) -> tuple[KeySet, float]:
        self._last_fetch[url] = time.monotonic()
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            key_set = _import_key_set(orjson.loads(response.content))
        except (httpx.HTTPError, orjson.JSONDecodeError, AuthConfigError) as exc:
            log.warning("JWK Set fetch from %s failed: %s", url, type(exc).__name__)
            stale = self._sets.get(url)
            if stale is not None:  # keep verifying with the last good set rather than lock every client out
                return stale
            raise AuthError("JWK Set could not be fetched") from exc
        entry = (key_set, time.monotonic())
        self._sets[url] = entry
        return entry


class _ReplayCache:
    """jti values seen per issuer, each kept until its token could no longer be accepted (TTL in the store)."""

    def __init__(self, store: SharedState) -> None:
        self._store = store

    async def add(self, iss: str, jti: str, ttl_s: float) -> bool:
        """False when `jti` of `iss` was already seen; otherwise remember it for `ttl_s` and return True."""
        # Hashed: keys of fixed length, and the store never holds the client's raw identifiers.
        digest = hashlib.sha256(f"{iss}\x00{jti}".encode()).hexdigest()
        try:
            return await self._store.claim(f"jti:{digest}", max(ttl_s, 1.0))
        except SharedStateError as exc:
            raise AuthError(f"replay cache unavailable: {exc}") from exc


def _bearer_token(header: str | None) -> str:
    if not header:
        raise AuthError("no Authorization header")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization is not a Bearer token")
    return token.strip()


def _unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before the signature is checked: used only to pick the issuer and key."""
    segments = token.split(".")
    if len(segments) != 3:
        raise AuthError("not a compact JWS")
    try:
        header = orjson.loads(_b64url(segments[0]))
        claims = orjson.loads(_b64url(segments[1]))
    except (binascii.Error, ValueError) as exc:
        raise AuthError("JWT is not decodable") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("JWT header or claims are not JSON objects")
    return header, claims


def _b64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _import_key_set(data: Any) -> KeySet:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise AuthConfigError("not a JWK Set (no keys array)")
    # Only asymmetric public keys can verify ES384/RS384; anything else in the set is skipped.
    usable = [k for k in data["keys"] if isinstance(k, dict) and k.get("kty") in ("EC", "RSA") and "d" not in k]
    try:
        return KeySet.import_key_set({"keys": usable})
    except (JoseError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise AuthConfigError("JWK Set has an invalid key") from exc


def _find_key(key_set: KeySet, kid: str) -> ECKey | RSAKey | None:
    for key in key_set.keys:
        if key.kid == kid and isinstance(key, ECKey | RSAKey):
            return key
    return None


def _secure_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in _LOCAL_HOSTS)


def _number(value: Any) -> float | None:
    """A finite JSON number as a float; None for anything else (NaN would pass every comparison)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _int_env(env: Mapping[str, str], name: str) -> int:
    raw = env[name]
    try:
        value = int(raw)
    except ValueError as exc:
        raise AuthConfigError(f"{name} must be a whole number of seconds or a count, not {raw!r}") from exc
    if value < 0:
        raise AuthConfigError(f"{name} must not be negative")
    return value
