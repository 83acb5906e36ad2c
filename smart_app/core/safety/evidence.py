"""Which data count as current evidence, and how they are described in a finding.

Status rules (FHIR R4): a Condition counts when its clinicalStatus is active/recurrence/relapse (or absent, with no
abatement) and its verificationStatus is not refuted or entered-in-error; an Observation counts when its status is
final, amended, corrected or preliminary and it is dated no later than the evaluation time. Everything else
(resolved, inactive, remission, cancelled, entered-in-error, undated results) is never active evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_app.core.model import Coding, Condition, MedicationUse, Observation, PatientRecord, Quantity
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.terminology import describe_coding, value_set

ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
EXCLUDED_VERIFICATION = frozenset({"refuted", "entered-in-error"})
UNCONFIRMED_VERIFICATION = frozenset({"unconfirmed", "provisional", "differential"})
RESULT_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})


def is_active_condition(condition: Condition, on: datetime) -> bool:
    if condition.verification_status in EXCLUDED_VERIFICATION:
        return False
    if condition.clinical_status is not None:
        return condition.clinical_status in ACTIVE_CLINICAL
    # No clinicalStatus (allowed when unconfirmed): active unless it has abated or starts in the future.
    if condition.abatement is not None and condition.abatement <= on:
        return False
    return condition.onset is None or condition.onset <= on


@dataclass(frozen=True, slots=True)
class ConditionMatch:
    condition: Condition
    value_set: str

    @property
    def evidence(self) -> Evidence:
        c = self.condition
        coding = value_set(self.value_set).match(c.code)
        code = f" ({describe_coding(coding)})" if coding else ""
        status = c.clinical_status or "no clinical status"
        if c.verification_status in UNCONFIRMED_VERIFICATION:
            status += f", {c.verification_status}: not confirmed"
        return Evidence(c.reference, f"{c.code.label}{code}, {status}", c.onset or c.recorded)


def active_conditions(record: PatientRecord, names: Iterable[str], on: datetime) -> list[ConditionMatch]:
    """Active conditions in any of the named value sets, in the order given by `names`."""
    found: list[ConditionMatch] = []
    for name in names:
        vs = value_set(name)
        codings = vs.exact_codings
        candidates = record.conditions if codings is None else record.conditions_coded(codings)
        found.extend(ConditionMatch(c, name) for c in candidates if vs.contains(c.code) and is_active_condition(c, on))
    return found


def is_result(observation: Observation, on: datetime) -> bool:
    when = observation.when
    return observation.status in RESULT_STATUSES and when is not None and when <= on


def observations_in(
    record: PatientRecord, name: str, on: datetime, lookback_days: int | None = None
) -> list[Observation]:
    """Valid results coded in value set `name`, newest first, optionally within `lookback_days` of `on`."""
    vs = value_set(name)
    since = on - timedelta(days=lookback_days) if lookback_days is not None else None
    codings = vs.exact_codings
    candidates = record.observations if codings is None else record.observations_coded(codings)
    found = [
        o
        for o in candidates
        if vs.contains(o.code) and is_result(o, on) and (since is None or (o.when is not None and o.when >= since))
    ]
    return sorted(found, key=lambda o: o.when or on, reverse=True)


def latest(record: PatientRecord, name: str, on: datetime, lookback_days: int | None = None) -> Observation | None:
    found = observations_in(record, name, on, lookback_days)
    return found[0] if found else None


def observation_evidence(observation: Observation, value: str | None = None) -> Evidence:
    shown = value if value is not None else (str(observation.value_quantity) if observation.value_quantity else None)
    return Evidence(observation.reference, f"{observation.code.label} ({observation.status})", observation.when, shown)


def quantity_in(quantity: Quantity | None, units: Iterable[str]) -> float | None:
    """The value if the quantity's unit is one of `units` (case-sensitive UCUM first, then the human unit)."""
    if quantity is None or quantity.value is None:
        return None
    wanted = set(units)
    if (quantity.code and quantity.code in wanted) or (quantity.unit and quantity.unit in wanted):
        return quantity.value
    return None


def age_label(days: float) -> str:
    return f"{days:.0f} day{'s' if round(days) != 1 else ''} ago"


def days_before(on: datetime, when: datetime | None) -> float | None:
    return None if when is None else (on - when).total_seconds() / 86400


CURRENT_MEDICATION = frozenset({"active", "intended", "on-hold"})


def is_current_medication(med: MedicationUse) -> bool:
    """A medication the patient is taking now (draft orders are not yet taken)."""
    return not med.is_draft_order and med.status in CURRENT_MEDICATION


def medication_in(med: MedicationUse, name: str) -> Coding | str | None:
    """What places `med` in value set `name`: a coding of the medication or an ingredient, else (fallback for
    uncoded or product-coded entries) the value set's single-word ingredient name found as a word in its name."""
    vs = value_set(name)
    for concept in (med.medication, *(i.item for i in med.ingredients)):
        coding = vs.match(concept)
        if coding is not None:
            return coding
    text = " ".join(
        x
        for c in (med.medication, *(i.item for i in med.ingredients))
        for x in (c.text, *(d.display for d in c.codings))
        if x
    ).lower()
    for entry in vs.concepts:
        word = entry.display.lower()
        if " " not in word and re.search(rf"\b{re.escape(word)}\b", text):
            return word
    return None
