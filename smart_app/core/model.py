"""Typed, FHIR-shaped patient data for the clinical core.

The clinical core (MME, safety rules, protocols) works only on these frozen dataclasses, never on raw JSON or on
HTTP clients. `smart_app.fhir` builds them from FHIR R4 resources. Fields keep FHIR's names and meaning so that a
finding can point back at the resource and element it came from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import MISSING, dataclass, field, fields
from datetime import date, datetime
from typing import Any, Literal, Protocol, TypeVar

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ORDERABLE_DRUG_FORM = "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm"


def normalise_code(system: str, code: str) -> str:
    """A code as compared: trimmed; ICD-10-CM also without dots and upper-case ("I10." and "h4010x0" are sent)."""
    code = code.strip()
    return code.replace(".", "").upper() if system == ICD10CM else code


_Class = TypeVar("_Class", bound=type)


class HashOnce:
    """Base of the frozen values that the core's memos take as keys (a Dosage, a Concept, an OpioidProduct): a slot
    for the hash, worked out on the first `hash()` and kept (the value is immutable, so its hash cannot change).
    A memo look-up would otherwise hash the whole tree of nested values again on every call."""

    __slots__ = ("_hash",)


def quick_frozen(cls: _Class) -> _Class:
    """Give a frozen slots dataclass an `__init__` that is about twice as fast, the same in every other way.

    The dataclass `__init__` of a frozen class stores each field with `object.__setattr__(self, name, value)`
    (it must bypass the `__setattr__` that makes instances read-only); this one calls each slot's own setter,
    looked up once, which skips the name look-up and the generic attribute protocol. Same parameters, order and
    defaults, so keyword and positional calls (smart_app.fhir builds these) and `dataclasses.replace` are
    unchanged; instances stay read-only. A `HashOnce` class also gets a kept hash, equal to the dataclass's own
    (the hash of the tuple of its fields). Apply above `@dataclass(frozen=True, slots=True)`."""
    if hasattr(cls, "__post_init__"):  # this __init__ would not call it
        raise TypeError(f"{cls.__name__}: quick_frozen cannot keep a __post_init__")
    params: list[str] = []
    body: list[str] = []
    namespace: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init or f.default_factory is not MISSING:
            raise TypeError(f"{cls.__name__}.{f.name}: quick_frozen takes plain fields with plain defaults only")
        if f.default is MISSING:
            params.append(f.name)
        else:
            namespace[f"_default_{f.name}"] = f.default
            params.append(f"{f.name}=_default_{f.name}")
        namespace[f"_set_{f.name}"] = cls.__dict__[f.name].__set__
        body.append(f"    _set_{f.name}(self, {f.name})")
    hashed = issubclass(cls, HashOnce)
    if hashed:
        namespace["_set_hash"] = HashOnce.__dict__["_hash"].__set__
        body.append("    _set_hash(self, None)")
        # The dataclass's own hash: of the tuple of the compared fields, in order.
        key = "".join(f"self.{f.name}, " for f in fields(cls) if f.compare and f.hash is not False)
        hash_source = (
            "def __hash__(self) -> int:\n"
            "    try:\n"
            "        found = self._hash\n"
            "    except AttributeError:\n"  # unpickled or copied: the dataclass's __setstate__ sets the fields only
            "        found = None\n"
            "    if found is None:\n"
            f"        found = hash(({key}))\n"
            "        _set_hash(self, found)\n"
            "    return found\n"
        )
        exec(hash_source, namespace)
        cls.__hash__ = namespace["__hash__"]  # type: ignore[method-assign]
    source = f"def __init__(self, {', '.join(params)}) -> None:\n" + "\n".join(body) + "\n"
    exec(source, namespace)  # as dataclasses itself writes __init__: one plain function, no loop per call
    init: Callable[..., None] = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__annotations__ = dict(cls.__init__.__annotations__)  # type: ignore[misc]
    cls.__init__ = init  # type: ignore[misc]
    return cls


@quick_frozen
@dataclass(frozen=True, slots=True)
class Coding(HashOnce):
    system: str | None
    code: str | None
    display: str | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class Concept(HashOnce):
    """A CodeableConcept: codings plus free text."""

    codings: tuple[Coding, ...] = ()
    text: str | None = None

    def codes(self, system: str) -> Iterator[str]:
        for coding in self.codings:
            if coding.system == system and coding.code:
                yield coding.code

    def has(self, system: str, code: str) -> bool:
        return any(c.system == system and c.code == code for c in self.codings)

    @property
    def label(self) -> str:
        """Best human-readable name: text, then the first display, then the first code."""
        if self.text:
            return self.text
        for coding in self.codings:
            if coding.display:
                return coding.display
        for coding in self.codings:
            if coding.code:
                return f"{coding.system or '?'}|{coding.code}"
        return "(no code or name)"


@quick_frozen
@dataclass(frozen=True, slots=True)
class Quantity(HashOnce):
    value: float | None
    unit: str | None = None
    system: str | None = None
    code: str | None = None

    @property
    def unit_key(self) -> str:
        """The unit as written (code preferred over the human unit), for table look-ups."""
        return (self.code or self.unit or "").strip()

    def __str__(self) -> str:
        value = "?" if self.value is None else f"{self.value:g}"
        return f"{value} {self.unit or self.code or ''}".strip()


@quick_frozen
@dataclass(frozen=True, slots=True)
class Ratio(HashOnce):
    numerator: Quantity | None
    denominator: Quantity | None


@quick_frozen
@dataclass(frozen=True, slots=True)
class Period(HashOnce):
    start: datetime | None = None
    end: datetime | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class TimingRepeat(HashOnce):
    frequency: int | None = None
    frequency_max: int | None = None
    period: float | None = None
    period_max: float | None = None
    period_unit: str | None = None
    time_of_day: tuple[str, ...] = ()
    when: tuple[str, ...] = ()
    day_of_week: tuple[str, ...] = ()
    duration: float | None = None
    duration_max: float | None = None
    duration_unit: str | None = None
    count: int | None = None
    count_max: int | None = None
    bounds_duration: Quantity | None = None
    bounds_period: Period | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class Timing(HashOnce):
    repeat: TimingRepeat | None = None
    code: Concept | None = None
    events: tuple[datetime, ...] = ()


@quick_frozen
@dataclass(frozen=True, slots=True)
class DoseAndRate(HashOnce):
    """One Dosage.doseAndRate entry. `type` says how it was stated (dose-rate-type: ordered, calculated; Epic also
    sends admin-amount): an order may state the same dose several ways, and the ordered one is preferred."""

    dose: Quantity | None = None
    dose_low: Quantity | None = None
    dose_high: Quantity | None = None
    rate: Quantity | None = None
    rate_low: Quantity | None = None
    rate_high: Quantity | None = None
    rate_ratio: Ratio | None = None
    type: Concept | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class Dosage(HashOnce):
    """One dosage instruction. `sequence`: instructions with the same sequence are concurrent (they add), different
    sequences are successive steps (a taper, a loading dose then an infusion); None when the order does not say."""

    text: str | None = None
    timing: Timing | None = None
    as_needed: bool = False
    route: Concept | None = None
    method: Concept | None = None
    dose_and_rate: tuple[DoseAndRate, ...] = ()
    max_dose_per_period: Ratio | None = None
    max_dose_per_administration: Quantity | None = None
    sequence: int | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class Ingredient(HashOnce):
    item: Concept
    strength: Ratio | None = None
    is_active: bool | None = None


MedicationSource = Literal["MedicationRequest", "MedicationStatement", "MedicationAdministration"]


@quick_frozen
@dataclass(frozen=True, slots=True)
class MedicationUse:
    """One MedicationRequest, MedicationStatement or MedicationAdministration, with its Medication resolved."""

    resource_type: MedicationSource
    id: str
    status: str | None
    medication: Concept
    intent: str | None = None
    category: tuple[Concept, ...] = ()
    form: Concept | None = None
    ingredients: tuple[Ingredient, ...] = ()
    dosages: tuple[Dosage, ...] = ()
    recorded: datetime | None = None  # authoredOn / dateAsserted / effective start
    effective: Period | None = None
    repeats_allowed: int | None = None  # dispenseRequest.numberOfRepeatsAllowed
    expected_supply: Quantity | None = None  # dispenseRequest.expectedSupplyDuration (a duration: d, wk, mo)
    is_draft_order: bool = False  # from the CDS Hooks context (draftOrders / selections)
    prior_prescription: str | None = None  # MedicationRequest.priorPrescription: the order this one renews/replaces
    # Why the order could not be read in full (e.g. invalid FHIR in its dosage): the drug is known, its dose is not.
    unreadable: str | None = None

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class ReferenceRange:
    low: Quantity | None = None
    high: Quantity | None = None
    text: str | None = None


@quick_frozen
@dataclass(frozen=True, slots=True)
class ObservationComponent:
    code: Concept
    value_quantity: Quantity | None = None
    value_concept: Concept | None = None
    value_string: str | None = None
    interpretation: tuple[Concept, ...] = ()


@quick_frozen
@dataclass(frozen=True, slots=True)
class Observation:
    id: str
    status: str | None
    code: Concept
    effective: datetime | None = None
    issued: datetime | None = None
    value_quantity: Quantity | None = None
    value_concept: Concept | None = None
    value_string: str | None = None
    value_boolean: bool | None = None
    interpretation: tuple[Concept, ...] = ()
    reference_range: tuple[ReferenceRange, ...] = ()
    components: tuple[ObservationComponent, ...] = ()
    category: tuple[Concept, ...] = ()

    @property
    def reference(self) -> str:
        return f"Observation/{self.id}"

    @property
    def when(self) -> datetime | None:
        return self.effective or self.issued


@quick_frozen
@dataclass(frozen=True, slots=True)
class Condition:
    id: str
    code: Concept
    clinical_status: str | None = None  # active | recurrence | relapse | inactive | remission | resolved
    verification_status: str | None = None  # unconfirmed | provisional | differential | confirmed | refuted | ...
    category: tuple[Concept, ...] = ()
    severity: Concept | None = None
    onset: datetime | None = None
    abatement: datetime | None = None
    recorded: datetime | None = None

    @property
    def reference(self) -> str:
        return f"Condition/{self.id}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class AllergyIntolerance:
    id: str
    code: Concept
    clinical_status: str | None = None
    verification_status: str | None = None
    recorded: datetime | None = None

    @property
    def reference(self) -> str:
        return f"AllergyIntolerance/{self.id}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    status: str | None
    category: tuple[Concept, ...] = ()
    scope: Concept | None = None
    date_time: datetime | None = None
    provision_type: str | None = None  # permit | deny
    text: str | None = None

    @property
    def reference(self) -> str:
        return f"Consent/{self.id}"


@quick_frozen
@dataclass(frozen=True, slots=True)
class ServiceOrder:
    """A ServiceRequest (a test order); the draft ones come from the CDS Hooks context (draftOrders)."""

    id: str
    status: str | None
    code: Concept
    authored: datetime | None = None
    is_draft_order: bool = False

    @property
    def reference(self) -> str:
        return f"ServiceRequest/{self.id}"


# One answer of a QuestionnaireResponse item, typed as the questionnaire asked it.
Answer = bool | int | float | str | date | datetime | Coding


@quick_frozen
@dataclass(frozen=True, slots=True)
class QuestionnaireAnswers:
    """A QuestionnaireResponse flattened to its answers by linkId (groups are walked; the core reads only the
    project's follow-up questionnaire, mappings/follow_up_questionnaire.json)."""

    id: str
    status: str | None  # in-progress | completed | amended | entered-in-error | stopped
    questionnaire: str | None  # canonical URL, without its |version
    authored: datetime | None
    subject: str | None = None  # "Patient/abc" as the response names it
    answers: tuple[tuple[str, Answer], ...] = ()  # (linkId, answer), in document order

    @property
    def reference(self) -> str:
        return f"QuestionnaireResponse/{self.id}"

    def get(self, link_id: str) -> Answer | None:
        return next((value for key, value in self.answers if key == link_id), None)


# The categories of patient data the clinical core reads, by FHIR resource type.
DataCategory = Literal[
    "Patient",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "MedicationAdministration",
    "AllergyIntolerance",
    "Consent",
    "QuestionnaireResponse",
]


@quick_frozen
@dataclass(frozen=True, slots=True)
class DataGap:
    """A category of the patient's data the caller could not supply, wholly or in part (`partial`), and why."""

    resource_type: DataCategory
    reason: str
    partial: bool = False


@quick_frozen
@dataclass(frozen=True, slots=True)
class Demographics:
    id: str | None = None
    birth_date: date | None = None
    gender: str | None = None

    def age_on(self, on: date) -> int | None:
        if self.birth_date is None:
            return None
        years = on.year - self.birth_date.year
        if (on.month, on.day) < (self.birth_date.month, self.birth_date.day):
            years -= 1
        return years


@quick_frozen
@dataclass(frozen=True, slots=True)
class InputProblem:
    """A resource that could not be read; reported, never silently dropped."""

    reference: str  # "MedicationRequest/abc", or "entry[3]" when there is no id
    message: str


@dataclass(frozen=True, slots=True)
class PatientRecord:
    """Everything the clinical core knows about one patient, as of the data it was given."""

    demographics: Demographics = field(default_factory=Demographics)
    medications: tuple[MedicationUse, ...] = ()
    conditions: tuple[Condition, ...] = ()
    observations: tuple[Observation, ...] = ()
    allergies: tuple[AllergyIntolerance, ...] = ()
    consents: tuple[ConsentRecord, ...] = ()
    service_orders: tuple[ServiceOrder, ...] = ()
    questionnaire_responses: tuple[QuestionnaireAnswers, ...] = ()  # follow-up answers (response, adverse effects)
    problems: tuple[InputProblem, ...] = ()
    gaps: tuple[DataGap, ...] = ()  # data the caller could not supply: a rule needing it cannot say "none found"
    # What was left out to keep the answer within its deadline (the newest resources of a type are kept), one
    # sentence each for the data card.
    truncated: tuple[str, ...] = ()
    # Observations and conditions by normalised (system, code), built once: rules look up several value sets in
    # every call, and scanning the whole record for each would dominate a call's time.
    _observations_by_coding: dict[tuple[str, str], tuple[Observation, ...]] = field(
        init=False, repr=False, compare=False
    )
    _conditions_by_coding: dict[tuple[str, str], tuple[Condition, ...]] = field(init=False, repr=False, compare=False)
    # The answers for each value set's codings (a frozenset, asked of by many rules: one value set is read by
    # several, and some rules read many sets), kept with this record: the record cannot change, so neither can they.
    _observations_selected: dict[frozenset[tuple[str, str]], tuple[Observation, ...]] = field(
        init=False, repr=False, compare=False
    )
    _conditions_selected: dict[frozenset[tuple[str, str]], tuple[Condition, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_observations_by_coding", _index_by_coding(self.observations))
        object.__setattr__(self, "_conditions_by_coding", _index_by_coding(self.conditions))
        object.__setattr__(self, "_observations_selected", {})
        object.__setattr__(self, "_conditions_selected", {})

    def observations_coded(self, codings: Iterable[tuple[str, str]]) -> list[Observation]:
        """Observations with any of the given normalised (system, code) codings, each once, in record order."""
        if isinstance(codings, frozenset):
            return _kept(self.observations, self._observations_by_coding, self._observations_selected, codings)
        return _select(self.observations, self._observations_by_coding, codings)

    def conditions_coded(self, codings: Iterable[tuple[str, str]]) -> list[Condition]:
        """Conditions with any of the given normalised (system, code) codings, each once, in record order."""
        if isinstance(codings, frozenset):
            return _kept(self.conditions, self._conditions_by_coding, self._conditions_selected, codings)
        return _select(self.conditions, self._conditions_by_coding, codings)


class _Coded(Protocol):
    @property
    def code(self) -> Concept: ...


_C = TypeVar("_C", bound=_Coded)
T = TypeVar("T")


def _index_by_coding(items: tuple[_C, ...]) -> dict[tuple[str, str], tuple[_C, ...]]:
    index: dict[tuple[str, str], list[_C]] = {}
    for item in items:
        for key in {(c.system, normalise_code(c.system, c.code)) for c in item.code.codings if c.system and c.code}:
            index.setdefault(key, []).append(item)
    return {k: tuple(v) for k, v in index.items()}


def _kept(
    items: tuple[T, ...],
    index: dict[tuple[str, str], tuple[T, ...]],
    kept: dict[frozenset[tuple[str, str]], tuple[T, ...]],
    keys: frozenset[tuple[str, str]],
) -> list[T]:
    """`_select` of a frozen set of codings, worked out once per record and set (a frozenset keeps its own hash,
    so the look-up does not walk its thousands of codes). A new list each time: callers may change theirs."""
    found = kept.get(keys)
    if found is None:
        found = kept[keys] = tuple(_select(items, index, keys))
    return list(found)


def _select(
    items: tuple[T, ...], index: dict[tuple[str, str], tuple[T, ...]], keys: Iterable[tuple[str, str]]
) -> list[T]:
    if isinstance(keys, set | frozenset) and len(keys) > len(index):
        keys = [key for key in index if key in keys]  # a value set has thousands of codes, a record few: probe those
    found = {id(item): item for key in keys for item in index.get(key, ())}
    return [item for item in items if id(item) in found] if len(found) > 1 else list(found.values())
