"""A retried hook call gets the answer the first call got.

CDS clients retry a call they gave up waiting for, with the same hookInstance and the same body. Answering the
retry from the first answer, for a short window, gives the clinician the same cards (the same card uuids, so
feedback on either maps to one card), counts the cards once in the card-issued analytics, and costs the service
a lookup instead of a second evaluation.

Only a byte-identical body to the same service from the same authenticated client matches: a changed order, a
new hookInstance or another client is a new call. An answer that named missing or unreadable data (it carries
the data card) is never kept, so a retry after a FHIR server timeout fetches again. The memory is per process,
bounded in bytes, and forgets after `window_s`; keys are keyed hashes (HMAC with a per-process secret), so no
request content is held in readable form in the keys, and the kept answers are what was already sent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from smart_app.caching import ByteBoundedLRU

MAX_BYTES = 8 * 1024 * 1024  # ~50 answers of the 149 KB benchmark answer: a retry follows within seconds
MAX_ANSWER_BYTES = 2 * 1024 * 1024  # a larger answer is sent, not kept


class RetryMemo:
    def __init__(self, window_s: float, *, max_bytes: int = MAX_BYTES) -> None:
        self.window_s = window_s
        self._secret = secrets.token_bytes(32)
        self._answers: ByteBoundedLRU[bytes, tuple[float, bytes]] = ByteBoundedLRU(
            max_bytes, max_entries=10_000, max_entry_bytes=MAX_ANSWER_BYTES
        )

    @property
    def enabled(self) -> bool:
        return self.window_s > 0

    def key(self, service_id: str, client: str, body: bytes) -> bytes:
        digest = hmac.new(self._secret, digestmod=hashlib.sha256)
        digest.update(f"{service_id}\x1f{client}\x1f".encode())
        digest.update(body)
        return digest.digest()

    def answer(self, key: bytes) -> bytes | None:
        """The first call's answer when this call repeats it within the window, else None."""
        found: tuple[float, bytes] | None = self._answers.get(key)
        if found is None:
            return None
        expires, answer = found
        return answer if time.monotonic() < expires else None

    def keep(self, key: bytes, answer: bytes) -> None:
        self._answers.put(key, (time.monotonic() + self.window_s, answer), len(key) + len(answer))
