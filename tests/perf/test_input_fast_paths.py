"""The input side's inline fast paths give what the plain functions give.

- `identity.screen_sources` matches the usual resource (a plain reference already matched, a plain id not seen
  yet) inline; for odd shapes (a reference that is not a string, an empty or non-string id, a Patient, a
  malformed element, a later copy) it falls back to `identity.belonging` and `identity._place`. The screen of
  drawn sources with such shapes must equal screening each resource with `belonging` and placing it with `_place`.
- `lean.observation_when` answers a date it has read before from its memo: the same as reading it afresh.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smart_app.fhir import identity, lean

BASE = "https://ehr.example.org/fhir"
REFERENCES: list[Any] = [
    "Patient/p1",
    f"{BASE}/Patient/p1",
    " Patient/p1 ",
    "Patient/p2",
    "Group/p1",
    "https://other.example/fhir/Patient/p1",
    5,
    None,
    ["Patient/p1"],
]
KINDS: list[Any] = ["Observation", "MedicationRequest", "Consent", "Patient", "Medication", None, 7]


@st.composite
def _resource(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(KINDS))
    resource: dict[str, Any] = {} if kind is None else {"resourceType": kind}
    if draw(st.integers(0, 5)):
        resource["id"] = draw(st.sampled_from(["a", "b", "p1", "p2", "", 3]))
    element = identity.PATIENT_ELEMENT.get(kind) if isinstance(kind, str) else None
    for name in {element or "subject", "subject"}:
        shape = draw(st.sampled_from(["reference", "none", "display", "malformed", "null"]))
        if shape == "reference":
            resource[name] = {"reference": draw(st.sampled_from(REFERENCES))}
        elif shape == "display":
            resource[name] = {"display": "someone"}
        elif shape == "malformed":
            resource[name] = "Patient/p1"
        elif shape == "null":
            resource[name] = None
    if draw(st.booleans()):
        resource["meta"] = {"lastUpdated": draw(st.sampled_from(["2026-01-01T00:00:00Z", "bad"])), "versionId": "2"}
    resource["value"] = draw(st.integers(0, 2))
    return resource


def _plain(sources: list[Any], patient_id: str, base: str | None) -> tuple[list[int], int, int, int]:
    slots: dict[object, int] = {}
    out: list[dict[str, Any]] = []
    foreign = unattributed = kept = 0
    for resources, scoped in sources:
        for resource in resources:
            whose = identity.belonging(resource, patient_id, base)
            if whose is identity.Belonging.OTHER or (whose is identity.Belonging.UNSTATED and not scoped):
                foreign += 1
                continue
            unattributed += whose is identity.Belonging.UNSTATED
            kept += 1
            identity._place(resource, slots, out)
    return [id(r) for r in out], foreign, unattributed, kept - len(out)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.lists(_resource(), max_size=10), st.booleans()), max_size=4),
    st.sampled_from([BASE, None]),
)
def test_the_inline_screen_is_belonging_then_place(sources: list[Any], base: str | None) -> None:
    screened = identity.screen_sources(sources, "p1", fhir_base=base)
    found = ([id(r) for r in screened.resources], screened.foreign, screened.unattributed, screened.duplicates)
    assert found == _plain(sources, "p1", base)


@given(
    st.sampled_from(["2026-01-02T03:04:05Z", "2026-01-02", "2026", "2026-02-30", "2026-01-02T03:04:05+05:00", 5]),
    st.sampled_from([None, "2026-01-01T00:00:00Z"]),
)
def test_a_remembered_date_reads_as_a_fresh_one(written: Any, issued: str | None) -> None:
    raw: dict[str, Any] = {"resourceType": "Observation", "effectiveDateTime": written}
    if issued is not None:
        raw["issued"] = issued

    def read() -> Any:
        try:
            return lean.observation_when(raw)
        except lean.Unusual:
            return "unusual"

    first = read()  # may fill the memo
    for memo in lean.MEMOS:  # forget every date read so far
        memo.clear()
    fresh = read()
    assert read() == first == fresh
