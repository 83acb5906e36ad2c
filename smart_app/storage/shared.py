"""Short-lived state that every worker of one deployment must see: the CDS client-JWT replay cache, the SMART
app's server-side sessions (pending authorizations, tokens) and which cards order-select showed
(cds_hooks/presented.py).

One small interface, two implementations:

- `MemoryState` (the embedded default): this process's memory, bounded in entries. Right for one process; with
  several workers or hosts each has its own, so a jti replayed to another worker would be accepted and a SMART
  callback that lands on another worker would find no session. `smart-app serve` refuses `--workers N>1` with
  authentication on and no shared store.
- `RedisState`: a Redis server named by `SMART_APP_REDIS_URL` (e.g. `redis://:password@cache.internal:6379/0`,
  `rediss://` for TLS), shared by every worker and host. Entries expire in Redis with their TTL (`SET NX PX` for
  claims, `GETDEL` for take-once). Values sealed with `seal()` are encrypted (Fernet: AES-128-CBC + HMAC-SHA256)
  with `SMART_APP_STATE_KEY`, so OAuth tokens are never at rest in clear text; the Redis store refuses to start
  without that key.

Keys and values that index patients (the cards shown at order-select) are keyed digests (`digest`, HMAC-SHA256 with
a key derived from the first `SMART_APP_STATE_KEY`), the same on every worker and not reversible without the key.

`SMART_APP_STATE_KEY`: one or more Fernet keys, comma-separated; the first encrypts, all decrypt (key rotation:
put the new key first, remove the old one after the session TTL). Make one with
`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`.
`SMART_APP_REDIS_PREFIX` (default `smart_app:`) separates deployments sharing one Redis database.

Neither the Redis URL (it may hold a password) nor a key or value is ever logged.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import logging
import math
import secrets
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_HINT = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
DEFAULT_MAX_ENTRIES = 100_000


class SharedStateError(RuntimeError):
    """The shared store is misconfigured or unreachable; the message is one line, safe to print and log."""


class SharedStateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMART_APP_", extra="ignore", frozen=True)

    redis_url: SecretStr | None = Field(None, description="Redis for state shared by workers/hosts; unset: memory")
    state_key: SecretStr | None = Field(None, description="Fernet key(s), comma-separated, sealing shared state")
    redis_prefix: str = Field("smart_app:", description="prefix of every key this deployment writes")
    redis_timeout_s: float = Field(2.0, gt=0, description="connect and command timeout for Redis")

    @property
    def shared(self) -> bool:
        return self.redis_url is not None and bool(self.redis_url.get_secret_value().strip())


class SharedState(ABC):
    """Bytes under string keys, each with a time to live (seconds). All methods are safe to call concurrently."""

    kind: str = "shared state"
    shared: bool = False  # True when every worker and host of the deployment sees the same entries

    def __init__(self, cipher: MultiFernet, digest_key: bytes | None = None) -> None:
        self._cipher = cipher
        # Without a configured key (in-process state): a random one, as the entries live only in this process.
        self._digest_key = digest_key or secrets.token_bytes(32)

    def digest(self, *parts: str) -> bytes:
        """A keyed digest (HMAC-SHA256, 32 bytes) of `parts`, the same on every worker that shares this store's
        key: for keys and values that must not hold an identifier in readable (or guessable) form."""
        return hmac.new(self._digest_key, "\x1f".join(parts).encode(), hashlib.sha256).digest()

    @abstractmethod
    async def claim(self, key: str, ttl_s: float) -> bool:
        """Create `key` if it is absent, for `ttl_s`; True when this call created it (atomic across workers)."""

    @abstractmethod
    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def take(self, key: str) -> bytes | None:
        """The value, deleted in the same step: at most one caller, on any worker, gets it."""

    @abstractmethod
    async def delete(self, key: str) -> None: ...

    @abstractmethod
    async def check(self) -> None:
        """Raise SharedStateError when the store cannot be used (called at start-up)."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release connections."""

    def seal(self, value: bytes) -> bytes:
        """`value` encrypted and authenticated with the state key."""
        return self._cipher.encrypt(value)

    def unseal(self, sealed: bytes) -> bytes | None:
        """The plain value, or None when it was not sealed with a configured key (or was altered)."""
        try:
            return self._cipher.decrypt(sealed)
        except InvalidToken:
            log.warning("%s: an entry could not be decrypted with SMART_APP_STATE_KEY; ignored", self.kind)
            return None


class MemoryState(SharedState):
    """This process's memory: entries expire with their TTL; at `max_entries` the one nearest expiry is dropped."""

    kind = "in-process state"
    shared = False

    def __init__(
        self,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        name: str = "in-process state",
        cipher: MultiFernet | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # No key configured: a random one for this process (memory is never at rest; sealing keeps one code path).
        super().__init__(cipher or MultiFernet([Fernet(Fernet.generate_key())]))
        self.kind = name
        self._max = max(1, max_entries)
        self._clock = clock
        self._entries: dict[str, tuple[bytes, float]] = {}
        self._expiry: list[tuple[float, str]] = []  # heap; an item whose time no longer matches its entry is stale
        self._lock = threading.Lock()
        self._warned_full = False

    def __len__(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._entries)

    async def claim(self, key: str, ttl_s: float) -> bool:
        with self._lock:
            now = self._clock()
            self._purge(now)
            if key in self._entries:
                return False
            self._store(key, b"1", now + ttl_s)
            return True

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        with self._lock:
            now = self._clock()
            self._purge(now)
            self._store(key, value, now + ttl_s)

    async def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[1] <= self._clock():
                return None
            return entry[0]

    async def take(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.pop(key, None)
            if entry is None or entry[1] <= self._clock():
                return None
            return entry[0]

    async def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    async def check(self) -> None:
        return None  # memory is always there

    async def aclose(self) -> None:
        return None

    def peek(self, key: str) -> bytes | None:
        """`get` without awaiting (tests and diagnostics)."""
        with self._lock:
            entry = self._entries.get(key)
            return entry[0] if entry is not None and entry[1] > self._clock() else None

    def keys(self, prefix: str = "") -> list[str]:
        """Live keys starting with `prefix` (for tests and diagnostics)."""
        with self._lock:
            now = self._clock()
            return [k for k, (_, expires) in self._entries.items() if k.startswith(prefix) and expires > now]

    def _store(self, key: str, value: bytes, expires_at: float) -> None:
        if key not in self._entries and len(self._entries) >= self._max:
            self._evict_one()
        self._entries[key] = (value, expires_at)
        heapq.heappush(self._expiry, (expires_at, key))
        if len(self._expiry) > 2 * self._max:  # many re-puts of the same keys: rebuild without stale items
            self._expiry = [(expires, k) for k, (_, expires) in self._entries.items()]
            heapq.heapify(self._expiry)

    def _purge(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            expires, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry[1] == expires:
                del self._entries[key]

    def _evict_one(self) -> None:
        if not self._warned_full:
            log.warning("%s full (%d entries): dropping the entries nearest expiry", self.kind, self._max)
            self._warned_full = True
        while self._expiry:
            expires, key = heapq.heappop(self._expiry)
            entry = self._entries.get(key)
            if entry is not None and entry[1] == expires:
                del self._entries[key]
                return


class RedisState(SharedState):
    """A Redis server shared by the deployment. Commands fail with SharedStateError (never a raw client error)."""

    kind = "Redis shared state"
    shared = True

    def __init__(
        self, client: Redis, cipher: MultiFernet, *, prefix: str = "smart_app:", digest_key: bytes | None = None
    ) -> None:
        super().__init__(cipher, digest_key)
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(
        cls,
        url: str,
        cipher: MultiFernet,
        *,
        prefix: str = "smart_app:",
        timeout_s: float = 2.0,
        digest_key: bytes | None = None,
    ) -> RedisState:
        try:
            from redis.asyncio import Redis
        except ModuleNotFoundError as exc:  # pragma: no cover - redis is a main dependency
            raise SharedStateError(
                "SMART_APP_REDIS_URL is set but the Redis client is not installed: pip install redis"
            ) from exc
        try:
            client = Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        except ValueError as exc:
            raise SharedStateError("SMART_APP_REDIS_URL is not a redis://, rediss:// or unix:// URL") from exc
        return cls(client, cipher, prefix=prefix, digest_key=digest_key)

    async def claim(self, key: str, ttl_s: float) -> bool:
        return bool(await self._call("SET NX", self._redis.set(self._key(key), b"1", nx=True, px=_ms(ttl_s))))

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._call("SET", self._redis.set(self._key(key), value, px=_ms(ttl_s)))

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._call("GET", self._redis.get(self._key(key))))

    async def take(self, key: str) -> bytes | None:
        return _bytes(await self._call("GETDEL", self._redis.getdel(self._key(key))))

    async def delete(self, key: str) -> None:
        await self._call("DEL", self._redis.delete(self._key(key)))

    async def check(self) -> None:
        await self._call("PING", self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def _call(self, command: str, pending: Any) -> Any:
        from redis.exceptions import RedisError

        try:
            return await pending
        except RedisError as exc:
            raise SharedStateError(f"Redis {command} failed ({type(exc).__name__})") from exc


def state_cipher(key_setting: SecretStr | None) -> MultiFernet | None:
    """The cipher for `SMART_APP_STATE_KEY` (comma-separated Fernet keys), or None when it is unset."""
    keys = _state_keys(key_setting)
    if not keys:
        return None
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise SharedStateError(
            f"SMART_APP_STATE_KEY must be Fernet keys (32 url-safe base64 bytes each); make one with: {KEY_HINT}"
        ) from exc


def open_shared_state(settings: SharedStateSettings | None = None) -> SharedState | None:
    """The deployment's Redis store when `SMART_APP_REDIS_URL` is set, else None (each part keeps its own memory).

    Raises SharedStateError (one line) when Redis is configured without a usable `SMART_APP_STATE_KEY`.
    """
    settings = settings or SharedStateSettings()
    if not settings.shared:
        return None
    cipher = state_cipher(settings.state_key)
    if cipher is None:
        raise SharedStateError(
            "SMART_APP_STATE_KEY is required with SMART_APP_REDIS_URL (it encrypts tokens at rest in Redis); "
            f"make one with: {KEY_HINT}"
        )
    assert settings.redis_url is not None
    return RedisState.from_url(
        settings.redis_url.get_secret_value().strip(),
        cipher,
        prefix=settings.redis_prefix,
        timeout_s=settings.redis_timeout_s,
        digest_key=digest_key(settings.state_key),
    )


def digest_key(key_setting: SecretStr | None) -> bytes | None:
    """The keyed-digest key every worker derives from the first `SMART_APP_STATE_KEY` (never the encryption key
    itself); rotating that key changes the digests, so what they index is forgotten (e.g. cards shown at
    order-select are shown again at order-sign, the safe direction)."""
    keys = _state_keys(key_setting)
    if not keys:
        return None
    return hmac.new(base64.urlsafe_b64decode(keys[0]), b"smart_app keyed digest v1", hashlib.sha256).digest()


def _state_keys(key_setting: SecretStr | None) -> list[str]:
    """The keys of `SMART_APP_STATE_KEY`, newest first (comma-separated)."""
    raw = key_setting.get_secret_value() if key_setting is not None else ""
    return [part.strip() for part in raw.split(",") if part.strip()]


def _ms(ttl_s: float) -> int:
    return max(1, math.ceil(ttl_s * 1000))


def _bytes(value: Any) -> bytes | None:
    return bytes(value) if value is not None else None
