"""Shared state: the in-process store, and the Redis store against a real redis-server (tests/services.py).

"Two workers" here are two independent store/verifier objects with their own Redis connections, as two processes
have; tests/infra/test_deployment.py does the same with real `smart-app serve` processes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
import redis
from cryptography.fernet import Fernet
from pydantic import SecretStr

from smart_app.cds_hooks.auth import AuthConfig, AuthError, JwtVerifier, TrustedIssuer
from smart_app.smart.discovery import SmartConfiguration
from smart_app.smart.launch_context import AppContext, LaunchContext
from smart_app.smart.oauth import PendingAuthorization, TokenSet
from smart_app.smart.scopes import GrantedScopes
from smart_app.smart.sessions import PENDING_MAX_AGE_S, SessionStore
from smart_app.storage.shared import (
    MemoryState,
    RedisState,
    SharedStateError,
    SharedStateSettings,
    open_shared_state,
    state_cipher,
)
from tests.infra.test_cds_client_auth import AUD, EC_KEY, ISS, claims, jwks, token

T = TypeVar("T")
KEY = Fernet.generate_key().decode()
ACCESS_TOKEN = "access-token-that-must-never-be-stored-in-clear"
PATIENT = "patient-4711"


def run(body: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(body())  # type: ignore[arg-type]


def redis_state(url: str, prefix: str, key: str = KEY) -> RedisState:
    cipher = state_cipher(SecretStr(key))
    assert cipher is not None
    return RedisState.from_url(url, cipher, prefix=prefix)


# -- the in-process store --------------------------------------------------------------------------------------


def test_memory_entries_expire_with_their_ttl() -> None:
    now = [1000.0]
    state = MemoryState(clock=lambda: now[0])

    async def body() -> None:
        assert await state.claim("a", 10) is True
        assert await state.claim("a", 10) is False
        await state.put("b", b"value", 5)
        assert await state.get("b") == b"value"
        now[0] += 6
        assert await state.get("b") is None
        assert await state.claim("a", 10) is False
        now[0] += 5
        assert await state.claim("a", 10) is True  # the first claim expired

    run(body)


def test_memory_take_gives_the_value_once() -> None:
    state = MemoryState()

    async def body() -> None:
        await state.put("k", b"v", 60)
        assert await state.take("k") == b"v"
        assert await state.take("k") is None

    run(body)


def test_memory_is_bounded_and_drops_the_entry_nearest_expiry(caplog: pytest.LogCaptureFixture) -> None:
    state = MemoryState(3, name="test state")

    async def body() -> None:
        await state.put("long", b"1", 300)
        await state.put("short", b"2", 10)
        await state.put("middle", b"3", 100)
        await state.put("new", b"4", 200)

    run(body)
    assert sorted(state.keys()) == ["long", "middle", "new"]
    assert "test state full (3 entries)" in caplog.text


# -- configuration ---------------------------------------------------------------------------------------------


def test_without_a_redis_url_every_part_keeps_its_own_memory() -> None:
    assert open_shared_state(SharedStateSettings(redis_url=None)) is None


def test_the_redis_store_refuses_to_start_without_a_key() -> None:
    with pytest.raises(SharedStateError, match="SMART_APP_STATE_KEY is required"):
        open_shared_state(SharedStateSettings(redis_url=SecretStr("redis://127.0.0.1:6379/0")))
    with pytest.raises(SharedStateError, match="must be Fernet keys"):
        open_shared_state(
            SharedStateSettings(redis_url=SecretStr("redis://127.0.0.1:6379/0"), state_key=SecretStr("short"))
        )


def test_an_unreachable_redis_is_a_one_line_error() -> None:
    state = redis_state("redis://127.0.0.1:9/0", "x:")

    async def body() -> None:
        try:
            await state.check()
        finally:
            await state.aclose()

    with pytest.raises(SharedStateError, match=r"^Redis PING failed \(ConnectionError\)$"):
        run(body)


def test_sealed_values_open_with_a_rotated_key_list_only() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = MemoryState(cipher=state_cipher(SecretStr(old))).seal(b"secret")
    rotated = MemoryState(cipher=state_cipher(SecretStr(f"{new},{old}")))
    assert rotated.unseal(sealed) == b"secret"
    assert MemoryState(cipher=state_cipher(SecretStr(new))).unseal(sealed) is None
    assert b"secret" not in sealed


# -- Redis: claims, take-once, TTL -----------------------------------------------------------------------------


def test_a_claim_made_by_one_worker_is_seen_by_another(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        first, second = redis_state(redis_url, redis_prefix), redis_state(redis_url, redis_prefix)
        try:
            assert await first.claim("jti:x", 60) is True
            assert await second.claim("jti:x", 60) is False
            await first.put("pending:s", b"v", 60)
            taken = await asyncio.gather(first.take("pending:s"), second.take("pending:s"))
            assert sorted(taken, key=lambda v: v is None) == [b"v", None]  # exactly one worker gets it
        finally:
            await first.aclose()
            await second.aclose()

    run(body)


def test_redis_entries_expire_with_their_ttl(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        state = redis_state(redis_url, redis_prefix)
        try:
            assert await state.claim("short", 0.2)
            assert not await state.claim("short", 0.2)
            await asyncio.sleep(0.35)
            assert await state.claim("short", 0.2)
        finally:
            await state.aclose()

    run(body)
    ttl = redis.Redis.from_url(redis_url).pttl(f"{redis_prefix}short")
    assert 0 < ttl <= 200 or ttl == -2  # -2: already gone; never -1 (no expiry)


# -- Redis: the jti replay cache -------------------------------------------------------------------------------


def _verifier(state: RedisState) -> JwtVerifier:
    return JwtVerifier(AuthConfig(issuers=(TrustedIssuer(ISS, jwks=jwks(EC_KEY)),)), replay_store=state)


def test_a_jwt_replayed_to_another_worker_is_refused(redis_url: str, redis_prefix: str) -> None:
    once = token(payload=claims())

    async def body() -> str:
        first, second = redis_state(redis_url, redis_prefix), redis_state(redis_url, redis_prefix)
        worker_1, worker_2 = _verifier(first), _verifier(second)
        try:
            await worker_1.verify(f"Bearer {once}", audience=AUD)
            with pytest.raises(AuthError) as refused:
                await worker_2.verify(f"Bearer {once}", audience=AUD)
            return str(refused.value)
        finally:
            for closing in (worker_1.aclose(), worker_2.aclose(), first.aclose(), second.aclose()):
                await closing

    assert "replayed" in run(body)


def test_a_jti_is_kept_until_its_token_expires_and_not_in_clear(redis_url: str, redis_prefix: str) -> None:
    now = int(time.time())
    jti = "jti-visible-only-as-a-hash"
    short_lived = token(payload=claims(iat=now, exp=now + 30, jti=jti))

    async def body() -> None:
        state = redis_state(redis_url, redis_prefix)
        verifier = _verifier(state)
        try:
            await verifier.verify(f"Bearer {short_lived}", audience=AUD)
        finally:
            await verifier.aclose()
            await state.aclose()

    run(body)
    raw = redis.Redis.from_url(redis_url)
    (key,) = raw.keys(f"{redis_prefix}jti:*")
    assert jti.encode() not in key
    # exp + leeway (60 s) from now, not the 300 s maximum age: the entry goes when the token could no longer pass.
    assert 85_000 <= raw.pttl(key) <= 90_000


def test_an_unreachable_replay_cache_refuses_the_call() -> None:
    async def body() -> str:
        state = redis_state("redis://127.0.0.1:9/0", "x:")
        verifier = _verifier(state)
        try:
            with pytest.raises(AuthError) as refused:
                await verifier.verify(f"Bearer {token()}", audience=AUD)
            return str(refused.value)
        finally:
            await verifier.aclose()
            await state.aclose()

    assert "replay cache unavailable" in run(body)


# -- Redis: SMART sessions -------------------------------------------------------------------------------------

CONFIG = SmartConfiguration(
    issuer="https://ehr.example.org/fhir",
    authorization_endpoint="https://ehr.example.org/oauth/authorize",
    token_endpoint="https://ehr.example.org/oauth/token",
    code_challenge_methods=("S256",),
    capabilities=("launch-ehr",),
)


def _pending(state: str = "state-1") -> PendingAuthorization:
    return PendingAuthorization(state, "verifier-" + "v" * 40, CONFIG, "launch openid", "launch-1", time.time())


def _tokens() -> TokenSet:
    context = LaunchContext(patient=PATIENT, app_context=AppContext(text='{"card": "x"}', data={"card": "x"}))
    return TokenSet(ACCESS_TOKEN, GrantedScopes("launch patient/*.rs"), context, time.time() + 3600, "refresh-1")


def _sessions(url: str, prefix: str) -> tuple[SessionStore, RedisState]:
    state = redis_state(url, prefix)
    return SessionStore("session-secret-" + "s" * 32, 3600, state), state


def test_a_callback_on_another_worker_finds_the_launch(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        (launch_worker, s1), (callback_worker, s2) = (
            _sessions(redis_url, redis_prefix),
            _sessions(redis_url, redis_prefix),
        )
        try:
            session = await launch_worker.create()
            await launch_worker.add_pending(session, _pending())
            cookie = launch_worker.cookie_value(session)

            found = await callback_worker.get(cookie)
            assert found is not None and found.id == session.id
            pending = await callback_worker.take_pending(found, "state-1", time.time())
            assert pending is not None
            assert (pending.state, pending.code_verifier, pending.config, pending.launch) == (
                "state-1",
                _pending().code_verifier,
                CONFIG,
                "launch-1",
            )
            assert await launch_worker.take_pending(session, "state-1", time.time()) is None  # once only

            await callback_worker.delete(found)
            signed_in = await callback_worker.create(tokens=_tokens(), config=CONFIG)
            again = await launch_worker.get(callback_worker.cookie_value(signed_in))
            assert again is not None and again.tokens == signed_in.tokens and again.config == CONFIG
            assert await launch_worker.get(cookie) is None  # the pre-sign-in session is gone everywhere
        finally:
            await s1.aclose()
            await s2.aclose()

    run(body)


def test_a_state_issued_to_another_session_is_refused(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        store, state = _sessions(redis_url, redis_prefix)
        try:
            victim, attacker = await store.create(), await store.create()
            await store.add_pending(attacker, _pending("attacker-state"))
            assert await store.take_pending(victim, "attacker-state", time.time()) is None
        finally:
            await state.aclose()

    run(body)


def test_an_expired_pending_authorization_is_refused(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        store, state = _sessions(redis_url, redis_prefix)
        try:
            session = await store.create()
            await store.add_pending(session, _pending())
            assert await store.take_pending(session, "state-1", time.time() + PENDING_MAX_AGE_S + 1) is None
        finally:
            await state.aclose()

    run(body)


def test_tokens_and_patient_are_encrypted_at_rest(redis_url: str, redis_prefix: str) -> None:
    async def body() -> str:
        store, state = _sessions(redis_url, redis_prefix)
        try:
            session = await store.create(tokens=_tokens(), config=CONFIG)
            await store.add_pending(session, _pending())
            return session.id
        finally:
            await state.aclose()

    session_id = run(body)
    raw = redis.Redis.from_url(redis_url)
    keys = raw.keys(f"{redis_prefix}*")
    assert len(keys) == 2  # the session and its pending authorization
    for key in keys:
        value = raw.get(key)
        assert value is not None
        for secret in (ACCESS_TOKEN, PATIENT, "refresh-1", "verifier-", session_id):
            assert secret.encode() not in value and secret.encode() not in key
        assert raw.pttl(key) > 0


def test_a_session_sealed_with_another_key_is_no_session(redis_url: str, redis_prefix: str) -> None:
    async def body() -> None:
        store, state = _sessions(redis_url, redis_prefix)
        other_state = redis_state(redis_url, redis_prefix, key=Fernet.generate_key().decode())
        other = SessionStore("session-secret-" + "s" * 32, 3600, other_state)
        try:
            session = await store.create(tokens=_tokens())
            assert await other.get(store.cookie_value(session)) is None
        finally:
            await state.aclose()
            await other_state.aclose()

    run(body)
