"""Conversion factors by table, ingredient and route (mappings/mme_factors.json).

The factor's unit decides what it multiplies: mg/day of the opioid, mcg/hr for patches, or mcg/day. CDC 2016
methadone uses dose bands read as half-open intervals, so every daily dose falls in exactly one band.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from smart_app.config import MmeTable
from smart_app.core.mme.errors import NotComputable
from smart_app.core.mme.route import parenteral_routes
from smart_app.mappings import read_json


@dataclass(frozen=True, slots=True)
class TableInfo:
    key: MmeTable
    label: str  # "CDC 2022"
    figure: str  # what the result is called: "MME/day", or "mg/day oMEDD" for ANZCA
    document: str  # key of mappings/guidelines.json, for citations
    citation: str
    cautions: tuple[str, ...]
    buprenorphine_caution: str | None
    excluded: dict[str, str]  # ingredient -> reason it is not counted by this table's policy
    not_convertible: dict[str, str]  # ingredient -> reason the table has no factor


@dataclass(frozen=True, slots=True)
class FactorEntry:
    ingredient: str
    route: str  # the table's route label: "oral", "transdermal", "parenteral", ...
    unit: str  # "mg/day", "mcg/hr" or "mcg/day"
    factor: float | None
    bands: tuple[tuple[float, float | None, float, str], ...] = ()  # (over, up_to, factor, label)

    def value_for(self, daily_mg: float) -> tuple[float, str]:
        """The factor for this daily amount, and a note naming the dose band when there is one."""
        if self.factor is not None:
            return self.factor, ""
        for over, up_to, factor, label in self.bands:
            if daily_mg > over and (up_to is None or daily_mg <= up_to):
                return factor, f" band {label}"
        raise NotComputable(f"daily dose {daily_mg:g} mg is outside the table's {self.ingredient} dose bands")


def _entry(spec: dict[str, Any], route: str) -> FactorEntry:
    bands = tuple((float(b["over"]), b["up_to"], float(b["factor"]), str(b["label"])) for b in spec.get("bands", ()))
    factor = spec.get("factor")
    return FactorEntry(spec["ingredient"], route, spec["unit"], None if factor is None else float(factor), bands)


@cache
def table_info(table: MmeTable) -> TableInfo:
    spec = read_json("mme_factors.json")["tables"][table]
    return TableInfo(
        key=table,
        label=spec["label"],
        figure=spec["figure"],
        document=spec["document"],
        citation=spec["citation"],
        cautions=tuple(spec["cautions"]),
        buprenorphine_caution=spec.get("buprenorphine_caution"),
        excluded=dict(spec["excluded"]),
        not_convertible=dict(spec["not_convertible"]),
    )


@cache
def _entries(table: MmeTable) -> dict[tuple[str, str], FactorEntry]:
    entries: dict[tuple[str, str], FactorEntry] = {}
    for spec in read_json("mme_factors.json")["tables"][table]["factors"]:
        for route in spec["routes"]:
            entries[(spec["ingredient"], route)] = _entry(spec, route)
    return entries


@cache
def _ingredients(table: MmeTable) -> frozenset[str]:
    return frozenset(ingredient for ingredient, _ in _entries(table))


def factor_entry(table: MmeTable, ingredient: str, route: str | None) -> FactorEntry:
    """The table's factor for this opioid and route; raises NotComputable naming what is missing."""
    label = table_info(table).label
    entries = _entries(table)
    if ingredient not in _ingredients(table):
        raise NotComputable(f"no {label} factor for {ingredient}")
    if route is None:
        raise NotComputable(f"route unknown (no Dosage.route or dose form): {label} factors depend on route")
    lookup = "parenteral" if route in parenteral_routes() else route
    entry = entries.get((ingredient, lookup))
    if entry is None:
        raise NotComputable(f"no {label} factor for {ingredient} by the {route} route")
    return entry
