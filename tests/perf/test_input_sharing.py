"""The input side's shortcuts give what the plain path gives (smart_app.fhir.record, identity, drafts).

- `ParseMemo`: each draft and Medication is read once per hook call and shared by the call's records. The cards
  (findings, suggestions, the data card's notes on what could not be read) are compared with a run in which every
  record reads every resource again, over the benchmark's record varied with another patient's resources,
  duplicates, unreadable resources and drafts, and Medications sent several times. Two calls never share it.
- `identity.screen_sources`: the one-pass screen gives what screening each prefetch key and combining gave.
- The relevance filter is compared with no filter at all in tests/perf/test_relevance_kinds.py.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.workload import resources as workload_resources
from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.data import gather
from smart_app.cds_hooks.pipeline import run_service
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.request_builder import hook_request, prefetch_for
from smart_app.cds_hooks.services import default_registry
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.core.safety.windows import relevance_for
from smart_app.fhir import identity
from smart_app.fhir.drafts import read_drafts
from smart_app.fhir.record import ParseMemo, build_record, parse_resource
from tests import fhir_factory as f
from tests.cds_hooks.support import ketamine_infusion

ON = datetime(2026, 11, 20, 12, tzinfo=UTC)
SERVICE = "ketamine-safety-order-sign"
PATIENT = "bench-p"
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# -- the cards, with and without the per-call memo ----------------------------------------------------------------


def _record_resources() -> list[dict[str, Any]]:
    text = orjson.dumps(workload_resources(now=ON)).replace(b"XPATIENTX", PATIENT.encode())
    return list(orjson.loads(text.replace(b"XRIDX", b"r")))


def _unreadable_observation() -> dict[str, Any]:
    obs = f.weight(70, effective=(ON - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    obs["id"] = "bad-weight"
    obs["subject"] = {"reference": f"Patient/{PATIENT}"}
    obs["valueQuantity"]["value"] = "seventy"  # R4B refuses it: named on the data card
    return obs


def _variant(changes: frozenset[str]) -> dict[str, Any]:
    """The order-sign request for the benchmark's record with `changes` applied."""
    resources = _record_resources()
    meds = [r for r in resources if r["resourceType"] == "Medication"]
    extra: list[dict[str, Any]] = []
    if "foreign" in changes:
        psy = f.condition(f.SNOMED, "58214004", "Schizophrenia", rid="c-other")
        psy["subject"] = {"reference": "Patient/someone-else"}
        opioid = copy.deepcopy(next(r for r in resources if r["resourceType"] == "MedicationRequest"))
        opioid.update(id="mr-other", subject={"reference": "Patient/someone-else"})
        extra += [psy, opioid]
    if "duplicates" in changes:
        obs = next(r for r in resources if r["resourceType"] == "Observation")
        later = copy.deepcopy(obs)
        later["meta"] = {"lastUpdated": "2026-11-19T00:00:00Z", "versionId": "2"}
        extra += [copy.deepcopy(obs), later]
    if "unreadable" in changes:
        broken_request = copy.deepcopy(next(r for r in resources if r["resourceType"] == "MedicationRequest"))
        broken_request.update(id="mr-broken", status=7)
        extra += [_unreadable_observation(), broken_request, {**meds[0], "id": "med-broken", "code": "x"}]
    if "medication-versions" in changes:  # a later copy of a Medication that differs: the last one read counts
        extra.append({**meds[0], "code": {"text": "morphine sulfate 30 MG Oral Tablet"}})
    drafts: list[dict[str, Any]] = [ketamine_infusion(35)]
    if "salvaged-draft" in changes:
        broken = ketamine_infusion(35, rid="draft-broken")
        broken["dosageInstruction"][0]["doseAndRate"] = "fast"
        drafts.append(broken)
    if "referenced-draft" in changes:
        by_reference = ketamine_infusion(20, rid="draft-ref")
        del by_reference["medicationCodeableConcept"]
        by_reference["medicationReference"] = {"reference": f"Medication/{meds[1]['id']}"}
        drafts.append(by_reference)
    for draft in drafts:
        draft["subject"] = {"reference": f"Patient/{PATIENT}"}
    body = hook_request(
        "order-sign", patient_id=PATIENT, drafts=drafts, prefetch=prefetch_for([*resources, *extra], KETAMINE_QUERIES)
    )
    if "duplicates" in changes:  # the same resources again under another key
        observations = body["prefetch"]["observations"]["entry"]
        body["prefetch"]["conditions"]["entry"].extend(copy.deepcopy(observations[:3]))
    return body


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    service = default_registry().get(SERVICE)
    assert service is not None
    request = HookRequest.model_validate(orjson.loads(orjson.dumps(body)))  # fresh dicts, as from the wire
    cards = asyncio.run(run_service(service, request, ServiceSettings(auth_enabled=False), LocalDefaults(), on=ON))
    text = orjson.dumps([c.to_json() for c in cards]).decode()
    found: list[dict[str, Any]] = orjson.loads(_UUID.sub("<uuid>", text))  # new on every call
    return found


def _without_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every record reads every resource again: the plain path."""

    def parse(self: ParseMemo, raw: dict[str, Any], *, full: bool = False, numbers_checked: bool = False) -> Any:
        return parse_resource(raw, full=full, numbers_checked=numbers_checked)

    monkeypatch.setattr(ParseMemo, "parse", parse)
    monkeypatch.setattr(ParseMemo, "share", lambda self, copy, original: None)
    monkeypatch.setattr(ParseMemo, "__contains__", lambda self, key: False)


CHANGES = ("foreign", "duplicates", "unreadable", "medication-versions", "salvaged-draft", "referenced-draft")


@pytest.mark.parametrize(
    "changes",
    [frozenset(), frozenset(CHANGES), *(frozenset({c}) for c in CHANGES), frozenset(CHANGES[::2])],
    ids=lambda c: "+".join(sorted(c)) or "workload",
)
def test_sharing_the_reads_changes_no_card(changes: frozenset[str], monkeypatch: pytest.MonkeyPatch) -> None:
    body = _variant(changes)
    shared = _cards(body)
    with monkeypatch.context() as patched:
        _without_memo(patched)
        plain = _cards(body)
    assert shared == plain
    detail = " ".join(str(c.get("detail", "")) for c in shared)
    if "unreadable" in changes:
        assert all(name in detail for name in ("bad-weight", "mr-broken", "med-broken"))
    if "foreign" in changes:
        assert "of another patient were ignored" in detail


def test_a_memo_is_never_shared_by_two_calls() -> None:
    """Patient B's resources carry the ids patient A's had: B's cards come from B's data alone."""

    def with_condition(status: str) -> dict[str, Any]:
        body = _variant(frozenset())
        psy = f.condition(f.SNOMED, "58214004", "Schizophrenia", rid="c-psy", clinical_status=status)
        psy["subject"] = {"reference": f"Patient/{PATIENT}"}
        body["prefetch"]["conditions"]["entry"].append({"resource": psy})
        return body

    active, resolved = _cards(with_condition("active")), _cards(with_condition("resolved"))
    assert active != resolved  # the same ids, read anew: a resolved schizophrenia is not a contraindication
    assert _cards(with_condition("active")) == active


def test_drafts_read_with_a_memo_build_the_plain_record() -> None:
    body = _variant(frozenset(CHANGES))
    drafts = [e["resource"] for e in body["context"]["draftOrders"]["entry"]]
    meds = [r for r in _record_resources() if r["resourceType"] == "Medication"]
    medications = [*meds, *copy.deepcopy(meds), {**meds[0], "code": {"text": "other"}}]
    memo = ParseMemo()
    shared = read_drafts(drafts, medications, memo=memo)
    plain = read_drafts(drafts, medications, memo=ParseMemo())
    assert shared == plain
    resources = [*shared.medications, *_record_resources(), _unreadable_observation()]
    relevant = relevance_for(ON, LocalDefaults())
    twice = build_record(resources, draft_orders=shared.drafts, relevant=relevant, memo=memo)
    once = build_record(resources, draft_orders=shared.drafts, relevant=relevant)
    assert twice == once
    assert [p.reference for p in once.problems] == ["Observation/bad-weight"]


# -- one pass of screening and de-duplication --------------------------------------------------------------------

BASE = "https://ehr.example.org/fhir"
REFERENCES = ["Patient/p1", f"{BASE}/Patient/p1", "Patient/p2", "Group/p1", "https://other.example/fhir/Patient/p1"]


@st.composite
def _resource(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Observation", "Condition", "AllergyIntolerance", "Patient", "Medication"]))
    resource: dict[str, Any] = {"resourceType": kind}
    if draw(st.integers(0, 5)):
        resource["id"] = draw(st.sampled_from(["a", "b", "c", "p1", "p2"]))
    element = identity.PATIENT_ELEMENT.get(kind)
    if element is not None:
        shape = draw(st.sampled_from(["reference", "none", "display", "malformed"]))
        if shape == "reference":
            resource[element] = {"reference": draw(st.sampled_from(REFERENCES))}
        elif shape == "display":
            resource[element] = {"display": "someone"}
        elif shape == "malformed":
            resource[element] = "Patient/p1"
    if draw(st.booleans()):
        resource["meta"] = {
            "lastUpdated": draw(st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-01T00:00:00+01:00", "bad"])),
            "versionId": draw(st.sampled_from(["1", "2", "10", "x"])),
        }
    resource["value"] = draw(st.integers(0, 2))
    return resource


def _screened_before(sources: list[Any], patient_id: str, base: str | None) -> tuple[list[int], int, int, int]:
    """Each key screened (`identity.belonging`), de-duplicated, then all combined and de-duplicated again: the
    path before the one-pass screen, written out here as the reference: (kept ids, foreign, unattributed, dups)."""

    def dedupe(resources: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        out: list[dict[str, Any]] = []
        where: dict[object, int] = {}
        for resource in resources:
            key = identity._identity(resource)
            if key is None:
                out.append(resource)
            elif key not in where:
                where[key] = len(out)
                out.append(resource)
            elif identity._version(resource) > identity._version(out[where[key]]):
                out[where[key]] = resource
        return out, len(resources) - len(out)

    per_key: list[dict[str, Any]] = []
    foreign = unattributed = duplicates = 0
    for resources, scoped in sources:
        kept = []
        for resource in resources:
            whose = identity.belonging(resource, patient_id, base)
            if whose is identity.Belonging.OTHER or (whose is identity.Belonging.UNSTATED and not scoped):
                foreign += 1
                continue
            unattributed += whose is identity.Belonging.UNSTATED
            kept.append(resource)
        unique, dropped = dedupe(kept)
        per_key.extend(unique)
        duplicates += dropped
    combined, dropped = dedupe(per_key)
    return [id(r) for r in combined], foreign, unattributed, duplicates + dropped


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.lists(_resource(), max_size=8), st.booleans()), max_size=5),
    st.sampled_from([BASE, None]),
)
def test_one_pass_screens_as_each_key_then_combined(sources: list[Any], base: str | None) -> None:
    after = identity.screen_sources(sources, "p1", fhir_base=base)
    found = ([id(r) for r in after.resources], after.foreign, after.unattributed, after.duplicates)
    assert found == _screened_before(sources, "p1", base)
    per_key = identity.combine([identity.screen(r, "p1", fhir_base=base, patient_scoped=s) for r, s in sources])
    assert per_key == after


def _gathered_log(caplog: pytest.LogCaptureFixture, resources: list[dict[str, Any]]) -> list[logging.LogRecord]:
    body = hook_request("order-sign", patient_id=PATIENT, drafts=[], prefetch=prefetch_for(resources, KETAMINE_QUERIES))
    request = HookRequest.model_validate(body)
    with caplog.at_level(logging.DEBUG, logger="smart_app.cds_hooks.data"):
        asyncio.run(gather(request, KETAMINE_QUERIES, budget_s=1.0))
    return [r for r in caplog.records if r.name == "smart_app.cds_hooks.data"]


def test_duplicates_alone_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    records = _gathered_log(caplog, _record_resources())  # its Medications come with three keys
    assert records and all(r.levelno == logging.DEBUG for r in records)


def test_another_patients_resources_are_a_warning_without_identifiers(caplog: pytest.LogCaptureFixture) -> None:
    other = f.condition(f.SNOMED, "58214004", "Schizophrenia", rid="c-other")
    other["subject"] = {"reference": "Patient/someone-else"}
    records = _gathered_log(caplog, [*_record_resources(), other])
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    text = warnings[0].getMessage()
    assert "1 resource(s) of another patient" in text
    assert PATIENT not in text and "someone-else" not in text
