"""The ketamine protocol catalogue (mappings/protocols.json) as typed, frozen dataclasses.

The JSON is the single place where doses, citations and companion orders live; this module only types it and
checks its shape once at load, so a bad edit to the catalogue fails at start-up rather than in an order.
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

CATALOGUE_FILE = "protocols.json"


@dataclass(frozen=True, slots=True)
class RateRange:
    """Infusion rate in mg/kg/h: where to start and the protocol's limits."""

    start: float
    min: float
    max: float


@dataclass(frozen=True, slots=True)
class Dosing:
    form: Literal["infusion", "oral"]
    rate_mg_per_kg_h: RateRange | None = None  # weight-based infusions
    fixed_rate_mg_per_h: float | None = None  # weight-independent infusions (Amr 2010)
    rate_cap_mg_per_h: float | None = None  # absolute ceiling on top of the mg/kg/h limit (Schwartzman 2009)
    titration: str | None = None
    schedule: Schedule = "single"
    session_hours: float | None = None  # None: the local default outpatient length
    sessions: int = 1
    continuous_days_min: float | None = None
    continuous_days_max: float | None = None
    enforce_asra_minimum: bool = False  # lengthen the session to reach ASRA's minimum total dose
    repeat_note: str | None = None
    oral_mg_per_kg: float | None = None
    oral_every_h: float | None = None
    oral_days: float | None = None


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


def _dosing(raw: dict[str, Any]) -> Dosing:
    rate = raw.get("rate_mg_per_kg_h")
    days = raw.get("continuous_days") or {}
    return Dosing(
        form=raw["form"],
        rate_mg_per_kg_h=RateRange(float(rate["start"]), float(rate["min"]), float(rate["max"])) if rate else None,
        fixed_rate_mg_per_h=raw.get("fixed_rate_mg_per_h"),
        rate_cap_mg_per_h=raw.get("rate_cap_mg_per_h"),
        titration=raw.get("titration"),
        schedule=raw.get("schedule", "single"),
        session_hours=raw.get("session_hours"),
        sessions=int(raw.get("sessions", 1)),
        continuous_days_min=days.get("min"),
        continuous_days_max=days.get("max"),
        enforce_asra_minimum=bool(raw.get("enforce_asra_minimum", False)),
        repeat_note=raw.get("repeat_note"),
        oral_mg_per_kg=raw.get("oral_mg_per_kg"),
        oral_every_h=raw.get("oral_every_h"),
        oral_days=raw.get("oral_days"),
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
        if (dosing.rate_mg_per_kg_h is None) == (dosing.fixed_rate_mg_per_h is None):
            problems.append("an infusion needs exactly one of rate_mg_per_kg_h or fixed_rate_mg_per_h")
        rate = dosing.rate_mg_per_kg_h
        if rate and not (0 < rate.min <= rate.start <= rate.max):
            problems.append("rate must satisfy 0 < min <= start <= max")
        if dosing.schedule == "continuous" and dosing.continuous_days_max is None:
            problems.append("a continuous infusion needs continuous_days")
    elif None in (dosing.oral_mg_per_kg, dosing.oral_every_h, dosing.oral_days):
        problems.append("an oral protocol needs oral_mg_per_kg, oral_every_h and oral_days")
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
