"""`memo_cache`: `caching.bounded_cache` for the clinical core's hot look-ups, on a plain dict.

The name and concept caches of the MME engine and of the ketamine reader are asked hundreds of times per
evaluation (every medication, by several rules), almost always a hit. `bounded_cache`'s LRU takes a lock and moves
the entry on every hit; `caching.ByteBoundedMemo` is one `dict.get`, bounded in bytes the same way (it forgets
everything when full instead of the least recently used entry). Keys are the functions' positional arguments, all
frozen values, so a hit is the answer the function would give.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from smart_app.caching import ByteBoundedMemo, size_of

P = ParamSpec("P")
R = TypeVar("R")
_MISSING: Any = object()


def memo_cache(max_bytes: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Memoise a function of hashable arguments, bounded in bytes (`size_of` of the arguments and the
    result; an entry over 1/16 of the budget is computed, not kept). The wrapper gets `cache` (the memo) and
    `cache_clear()`, as `bounded_cache` gives."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        store: ByteBoundedMemo[Any, Any] = ByteBoundedMemo(max_bytes, max_entry_bytes=max(1, max_bytes // 16))
        get = store.get

        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            key = args if not kwargs else (*args, tuple(sorted(kwargs.items())))
            found = get(key, _MISSING)
            if found is _MISSING:
                found = func(*args, **kwargs)
                store.put(key, found, size_of(key) + size_of(found))
            return found  # type: ignore[no-any-return]

        wrapper.cache = store  # type: ignore[attr-defined]
        wrapper.cache_clear = store.clear  # type: ignore[attr-defined]
        return wrapper

    return decorate
