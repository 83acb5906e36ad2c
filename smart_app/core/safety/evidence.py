"""Which data count as current evidence, and how they are described in a finding.

Status rules (FHIR R4): a Condition counts when its clinicalStatus is active/recurrence/relapse (or absent, with no
abatement) and its verificationStatus is not refuted or entered-in-error; an Observation counts when its status is
final, amended, corrected or preliminary and it is dated no later than the evaluation time. Everything else
(resolved, inactive, remission, cancelled, entered-in-error, undated results) is never active evidence.

Recency: a Condition coded only with a concept's episode codes (myocardial infarction, brain or eye injury,
intoxication, pregnancy: mappings/concepts.json) counts only while its onset, else its recordedDate, is within the
concept's window (a local default, e.g. acute_episode_days); an undated one counts, and its evidence says so.
Codes a concept excludes (history-of, suspected, sequela, remission ...) never reach a rule: see terminology.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smart_app.caching import memo_cache
from smart_app.config import LocalDefaults, local_defaults
from smart_app.core.model import (
    Coding,
    Concept,
    Condition,
    Ingredient,
    MedicationUse,
    Observation,
    PatientRecord,
    Quantity,
    quick_frozen,
)
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.terminology import ValueSet, describe_coding, value_set

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


@quick_frozen
@dataclass(frozen=True, slots=True)
class ConditionMatch:
    condition: Condition
    value_set: str
    recency: str | None = None  # for an episode code: how recent it is, against which local default

    @property
    def evidence(self) -> Evidence:
        c = self.condition
        coding = value_set(self.value_set).match(c.code)
        code = f" ({describe_coding(coding)})" if coding else ""
        status = c.clinical_status or "no clinical status"
        if c.verification_status in UNCONFIRMED_VERIFICATION:
            status += f", {c.verification_status}: not confirmed"
        if self.recency:
            status += f", {self.recency}"
        return Evidence(c.reference, f"{c.code.label}{code}, {status}", c.onset or c.recorded)


def _recency(vs: ValueSet, condition: Condition, on: datetime, settings: LocalDefaults) -> tuple[bool, str | None]:
    """Whether `condition` counts for `vs` now, and (for episode codes) a note on its recency.

    Any matching coding that is not an episode code counts as it is; episode codes count while dated within their
    window (onset, else recordedDate), and undated ones count with a note that recency is unknown."""
    windows = []
    for coding in condition.code.codings:
        if coding.system and coding.code and vs.contains_coding(coding):
            window = vs.episode_window(coding)
            if window is None:
                return True, None
            windows.append(window)
    if not windows:
        return False, None
    setting = max(windows, key=lambda name: int(getattr(settings, name)))
    days = int(getattr(settings, setting))
    when = condition.onset or condition.recorded
    if when is None:
        return True, f"undated episode code: recency unknown (local default {setting} = {days} days)"
    age = (on - when).total_seconds() / 86400
    if age > days:
        return False, None
    what = "onset" if condition.onset else "recorded"
    return True, f"{what} {age:.0f} days ago, within {days} days (local default {setting})"


def active_conditions(
    record: PatientRecord, names: Iterable[str], on: datetime, settings: LocalDefaults | None = None
) -> list[ConditionMatch]:
    """Active, current conditions in any of the named value sets, in the order given by `names`.

    Each condition is reported once, under the first named set it counts for (a set that names another concept's
    codes as its own exclusion keeps them apart across calls as well)."""
    s = settings or local_defaults()
    found: list[ConditionMatch] = []
    seen: set[int] = set()
    for name in names:
        vs = value_set(name)
        for c in record.conditions_coded(vs.exact_codings):
            if id(c) in seen or not is_active_condition(c, on):
                continue
            counts, recency = _recency(vs, c, on, s)
            if counts:
                seen.add(id(c))
                found.append(ConditionMatch(c, name, recency))
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
    found = [
        o
        for o in record.observations_coded(vs.exact_codings)
        if is_result(o, on) and (since is None or (o.when is not None and o.when >= since))
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
    """What places `med` in value set `name`: a coding of the medication or of an ingredient, else (for uncoded or
    product-coded entries, e.g. a fixed-dose combination no set lists) one of the set's ingredient words found as a
    word in the medication's or an ingredient's text or display (mappings/concepts.json 'words')."""
    return _medication_in(med.medication, med.ingredients, name)


# Several rules ask of every medication whether it is in their value set; the answer depends only on its concepts
# (value sets are fixed at import), which recur across patients.
@memo_cache(2 * 1024 * 1024)
def _medication_in(medication: Concept, ingredients: tuple[Ingredient, ...], name: str) -> Coding | str | None:
    vs = value_set(name)
    concepts = (medication, *(i.item for i in ingredients))
    for concept in concepts:
        coding = vs.match(concept)
        if coding is not None:
            return coding
    if not vs.words:
        return None
    text = " ".join(x for c in concepts for x in (c.text, *(d.display for d in c.codings)) if x).lower()
    return next((word for word in re.findall(r"[a-z][a-z-]*", text) if word in vs.words), None)
