"""Server-side sessions: the browser holds only a signed, opaque session id.

The cookie is HttpOnly (no script can read it) and, over https, Secure; SameSite=None; Partitioned so that the browser
keeps it when the EHR shows the app in a cross-site frame (over plain http: SameSite=Lax; see `cookies.py`, and
`web.py` for the CSRF checks that do not rely on SameSite). Tokens, PKCE verifiers and the
launch context stay on the server, in the deployment's state store (`smart_app.storage.shared`):

- one process (the embedded default): this process's memory; a restart ends every session;
- several workers or hosts: Redis (`SMART_APP_REDIS_URL`), so a callback that reaches another worker than the
  launch finds its pending authorization, and any worker serves the signed-in session.

Either way each record is encrypted (`SharedState.seal`: with `SMART_APP_STATE_KEY` in Redis) and stored under a
hash of its id, so the store holds no usable token or session id. A pending authorization is its own entry, keyed
by its `state` and taken with one atomic get-and-delete: it can be used once only, on whichever worker.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from pydantic import TypeAdapter, ValidationError

from smart_app.smart.discovery import SmartConfiguration
from smart_app.smart.oauth import PendingAuthorization, TokenSet
from smart_app.storage.shared import MemoryState, SharedState

COOKIE_NAME = "smart_app_session"
PENDING_MAX_AGE_S = 600  # an unfinished authorization older than this is dropped
_MAX_PENDING = 5
_TOUCH_EVERY_S = 60.0  # last_seen is written back at most this often (a page load is not a write)
_SESSION_PREFIX = "smart:session:"
_PENDING_PREFIX = "smart:pending:"


@dataclass(slots=True)
class Session:
    id: str
    csrf_token: str
    last_seen: float
    pending: tuple[tuple[str, float], ...] = ()  # (state, created_at) of this session's open authorizations
    tokens: TokenSet | None = None
    config: SmartConfiguration | None = None

    def __repr__(self) -> str:
        return f"Session(authorized={self.tokens is not None})"


@dataclass(frozen=True, slots=True)
class _PendingRecord:
    session_id: str
    authorization: PendingAuthorization


_SESSION_JSON = TypeAdapter(Session)
_PENDING_JSON = TypeAdapter(_PendingRecord)


class SessionStore:
    def __init__(self, secret: str, ttl_seconds: int, state: SharedState | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="smart-app-session")
        self._ttl = ttl_seconds
        self._state = state if state is not None else MemoryState(name="in-process SMART sessions")

    @property
    def shared(self) -> bool:
        return self._state.shared

    async def create(
        self, now: float | None = None, *, tokens: TokenSet | None = None, config: SmartConfiguration | None = None
    ) -> Session:
        moment = now if now is not None else time.time()
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            last_seen=moment,
            tokens=tokens,
            config=config,
        )
        await self.save(session)
        return session

    async def get(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The live session the cookie names, or None (no cookie, bad signature, unknown or idle too long)."""
        if not cookie:
            return None
        try:
            session_id = str(self._serializer.loads(cookie, max_age=self._ttl))
        except BadSignature:
            return None
        sealed = await self._state.get(_session_key(session_id))
        session = self._load(sealed) if sealed is not None else None
        if session is None or session.id != session_id:
            return None
        moment = now if now is not None else time.time()
        idle = moment - session.last_seen
        if idle > self._ttl:
            await self.delete(session)
            return None
        if idle >= min(_TOUCH_EVERY_S, self._ttl / 10):
            session.last_seen = moment
            await self.save(session)
        return session

    async def save(self, session: Session) -> None:
        """Write the session back (after its tokens changed); it lives `ttl_seconds` from now."""
        await self._state.put(_session_key(session.id), self._state.seal(_SESSION_JSON.dump_json(session)), self._ttl)

    async def delete(self, session: Session) -> None:
        await self._state.delete(_session_key(session.id))
        for state, _ in session.pending:
            await self._state.delete(_pending_key(state))

    async def add_pending(self, session: Session, pending: PendingAuthorization) -> None:
        """Remember an authorization in progress (at most a few per session, each for PENDING_MAX_AGE_S)."""
        cutoff = pending.created_at - PENDING_MAX_AGE_S
        open_ = [(s, created) for s, created in session.pending if created >= cutoff]
        while len(open_) >= _MAX_PENDING:
            oldest, _ = open_.pop(0)
            await self._state.delete(_pending_key(oldest))
        record = _PENDING_JSON.dump_json(_PendingRecord(session.id, pending))
        await self._state.put(_pending_key(pending.state), self._state.seal(record), PENDING_MAX_AGE_S)
        session.pending = (*open_, (pending.state, pending.created_at))
        await self.save(session)

    async def take_pending(self, session: Session, state: str, now: float) -> PendingAuthorization | None:
        """The session's pending authorization for `state`, removed so that it can be used once only."""
        sealed = await self._state.take(_pending_key(state))
        plain = self._state.unseal(sealed) if sealed is not None else None
        if plain is None:
            return None
        try:
            record = _PENDING_JSON.validate_json(plain)
        except ValidationError:
            return None
        if record.session_id != session.id:  # a state issued to another browser: refused (login CSRF)
            return None
        session.pending = tuple(item for item in session.pending if item[0] != state)
        if now - record.authorization.created_at > PENDING_MAX_AGE_S:
            return None
        return record.authorization

    def cookie_value(self, session: Session) -> str:
        return self._serializer.dumps(session.id)

    def live_sessions(self) -> list[Session]:
        """Every live session of an in-process store (tests and diagnostics; a shared store is not listed)."""
        if not isinstance(self._state, MemoryState):
            raise TypeError("live_sessions() lists an in-process store only")
        found = []
        for key in self._state.keys(_SESSION_PREFIX):
            sealed = self._state.peek(key)
            session = self._load(sealed) if sealed is not None else None
            if session is not None:
                found.append(session)
        return found

    def _load(self, sealed: bytes) -> Session | None:
        plain = self._state.unseal(sealed)
        if plain is None:
            return None
        try:
            return _SESSION_JSON.validate_json(plain)
        except ValidationError:  # written by an incompatible version: treated as no session
            return None


def _session_key(session_id: str) -> str:
    return _SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def _pending_key(state: str) -> str:
    return _PENDING_PREFIX + hashlib.sha256(state.encode()).hexdigest()
