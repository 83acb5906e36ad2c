"""Server-side sessions: the browser holds only a signed, opaque session id.

The cookie is HttpOnly (no script can read it), SameSite=Lax (sent on the EHR's top-level redirect back to the
callback, not on cross-site POSTs) and Secure when the app is served over https. Tokens, PKCE verifiers and the
launch context stay in this process's memory; a restart ends every session (acceptable for a launch-per-visit
app; a multi-process deployment needs a shared store behind the same interface).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer

from smart_app.smart.discovery import SmartConfiguration
from smart_app.smart.oauth import PendingAuthorization, TokenSet

COOKIE_NAME = "smart_app_session"
PENDING_MAX_AGE_S = 600  # an unfinished authorization older than this is dropped
_MAX_PENDING = 5


@dataclass(slots=True)
class Session:
    id: str
    csrf_token: str
    last_seen: float
    pending: dict[str, PendingAuthorization] = field(default_factory=dict)  # by state
    tokens: TokenSet | None = None
    config: SmartConfiguration | None = None

    def add_pending(self, pending: PendingAuthorization) -> None:
        cutoff = pending.created_at - PENDING_MAX_AGE_S
        self.pending = {s: p for s, p in self.pending.items() if p.created_at >= cutoff}
        while len(self.pending) >= _MAX_PENDING:
            self.pending.pop(next(iter(self.pending)))
        self.pending[pending.state] = pending

    def take_pending(self, state: str, now: float) -> PendingAuthorization | None:
        """The pending authorization for `state`, removed so that it can be used once only."""
        pending = self.pending.pop(state, None)
        if pending is None or now - pending.created_at > PENDING_MAX_AGE_S:
            return None
        return pending

    def __repr__(self) -> str:
        return f"Session(authorized={self.tokens is not None})"


class SessionStore:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="smart-app-session")
        self._ttl = ttl_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, now: float | None = None) -> Session:
        moment = now if now is not None else time.time()
        session = Session(id=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32), last_seen=moment)
        with self._lock:
            self._purge(moment)
            self._sessions[session.id] = session
        return session

    def get(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The live session the cookie names, or None (no cookie, bad signature, unknown or idle too long)."""
        if not cookie:
            return None
        try:
            session_id = self._serializer.loads(cookie, max_age=self._ttl)
        except BadSignature:
            return None
        moment = now if now is not None else time.time()
        with self._lock:
            session = self._sessions.get(str(session_id))
            if session is None:
                return None
            if moment - session.last_seen > self._ttl:
                del self._sessions[session.id]
                return None
            session.last_seen = moment
            return session

    def delete(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)

    def cookie_value(self, session: Session) -> str:
        return self._serializer.dumps(session.id)

    def _purge(self, now: float) -> None:
        expired = [sid for sid, s in self._sessions.items() if now - s.last_seen > self._ttl]
        for sid in expired:
            del self._sessions[sid]
