"""Which cards were already shown for a patient at order-select, so that order-sign does not repeat them needlessly.

An EHR that calls order-select and then order-sign for the same draft would otherwise show every precaution twice.
The memory lives in the deployment's shared state (`storage/shared.py`): Redis when configured, so order-select
answered by one worker and order-sign by another (or by another host) behave as one service; else this process's
memory. It holds only keyed digests (HMAC-SHA256 with a key every worker derives from `SMART_APP_STATE_KEY`, random
per process in memory): one entry per EHR and patient, whose value is the digests of the outcomes shown (rule,
subject and summary), at most `max_per_patient`, forgotten `ttl_s` after the last selection. No patient
identifier is stored in readable form.

A miss only means a card is shown again, the safe direction: a restart of the in-process memory, an unreachable
Redis (logged, never an error for the call) or a rotated key cost a repeat, never a lost alert; contraindications
are shown at order-sign whatever this memory says (core/alerts.py).

A hook handler is synchronous, so a call reads its patient's entry once before the handler (`view`), the handler
asks and records on that view, and the call writes what it added (`save`). Two order-selects for one patient at the
same moment may each write their own set (the last one wins): the other's cards are shown again at order-sign.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from smart_app.cds_hooks.context import HookRequest
from smart_app.core.outcomes import Outcome
from smart_app.storage.shared import MemoryState, SharedState, SharedStateError

log = logging.getLogger(__name__)

_DIGEST = 32  # bytes of one HMAC-SHA256 digest


class PresentedView:
    """One call's look at what earlier order-selects showed this patient, and what this call shows."""

    def __init__(self, state: SharedState, key: str, parts: tuple[str, ...], known: tuple[bytes, ...]) -> None:
        self.key = key
        self.known = known
        self.added: list[bytes] = []
        self._state = state
        self._parts = parts  # caller, EHR and patient
        self._known = frozenset(known)

    def _fingerprint(self, outcome: Outcome) -> bytes:
        return self._state.digest(*self._parts, outcome.rule_id, outcome.subject or "", outcome.summary)

    def shown(self, outcome: Outcome) -> bool:
        # Most patients had no card at order-select: nothing to hash then.
        return bool(self._known) and self._fingerprint(outcome) in self._known

    def remember(self, outcomes: Iterable[Outcome]) -> None:
        self.added.extend(self._fingerprint(o) for o in outcomes)


class PresentedCards:
    def __init__(
        self,
        state: SharedState | None = None,
        *,
        ttl_s: float = 8 * 3600,
        max_per_patient: int = 256,
        max_patients: int = 100_000,
    ) -> None:
        # `is not None`: an empty MemoryState is falsy (it has a length), and a given one must be used.
        self._state = (
            state
            if state is not None
            else MemoryState(max_patients, name="in-process memory of cards shown at order-select")
        )
        self._ttl = ttl_s
        self._max = max_per_patient

    async def view(self, request: HookRequest, caller: str = "") -> PresentedView:
        """`caller`: the authenticated client (issuer and tenant), so two EHRs that send the same patient id and no
        `fhirServer` never share a memory."""
        parts = (caller, request.fhir_server or "", request.patient_id or "")
        key = "presented:" + self._state.digest(*parts).hex()
        try:
            raw = await self._state.get(key) or b""
        except SharedStateError as exc:
            log.warning("cards shown at order-select could not be read (%s): order-sign may repeat them", exc)
            raw = b""
        # At most the newest `max_per_patient` whole digests, whatever the stored value's size (a damaged one).
        raw = raw[: len(raw) - len(raw) % _DIGEST][-self._max * _DIGEST :]
        known = tuple(raw[i : i + _DIGEST] for i in range(0, len(raw), _DIGEST))
        return PresentedView(self._state, key, parts, known)

    async def save(self, view: PresentedView) -> None:
        if not view.added:
            return
        # Oldest first, each once (a card shown again moves to the end), the newest `max_per_patient` kept.
        added = list(dict.fromkeys(view.added))
        again = set(added)
        merged = [*(d for d in view.known if d not in again), *added][-self._max :]
        try:
            await self._state.put(view.key, b"".join(merged), self._ttl)
        except SharedStateError as exc:
            log.warning("cards shown at order-select could not be remembered (%s): order-sign may repeat them", exc)
