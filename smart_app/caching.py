"""Caches bounded in bytes as well as in entries.

A cache keyed by what a caller sent (a resource's JSON, a medication name) must not grow with the size of what is
sent: 1,500 requests with a unique 1 MB note each would otherwise keep 1.5 GB. `ByteBoundedLRU` accounts an
estimate of each entry's size (key and value, plus a fixed overhead), evicts the least recently used entries
while the total is over `max_bytes`, and refuses entries larger than `max_entry_bytes` (they are computed, not
kept). `bounded_cache` is the decorator form for functions of hashable arguments. Thread-safe: the SMART app calls
the core from worker threads.

`memo_cache` is the same decorator on `ByteBoundedMemo`, for the clinical core's hot look-ups (the name and concept
caches of the MME engine and of the safety rules), asked hundreds of times per evaluation and almost always a hit:
`ByteBoundedLRU` takes a lock and moves the entry on every hit, `ByteBoundedMemo` is one `dict.get`, bounded in bytes
the same way (it forgets everything when full instead of the least recently used entry).
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, Generic, ParamSpec, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
P = ParamSpec("P")
R = TypeVar("R")

ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its key and value (dict slot, tuple, object headers)
_MISSING = object()


class ByteBoundedLRU(Generic[K, V]):
    def __init__(self, max_bytes: int, *, max_entries: int = 100_000, max_entry_bytes: int | None = None) -> None:
        if max_bytes <= 0 or max_entries <= 0:
            raise ValueError("a cache needs a positive size")
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.max_entry_bytes = max_entry_bytes if max_entry_bytes is not None else max(1, max_bytes // 16)
        self._data: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def bytes(self) -> int:
        """The accounted size of every entry now held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            found = self._data.get(key, _MISSING)
            if found is _MISSING:
                self.misses += 1
                return default
            self._data.move_to_end(key)
            self.hits += 1
            return found[0]  # type: ignore[index]

    def put(self, key: K, value: V, size: int) -> bool:
        """Keep `value` under `key`, accounted as `size` bytes; False (nothing kept) when the entry is too large."""
        size += ENTRY_OVERHEAD
        if size > self.max_entry_bytes:
            return False
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._data) > self.max_entries:
                _, (_, evicted) = self._data.popitem(last=False)
                self._bytes -= evicted
        return True

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0


def size_of(value: Any) -> int:
    """A cheap upper-bound estimate of what a key or value holds: strings and bytes by length, containers and
    dataclasses (slots or not) by their members, anything else as a fixed small object."""
    if value is None or isinstance(value, bool | int | float):
        return 32
    if isinstance(value, str | bytes):
        return sys.getsizeof(value)
    if isinstance(value, tuple | list | frozenset | set):
        return 56 + 8 * len(value) + sum(size_of(v) for v in value)
    if isinstance(value, dict):
        return 64 + 24 * len(value) + sum(size_of(k) + size_of(v) for k, v in value.items())
    slots = getattr(type(value), "__slots__", None)
    if slots:
        return 48 + sum(size_of(getattr(value, s, None)) for s in slots)
    fields = getattr(value, "__dict__", None)
    if fields:
        return 64 + size_of(fields)
    return 64


def bounded_cache(
    max_bytes: int, *, max_entries: int = 10_000, max_entry_bytes: int | None = None
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Like `functools.lru_cache` for positional hashable arguments, bounded in bytes (`size_of` of the arguments
    and the result). The wrapped function gets `cache` (the `ByteBoundedLRU`) and `cache_clear()`."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        store: ByteBoundedLRU[Any, Any] = ByteBoundedLRU(
            max_bytes, max_entries=max_entries, max_entry_bytes=max_entry_bytes
        )

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = args if not kwargs else (*args, tuple(sorted(kwargs.items())))
            found = store.get(key, _MISSING)
            if found is not _MISSING:
                return found  # type: ignore[no-any-return]
            result = func(*args, **kwargs)
            store.put(key, result, size_of(key) + size_of(result))
            return result

        wrapper.cache = store  # type: ignore[attr-defined]
        wrapper.cache_clear = store.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate


class ByteBoundedMemo(Generic[K, V]):
    """A memo for a hot path: a plain dict, bounded in bytes, that forgets everything when it would overflow.

    No recency bookkeeping (a lookup is one `dict.get`); `size` is the caller's estimate of an entry's bytes.
    Safe across threads under the GIL (single dict operations); the byte count may then be approximate."""

    def __init__(self, max_bytes: int, *, max_entry_bytes: int = 4096) -> None:
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self._data: dict[K, V] = {}
        self._bytes = 0
        self.get = self._data.get

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._data)

    def put(self, key: K, value: V, size: int) -> None:
        size += ENTRY_OVERHEAD
        if size > self.max_entry_bytes:
            return
        if self._bytes + size > self.max_bytes:
            self._data.clear()  # the same dict: `get` stays bound to it
            self._bytes = 0
        self._data[key] = value
        self._bytes += size

    def clear(self) -> None:
        self._data.clear()
        self._bytes = 0


def memo_cache(max_bytes: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoise a function of hashable arguments on a `ByteBoundedMemo`, bounded in bytes (`size_of` of the arguments
    and the result; an entry over 1/16 of the budget is computed, not kept). Keys are the positional arguments (all
    frozen values in the core), so a hit is the answer the function would give. The wrapper gets `cache` (the memo)
    and `cache_clear()`, as `bounded_cache` gives."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        store: ByteBoundedMemo[Any, Any] = ByteBoundedMemo(max_bytes, max_entry_bytes=max(1, max_bytes // 16))
        get = store.get

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = args if not kwargs else (*args, tuple(sorted(kwargs.items())))
            found: Any = get(key, _MISSING)
            if found is _MISSING:
                found = func(*args, **kwargs)
                store.put(key, found, size_of(key) + size_of(found))
            return found  # type: ignore[no-any-return]

        wrapper.cache = store  # type: ignore[attr-defined]
        wrapper.cache_clear = store.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
