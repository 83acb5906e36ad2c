"""Which cards were already shown for a draft at order-select, so that order-sign does not repeat them needlessly.

An EHR that calls order-select and then order-sign for the same draft would otherwise show every precaution twice.
The memory holds only keyed hashes (HMAC of EHR, patient, draft, rule, subject and summary, with a per-process
secret key): no patient identifier is stored in readable form. It forgets after `ttl_s` and holds at most
`max_entries` keys (oldest dropped). A miss only means a card is shown again, the safe direction, so a restart or
another worker answering order-sign costs a repeat, never a lost alert; contraindications are shown at order-sign
whatever this memory says (core/alerts.py).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict

from smart_app.cds_hooks.context import HookRequest
from smart_app.core.outcomes import Outcome


class PresentedCards:
    def __init__(self, *, ttl_s: float = 8 * 3600, max_entries: int = 100_000) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl_s
        self._max = max_entries
        self._seen: OrderedDict[bytes, float] = OrderedDict()
        self._lock = threading.Lock()

    def _fingerprint(self, request: HookRequest, outcome: Outcome) -> bytes:
        parts = (request.fhir_server or "", request.patient_id or "", outcome.rule_id, outcome.subject or "")
        message = "\x1f".join((*parts, outcome.summary)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def remember(self, request: HookRequest, outcomes: tuple[Outcome, ...]) -> None:
        now = time.monotonic()
        with self._lock:
            for outcome in outcomes:
                key = self._fingerprint(request, outcome)
                self._seen[key] = now + self._ttl
                self._seen.move_to_end(key)
            while len(self._seen) > self._max:
                self._seen.popitem(last=False)

    def shown(self, request: HookRequest, outcome: Outcome) -> bool:
        key = self._fingerprint(request, outcome)
        with self._lock:
            expires = self._seen.get(key)
            if expires is None:
                return False
            if expires < time.monotonic():
                del self._seen[key]
                return False
            return True
