"""The ketamine protocol catalogue (mappings/protocols.json) as typed, frozen dataclasses.

The JSON is the single place where doses, citations and companion orders live; this module only types it and
checks its shape once at load, so a bad edit to the catalogue fails at start-up rather than in an order.

Every protocol states the regimen its source studied (`Regimen`: what was given, its cumulative dose, the passage),
its dose basis (per kg of actual body weight, or a fixed mg/h as studied) and, where the source states one, its
concentration. Every order set carries written off-label consent and nil-per-os as instructions (the alert policy
relies on it: they are not cards), a stop plan and a response review.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, cast

from smart_app.core.outcomes import Citation
from smart_app.mappings import read_json

ProtocolKind = Literal["recommended", "illustrative-not-endorsed", "research-only"]
Setting = Literal["outpatient", "inpatient", "monitored", "community"]
Route = Literal["intravenous", "subcutaneous", "oral"]
Schedule = Literal["single", "daily", "weekdays", "continuous"]
Basis = Literal["weight", "fixed"]  # per kg of body weight, or a fixed mg/h (weight-independent, as studied)

# Instructions every order set carries (the alert policy shows consent and nil-per-os nowhere else), and a way to
# stop and to judge the response.
REQUIRED_INSTRUCTIONS = ("consent-off-label", "nil-per-os", "stop-plan", "response-criteria", "duration-of-benefit")

CATALOGUE_FILE = "protocols.json"


@dataclass(frozen=True, slots=True)
class RateRange:
    """Infusion rate (mg/kg/h, or mg/h for a fixed-dose regimen): where to start and the protocol's limits."""

    start: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class Dosing:
    form: Literal["infusion", "oral"]
    basis: Basis = "weight"
    rate_mg_per_kg_h: RateRange | None = None  # weight-based infusions
    rate_mg_per_h: RateRange | None = None  # weight-independent infusions, as studied (Amr 2010, Zekry)
    rate_cap_mg_per_h: float | None = None  # absolute ceiling on top of the mg/kg/h limit (Schwartzman 2009)
    titration: str | None = None
    titration_step_mg_per_h: float | None = None  # a stated titration step (Zekry: +4 mg/h ...
    titration_every_h: float | None = None  # ... every 24 h); None: the source gives no step
    schedule: Schedule = "single"
    session_hours: float | None = None  # None: the local default outpatient length
    sessions: int = 1
    continuous_hours_min: float | None = None
    continuous_hours_max: float | None = None
    concentration_mg_per_ml: float | None = None  # the source's concentration; None: the local default
    preparation: str | None = None  # how the source prepared it ("200 mg in 50 mL saline")
    enforce_asra_minimum: bool = False  # lengthen the session to reach ASRA's minimum total dose
    repeat_note: str | None = None
    oral_mg_per_kg: float | None = None
    oral_every_h: float | None = None
    oral_days: float | None = None
    oral_max_mg_per_day: float | None = None  # a cap the source states (ASRA/ANZCA: 150 mg/day)

    @property
    def multi_day_or_serial(self) -> bool:
        """A course over several days (continuous for more than a day, several sessions, or days of oral doses):
        ASRA Table 6's "high doses at frequent intervals", so the order set carries baseline and post-course LFTs."""
        if self.form == "oral":
            return (self.oral_days or 0) > 1
        if self.schedule == "continuous":
            return (self.continuous_hours_max or 0) > 24
        return self.sessions > 1


@dataclass(frozen=True, slots=True)
class Regimen:
    """The regimen a protocol follows, as its source studied or stated it, and its cumulative dose."""

    summary: str
    cumulative: str
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class Instruction:
    """A non-order item the clinician must see (consent, opioid plan, follow-up, ...), with its source."""

    key: str
    text: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Protocol:
    id: str
    title: str
    kind: ProtocolKind
    route: Route
    setting: Setting
    grade: str  # the protocol's overall evidence grade, or why it has none
    dosing: Dosing
    citations: tuple[Citation, ...]
    disclaimer: str | None
    companion_medications: tuple[str, ...]
    includes_monitoring: bool
    instruction_keys: tuple[str, ...]
    notes: str
    regimen: Regimen

    @property
    def weight_basis(self) -> str:
        """Which weight the dose uses, in words (shown with every dose)."""
        dosing = self.dosing
        if dosing.basis == "fixed":
            return (
                "Fixed dose in mg/h, as studied (not weight-based); the body weight gives only the mg/kg/h "
                "equivalent and the monitored-setting check."
            )
        cap = (
            f" Capped at {dosing.oral_max_mg_per_day:g} mg/day as the source states."
            if dosing.oral_max_mg_per_day is not None
            else ""
        )
        cap += (
            f" Never more than {dosing.rate_cap_mg_per_h:g} mg/h, the regimen's absolute limit."
            if dosing.rate_cap_mg_per_h is not None
            else ""
        )
        return (
            "Dosed per kg of actual body weight (the most recent weight in the record); the sources do not "
            "say ideal or adjusted weight." + cap
        )

    @property
    def review_weeks(self) -> int:
        """When to review the response: ASRA Q8's duration of benefit (3 weeks after a single outpatient
        infusion, 6 weeks after an inpatient course or a series)."""
        single_outpatient = self.dosing.schedule == "single" and self.setting == "outpatient"
        return 3 if single_outpatient and self.dosing.form == "infusion" else 6

    @property
    def endorsed(self) -> bool:
        """Only recommended protocols may be offered as a default or a card suggestion."""
        return self.kind == "recommended"

    @property
    def kind_label(self) -> str:
        return {
            "recommended": "recommended regimen",
            "illustrative-not-endorsed": "illustration only, not endorsed by ANZCA",
            "research-only": "research context only",
        }[self.kind]

    @property
    def source(self) -> str:
        """'ASRA/AAPM/ASA ketamine consensus 2018, Guideline Question 3, L1286-1289, Grade C, low certainty'."""
        return str(self.citations[0])

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        table = instruction_table()
        return tuple(table[key] for key in self.instruction_keys)


class UnknownProtocolError(KeyError):
    """No protocol with this id in the catalogue."""


def citation_from(raw: dict[str, Any]) -> Citation:
    return Citation(
        document=str(raw["document"]),
        section=str(raw["section"]),
        lines=raw.get("lines"),
        grade=raw.get("grade"),
        quote=raw.get("quote"),
    )


def catalogue() -> dict[str, Any]:
    return cast(dict[str, Any], read_json(CATALOGUE_FILE))


@cache
def instruction_table() -> dict[str, Instruction]:
    return {
        key: Instruction(key=key, text=str(raw["text"]), citation=citation_from(raw["citation"]))
        for key, raw in catalogue()["instructions"].items()
    }


def _range(raw: dict[str, Any] | None) -> RateRange | None:
    return RateRange(float(raw["start"]), float(raw["min"]), float(raw["max"])) if raw else None


def _dosing(raw: dict[str, Any]) -> Dosing:
    hours = raw.get("continuous_hours") or {}
    return Dosing(
        form=raw["form"],
        basis=raw.get("basis", "weight"),
        rate_mg_per_kg_h=_range(raw.get("rate_mg_per_kg_h")),
        rate_mg_per_h=_range(raw.get("rate_mg_per_h")),
        rate_cap_mg_per_h=raw.get("rate_cap_mg_per_h"),
        titration=raw.get("titration"),
        titration_step_mg_per_h=raw.get("titration_step_mg_per_h"),
        titration_every_h=raw.get("titration_every_h"),
        schedule=raw.get("schedule", "single"),
        session_hours=raw.get("session_hours"),
        sessions=int(raw.get("sessions", 1)),
        continuous_hours_min=hours.get("min"),
        continuous_hours_max=hours.get("max"),
        concentration_mg_per_ml=raw.get("concentration_mg_per_ml"),
        preparation=raw.get("preparation"),
        enforce_asra_minimum=bool(raw.get("enforce_asra_minimum", False)),
        repeat_note=raw.get("repeat_note"),
        oral_mg_per_kg=raw.get("oral_mg_per_kg"),
        oral_every_h=raw.get("oral_every_h"),
        oral_days=raw.get("oral_days"),
        oral_max_mg_per_day=raw.get("oral_max_mg_per_day"),
    )


def _regimen(raw: dict[str, Any]) -> Regimen:
    return Regimen(
        summary=str(raw["summary"]),
        cumulative=str(raw["cumulative"]),
        citations=tuple(citation_from(c) for c in raw["citations"]),
    )


def _protocol(raw: dict[str, Any]) -> Protocol:
    companions = raw["companions"]
    protocol = Protocol(
        id=str(raw["id"]),
        title=str(raw["title"]),
        kind=raw["kind"],
        route=raw["route"],
        setting=raw["setting"],
        grade=str(raw["grade"]),
        dosing=_dosing(raw["dosing"]),
        citations=tuple(citation_from(c) for c in raw["citations"]),
        disclaimer=raw.get("disclaimer"),
        companion_medications=tuple(companions["medications"]),
        includes_monitoring=bool(companions["monitoring"]),
        instruction_keys=tuple(raw["instructions"]),
        notes=str(raw.get("notes", "")),
        regimen=_regimen(raw["regimen"]),
    )
    _check(protocol)
    return protocol


def _check(protocol: Protocol) -> None:
    """Catalogue invariants the order builder relies on."""
    problems: list[str] = []
    dosing = protocol.dosing
    if not protocol.citations or not any(c.grade for c in protocol.citations):
        problems.append("needs at least one graded citation")
    if protocol.kind != "recommended" and not protocol.disclaimer:
        problems.append("a non-endorsed protocol must carry its source's disclaimer")
    if dosing.form == "infusion":
        if (dosing.rate_mg_per_kg_h is None) == (dosing.rate_mg_per_h is None):
            problems.append("an infusion needs exactly one of rate_mg_per_kg_h or rate_mg_per_h")
        if (dosing.basis == "fixed") != (dosing.rate_mg_per_h is not None):
            problems.append("basis 'fixed' goes with rate_mg_per_h, basis 'weight' with rate_mg_per_kg_h")
        rate = dosing.rate_mg_per_kg_h or dosing.rate_mg_per_h
        if rate and not (0 < rate.min <= rate.start <= rate.max):
            problems.append("rate must satisfy 0 < min <= start <= max")
        if dosing.schedule == "continuous" and dosing.continuous_hours_max is None:
            problems.append("a continuous infusion needs continuous_hours")
        if (dosing.titration_step_mg_per_h is None) != (dosing.titration_every_h is None):
            problems.append("a titration step needs both titration_step_mg_per_h and titration_every_h")
        if dosing.concentration_mg_per_ml is not None and dosing.concentration_mg_per_ml <= 0:
            problems.append("concentration_mg_per_ml must be above 0")
    elif None in (dosing.oral_mg_per_kg, dosing.oral_every_h, dosing.oral_days):
        problems.append("an oral protocol needs oral_mg_per_kg, oral_every_h and oral_days")
    if not protocol.regimen.citations:
        problems.append("the regimen must cite the source that studied or stated it")
    missing = [key for key in REQUIRED_INSTRUCTIONS if key not in protocol.instruction_keys]
    if missing:
        problems.append(f"every order set carries the instructions {missing}")
    unknown = set(protocol.instruction_keys) - set(instruction_table())
    unknown |= set(protocol.companion_medications) - set(catalogue()["companion_medications"])
    if unknown:
        problems.append(f"unknown instruction or companion keys {sorted(unknown)}")
    if problems:
        raise ValueError(f"{CATALOGUE_FILE}: protocol {protocol.id}: " + "; ".join(problems))


@cache
def _protocols() -> dict[str, Protocol]:
    return {p.id: p for p in (_protocol(raw) for raw in catalogue()["protocols"])}


def list_protocols() -> tuple[Protocol, ...]:
    """Every protocol, in catalogue order (recommended first)."""
    return tuple(_protocols().values())


def get_protocol(protocol_id: str) -> Protocol:
    """The protocol with this id; raises UnknownProtocolError (a KeyError) naming the known ids."""
    try:
        return _protocols()[protocol_id]
    except KeyError:
        known = ", ".join(_protocols())
        raise UnknownProtocolError(f"unknown protocol {protocol_id!r}; known: {known}") from None


def find_protocol(protocol_id: str) -> Protocol | None:
    """KeyError-safe lookup."""
    return _protocols().get(protocol_id)
