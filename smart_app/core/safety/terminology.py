"""Named value sets (mappings/value_sets.json) and matching of coded data against them.

Matching is by system + code only; a coding from a system the value set does not list is ignored, never guessed
from its display. ICD-10-CM codes are compared without dots because EHRs send "I10", "I10." and "H4010X0" alike;
ICD-10-CM family entries ("prefix") match every code that starts with them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from smart_app.core.model import ICD10CM, LOINC, RXNORM, SNOMED, Coding, Concept, normalise_code
from smart_app.mappings import read_json


@dataclass(frozen=True, slots=True)
class ValueSetConcept:
    system: str
    code: str
    display: str
    status: str  # "VERIFIED" or "VERIFIED (weak)" in RULES.md section 6
    prefix: bool = False


@dataclass(frozen=True, slots=True)
class ValueSet:
    name: str
    title: str
    source: str
    concepts: tuple[ValueSetConcept, ...]
    # Indexes built once: rules test every coding of every resource against several sets on each call.
    _exact: frozenset[tuple[str, str]] = field(init=False, repr=False, compare=False)
    _prefixes: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exact = frozenset((c.system, normalise_code(c.system, c.code)) for c in self.concepts if not c.prefix)
        prefixes = tuple((c.system, normalise_code(c.system, c.code)) for c in self.concepts if c.prefix)
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixes", prefixes)

    def match(self, concept: Concept | None) -> Coding | None:
        """The first coding of `concept` in this value set, or None."""
        if concept is None:
            return None
        for coding in concept.codings:
            if coding.system and coding.code and self._has(coding.system, coding.code):
                return coding
        return None

    def contains(self, concept: Concept | None) -> bool:
        return self.match(concept) is not None

    @property
    def exact_codings(self) -> frozenset[tuple[str, str]] | None:
        """Every (system, code) of the set, or None when it has family (prefix) entries that no list can cover."""
        return None if self._prefixes else self._exact

    def _has(self, system: str, code: str) -> bool:
        given = normalise_code(system, code)
        if (system, given) in self._exact:
            return True
        return any(system == s and given.startswith(p) for s, p in self._prefixes)


@cache
def value_set(name: str) -> ValueSet:
    """A value set by name; KeyError names the missing set (a programming error, not bad input)."""
    data = read_json("value_sets.json")
    systems: dict[str, str] = data["systems"]
    raw = data["value_sets"][name]
    return ValueSet(
        name=name,
        title=raw["title"],
        source=raw["source"],
        concepts=tuple(
            ValueSetConcept(
                system=systems[c["system"]],
                code=c["code"],
                display=c["display"],
                status=c["status"],
                prefix=bool(c.get("prefix", False)),
            )
            for c in raw["concepts"]
        ),
    )


def value_set_names() -> tuple[str, ...]:
    return tuple(read_json("value_sets.json")["value_sets"])


SYSTEM_LABELS = {SNOMED: "SNOMED CT", ICD10CM: "ICD-10-CM", LOINC: "LOINC", RXNORM: "RxNorm"}


def describe_coding(coding: Coding) -> str:
    """'SNOMED CT 59621000' style label for evidence lines."""
    return f"{SYSTEM_LABELS.get(coding.system or '', coding.system or '?')} {coding.code}"
