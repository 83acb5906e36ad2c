"""The memory of cards shown at order-select: one per calling client, EHR and patient, so one EHR's selection never
silences another's precaution at order-sign (two EHRs may send the same patient id, with no fhirServer)."""

from __future__ import annotations

import asyncio
from typing import Any

from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.presented import PresentedCards
from smart_app.core.outcomes import Citation, Outcome
from smart_app.storage.shared import MemoryState

PRECAUTION = Outcome(
    rule_id="CI-DEL",
    status="fired",
    summary="Delirium: a precaution for ketamine",
    citations=(Citation("ASRA", "Table 6"),),
    severity="warning",
    subject="MedicationRequest/draft-1",
)


def _request(patient: str = "123", fhir_server: str | None = None) -> HookRequest:
    body: dict[str, Any] = {"hook": "order-select", "hookInstance": "h-1", "context": {"patientId": patient}}
    if fhir_server is not None:
        body["fhirServer"] = fhir_server
    return HookRequest.model_validate(body)


def _select_then_sign(memory: PresentedCards, select: tuple[HookRequest, str], sign: tuple[HookRequest, str]) -> bool:
    """Whether order-sign (request, caller) finds the precaution shown at order-select (request, caller)."""

    async def run() -> bool:
        at_select = await memory.view(*select)
        at_select.remember((PRECAUTION,))
        await memory.save(at_select)
        return (await memory.view(*sign)).shown(PRECAUTION)

    return asyncio.run(run())


def test_the_same_client_ehr_and_patient_share_the_memory() -> None:
    ehr = ("https://ehr.example.org/fhir", "https://ehr.example.org/\x1fhospital-7")
    same = (_request(fhir_server=ehr[0]), ehr[1])
    assert _select_then_sign(PresentedCards(), same, same)


def test_another_client_with_the_same_patient_id_and_no_fhir_server_is_not_silenced() -> None:
    memory = PresentedCards()
    assert not _select_then_sign(memory, (_request(), "https://a.example/\x1f"), (_request(), "https://b.example/\x1f"))
    assert not _select_then_sign(
        memory, (_request(), "https://a.example/\x1ft1"), (_request(), "https://a.example/\x1ft2")
    )


def test_another_patient_or_ehr_is_not_silenced() -> None:
    memory = PresentedCards()
    assert not _select_then_sign(memory, (_request("123"), ""), (_request("456"), ""))
    a, b = _request(fhir_server="https://a.example/fhir"), _request(fhir_server="https://b.example/fhir")
    assert not _select_then_sign(memory, (a, ""), (b, ""))


def test_a_memory_that_is_forgotten_shows_the_card_again() -> None:
    memory = PresentedCards(ttl_s=0.001)

    async def run() -> bool:
        at_select = await memory.view(_request())
        at_select.remember((PRECAUTION,))
        await memory.save(at_select)
        await asyncio.sleep(0.01)
        return (await memory.view(_request())).shown(PRECAUTION)

    assert not asyncio.run(run())


def test_a_damaged_or_oversized_stored_value_is_read_within_the_bound() -> None:
    state = MemoryState(10)
    memory = PresentedCards(state, max_per_patient=4)

    async def run() -> tuple[int, bool]:
        at_select = await memory.view(_request())
        at_select.remember((PRECAUTION,))
        await memory.save(at_select)
        # The entry grows far past its bound and gains a torn digest (as a damaged write could leave it).
        stored = await state.get(at_select.key) or b""
        await state.put(at_select.key, bytes(32) * 1000 + stored + b"torn", 60)
        again = await memory.view(_request())
        return len(again.known), again.shown(PRECAUTION)

    assert asyncio.run(run()) == (4, True)
