"""The route of a Dosage.route from its codes, its EHR identifiers and its words (mappings/route_codes.json).

One table of route codes serves every reader: SNOMED CT route codes and HL7 v3 RouteOfAdministration codes (code
without display is enough), route identifiers EHRs send as a whole code or text ("IT", "SQ", "IVPB"), then the
reader's own words for longer text. What was read and how is kept, so that a card can show it:

- a code the table does not hold (and no readable display) is `unrecognised`: the route is unknown, never assumed;
- codes and words that disagree are a `conflict`, named. A neuraxial reading from any part wins (a ketamine order
  that says "epidural" anywhere must get the neuraxial warning); otherwise a code wins over words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from smart_app.core.model import Concept
from smart_app.mappings import read_json


@dataclass(frozen=True, slots=True)
class _Table:
    codes: dict[tuple[str, str], tuple[str, str]]  # (system kind, code) -> (route, display)
    systems: dict[str, str]  # system URI -> "snomed" | "v3"
    abbreviations: dict[str, str]  # upper-case identifier -> route
    neuraxial: frozenset[str]


@cache
def _table() -> _Table:
    data = read_json("route_codes.json")
    systems = {uri: kind for kind, uris in data["systems"].items() for uri in uris}
    codes: dict[tuple[str, str], tuple[str, str]] = {}
    abbreviations: dict[str, str] = {}
    for route, spec in data["routes"].items():
        for kind in ("snomed", "v3"):
            for code, display in spec[kind].items():
                codes[(kind, code)] = (route, display)
        for abbreviation in spec["abbreviations"]:
            abbreviations.setdefault(abbreviation.upper(), route)
    return _Table(codes, systems, abbreviations, frozenset(data["neuraxial"]))


_KIND_LABEL = {"snomed": "SNOMED CT", "v3": "HL7 v3 RouteOfAdministration"}


@dataclass(frozen=True, slots=True)
class RouteReading:
    route: str | None  # canonical route name, None when the route is not stated or not recognised
    stated: bool  # Dosage.route is present (codes or text)
    how: str = ""  # "SNOMED CT 404820008", "identifier 'IT'", "text 'Intravenous'"
    conflict: str | None = None  # codes and words that disagree, in words
    unrecognised: tuple[str, ...] = ()  # codes the table does not hold, e.g. "SNOMED CT 72607000"

    @property
    def problem(self) -> str | None:
        """Why the route is not known though the order states one (for a not-evaluable outcome)."""
        if self.route is not None or not self.stated:
            return None
        if self.unrecognised:
            return f"the route is coded {', '.join(self.unrecognised)}, which the route table does not hold"
        return "the route is not recognised"


def code_route(system: str | None, code: str | None) -> str | None:
    """The canonical route of one coding, from the code table (None when the system or code is not in it)."""
    table = _table()
    kind = table.systems.get(system or "")
    if kind is None or not code:
        return None
    found = table.codes.get((kind, code.strip()))
    return found[0] if found else None


def read_route(concept: Concept | None, words: Callable[[str], str | None]) -> RouteReading:
    """The route `concept` states; `words` reads a route from free text (the reader's own word table)."""
    if concept is None or not (concept.text or concept.codings):
        return RouteReading(None, False)
    table = _table()
    by_code: list[tuple[str, str]] = []  # (route, how)
    by_words: list[tuple[str, str]] = []
    unrecognised: list[str] = []
    for coding in concept.codings:
        kind = table.systems.get(coding.system or "")
        code = (coding.code or "").strip()
        if kind is not None and code:
            found = table.codes.get((kind, code))
            if found is not None:
                by_code.append((found[0], f"{_KIND_LABEL[kind]} {code}"))
                continue
            if not (coding.display and words(coding.display)):
                unrecognised.append(f"{_KIND_LABEL[kind]} {code}")
        elif code and code.upper() in table.abbreviations:
            by_code.append((table.abbreviations[code.upper()], f"identifier '{code}'"))
        if coding.display:
            found_word = table.abbreviations.get(coding.display.strip().upper()) or words(coding.display)
            if found_word:
                by_words.append((found_word, f"display '{coding.display}'"))
    if concept.text:
        found_text = table.abbreviations.get(concept.text.strip().upper()) or words(concept.text)
        if found_text:
            by_words.append((found_text, f"text '{concept.text}'"))
    readings = by_code + by_words
    if not readings:
        return RouteReading(None, True, unrecognised=tuple(unrecognised))
    neuraxial = [r for r in readings if r[0] in table.neuraxial]
    chosen = neuraxial[0] if neuraxial else readings[0]
    others = sorted({f"{how} says {route}" for route, how in readings if route != chosen[0]})
    conflict = f"{chosen[1]} says {chosen[0]}, but {'; '.join(others)}" if others else None
    return RouteReading(chosen[0], True, chosen[1], conflict, tuple(unrecognised))
