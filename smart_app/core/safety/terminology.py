"""The project's value sets ("concepts") and matching of coded data against them.

Each concept is declared once in mappings/concepts.json and composed here, once, at import, from data files
copied into mappings/ with their provenance:

- mappings/vsac/<id>.json: NLM VSAC expansions (OID, name, version, expansion date, source repository/path/commit);
- mappings/icd10cm_families.json: ICD-10-CM families expanded from a maintained code table at build time, so every
  family member is a real code (no string prefixes at run time);
- explicit codes from the rule catalogue (RULES.md section 6), named in concepts.json with their source.

concepts.json also says, as data, what each concept excludes and why (history-of, suspected, sequela and
subsequent-encounter codes, remission, non-diagnoses, codes routed to another concept), and which members are
episode codes that count only within a recency window (a local default named in smart_app/config.py).
tools/build_value_sets.py regenerates the copied files; nothing here reads the reference material.

Matching is by system + code only; a coding from a system the concept does not list is ignored, never guessed
from its display. ICD-10-CM codes are compared without dots and upper-case because EHRs send "I10", "I10." and
"h4010x0" alike. Each concept is a frozenset of normalised (system, code) pairs, so a look-up is a set probe.
Medication concepts may also carry ingredient words (evidence.medication_in) for products that no set lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from smart_app.core.model import ICD10CM, LOINC, RXNORM, SNOMED, Coding, Concept, normalise_code
from smart_app.mappings import read_json

Kind = Literal["condition", "observation", "medication"]
Key = tuple[str, str]  # (system, normalised code)


@dataclass(frozen=True, slots=True)
class ValueSetConcept:
    """One member of a concept: its code as the source writes it, and where it came from."""

    system: str
    code: str
    display: str
    source: str  # "VSAC <oid> (<set id>)", "ICD-10-CM family <root> (<table> <version>)" or the RULES.md row
    key: Key = field(default=("", ""), repr=False, compare=False)  # normalised (system, code), computed once

    def __post_init__(self) -> None:
        if not self.key[0]:
            object.__setattr__(self, "key", _key(self.system, self.code))


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A code a source set offers that the concept leaves out, with the reason (and where it counts instead)."""

    system: str
    code: str
    display: str
    why: str
    routed_to: str | None = None


@dataclass(frozen=True, slots=True)
class ValueSet:
    name: str
    title: str
    kind: Kind
    rules: tuple[str, ...]
    source: str  # the sets, families and rows it is built from, for provenance lines
    concepts: tuple[ValueSetConcept, ...]
    excluded: tuple[Exclusion, ...] = ()
    episodes: Mapping[Key, str] = field(default_factory=dict, compare=False)  # member -> LocalDefaults window
    words: frozenset[str] = frozenset()  # ingredient/brand words for uncoded or product-coded medications
    _exact: frozenset[Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_exact", frozenset(c.key for c in self.concepts))

    def match(self, concept: Concept | None) -> Coding | None:
        """The first coding of `concept` in this value set, or None."""
        if concept is None:
            return None
        for coding in concept.codings:
            if self.contains_coding(coding):
                return coding
        return None

    def contains(self, concept: Concept | None) -> bool:
        return self.match(concept) is not None

    def contains_coding(self, coding: Coding) -> bool:
        return bool(coding.system and coding.code) and _key(coding.system or "", coding.code or "") in self._exact

    @property
    def exact_codings(self) -> frozenset[Key]:
        """Every normalised (system, code) of the set (the record indexes its data the same way)."""
        return self._exact

    def episode_window(self, coding: Coding) -> str | None:
        """The LocalDefaults setting that bounds how long `coding` counts, or None when it always counts."""
        if not coding.system or not coding.code:
            return None
        return self.episodes.get((coding.system, normalise_code(coding.system, coding.code)))


SYSTEM_LABELS = {SNOMED: "SNOMED CT", ICD10CM: "ICD-10-CM", LOINC: "LOINC", RXNORM: "RxNorm"}


def describe_coding(coding: Coding) -> str:
    """'SNOMED CT 59621000' style label for evidence lines."""
    return f"{SYSTEM_LABELS.get(coding.system or '', coding.system or '?')} {coding.code}"


# --- composition from mappings/concepts.json --------------------------------------------------------------------


def _key(system: str, code: str) -> Key:
    return (system, normalise_code(system, code))


Matcher = Callable[[ValueSetConcept], bool]


class _Composer:
    """Builds every concept of concepts.json once; a programming error in the data raises at import."""

    def __init__(self) -> None:
        data = read_json("concepts.json")
        self.systems: dict[str, str] = data["systems"]
        self.declared: dict[str, Any] = data["concepts"]
        families = read_json("icd10cm_families.json")
        table = families["_provenance"]
        self.table = f"{table['table']} {table['version']}"
        self.families: dict[str, Any] = families["families"]
        self.built: dict[str, ValueSet] = {}
        self.building: set[str] = set()
        self._vsac: dict[str, Any] = {}
        self._members: dict[str, list[ValueSetConcept]] = {}

    def vsac(self, set_id: str) -> Any:
        if set_id not in self._vsac:
            self._vsac[set_id] = read_json(f"vsac/{set_id}.json")
        return self._vsac[set_id]

    def vsac_members(self, set_id: str) -> list[ValueSetConcept]:
        if set_id not in self._members:
            vs = self.vsac(set_id)
            source = f"VSAC {vs['oid'] or vs['url']} ({set_id})"
            rows = [(system, code, display) for system, group in vs["codes"].items() for code, display in group]
            self._members[set_id] = [ValueSetConcept(system, code, display, source) for system, code, display in rows]
        return self._members[set_id]

    def system(self, prefixed: str) -> tuple[str, str]:
        name, _, code = prefixed.partition(":")
        return self.systems[name], code

    def matcher(self, spec: Mapping[str, Any]) -> Matcher:
        tests: list[Matcher] = []
        if "codes" in spec:
            keys = frozenset(_key(*self.system(c)) for c in spec["codes"])
            tests.append(lambda c: c.key in keys)
        if "system" in spec:
            wanted = self.systems[spec["system"]]
            tests.append(lambda c: c.system == wanted)
        if "icd10cm" in spec:
            icd = re.compile(spec["icd10cm"])
            tests.append(lambda c: c.system == ICD10CM and icd.search(c.code.upper()) is not None)
        if "display" in spec:
            display = re.compile(spec["display"])
            tests.append(lambda c: display.search(c.display) is not None)
        if "in_value_set" in spec:
            members = frozenset(m.key for m in self.vsac_members(spec["in_value_set"]))
            tests.append(lambda c: c.key in members)
        if "concept" in spec:
            other = self.concept(spec["concept"]).exact_codings
            tests.append(lambda c: c.key in other)
        if "unless" in spec:
            unless = self.matcher(spec["unless"])
            tests.append(lambda c: not unless(c))
        if not tests and not spec.get("all"):
            raise ValueError(f"empty matcher {dict(spec)!r}")
        if len(tests) == 1:
            return tests[0]
        return lambda c: all(t(c) for t in tests)

    def any_of(self, specs: Iterable[Mapping[str, Any]] | None) -> Matcher:
        matchers = [self.matcher(s) for s in specs or ()]
        if len(matchers) == 1:
            return matchers[0]
        return (lambda c: any(m(c) for m in matchers)) if matchers else (lambda c: True)

    def candidates(self, include: Mapping[str, Any]) -> tuple[list[ValueSetConcept], str]:
        if "value_set" in include:
            vs = self.vsac(include["value_set"])
            label = (
                f"VSAC {vs['title']} {vs['oid'] or vs['url']} "
                f"(version {vs['version']}, expansion {vs['expansion_timestamp']})"
            )
            return self.vsac_members(include["value_set"]), label
        if "family" in include:
            root = include["family"]
            family = self.families[root]
            source = f"ICD-10-CM family {root} ({self.table})"
            billable_only = bool(include.get("billable_only"))
            codes = [(code, display) for code, display, leaf in family["codes"] if leaf or not billable_only]
            return [ValueSetConcept(ICD10CM, code, display, source) for code, display in codes], source
        if "concept" in include:
            other = self.concept(include["concept"])
            return list(other.concepts), f"concept {other.name}"
        source = include["source"]
        found = []
        for code, display in include["codes"]:
            system, value = self.system(code)
            found.append(ValueSetConcept(system, value, display, source))
        return found, source

    def concept(self, name: str) -> ValueSet:
        if name in self.built:
            return self.built[name]
        if name in self.building:
            raise ValueError(f"concept {name} refers to itself through another concept")
        self.building.add(name)
        spec = self.declared[name]
        members: dict[Key, ValueSetConcept] = {}
        sources: list[str] = []
        for include in spec["include"]:
            found, label = self.candidates(include)
            keep = self.any_of(include.get("where"))
            sources.append(label + (" (subset)" if "where" in include else ""))
            for c in found:
                if c.key not in members and keep(c):
                    members[c.key] = c
        excludes = [(self.matcher(x), x) for x in spec.get("exclude", ())]
        kept: list[ValueSetConcept] = []
        excluded: list[Exclusion] = []
        for c in members.values():
            rule = next((x for m, x in excludes if m(c)), None)
            if rule is None:
                kept.append(c)
            else:
                excluded.append(Exclusion(c.system, c.code, c.display, rule["why"], rule.get("route")))
        episodes: dict[Key, str] = {}
        windows = [(self.matcher(x), x["window"]) for x in spec.get("episode", ())]
        for c in kept:
            window = next((w for m, w in windows if m(c)), None)
            if window is not None:
                episodes[c.key] = window
        words = spec.get("words", {}).get("list", [])
        built = ValueSet(
            name=name,
            title=spec["title"],
            kind=spec["kind"],
            rules=tuple(spec.get("rules", ())),
            source="; ".join(dict.fromkeys(sources)),
            concepts=tuple(kept),
            excluded=tuple(excluded),
            episodes=episodes,
            words=frozenset(w.lower() for w in words),
        )
        self.building.discard(name)
        self.built[name] = built
        return built


def _compose() -> dict[str, ValueSet]:
    composer = _Composer()
    return {name: composer.concept(name) for name in composer.declared}


_VALUE_SETS = _compose()


def value_set(name: str) -> ValueSet:
    """A concept by name; KeyError names the missing one (a programming error, not bad input)."""
    try:
        return _VALUE_SETS[name]
    except KeyError:
        raise KeyError(f"no value set {name!r} in mappings/concepts.json") from None


def value_set_names() -> tuple[str, ...]:
    return tuple(_VALUE_SETS)


def codes_of_kind(kind: Kind, system: str) -> tuple[str, ...]:
    """Every code of `system` in the concepts of `kind`, sorted (e.g. the LOINC codes the rules read)."""
    return tuple(
        sorted({c.code for vs in _VALUE_SETS.values() if vs.kind == kind for c in vs.concepts if c.system == system})
    )
