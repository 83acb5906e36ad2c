"""ASRA's dose limits for racemic ketamine and the route classes they apply to, typed once from the mappings.

The dose rules and the protocol catalogue both read these, so a limit and its citation are stated in one place
(mappings/ketamine_limits.json, route classes in mappings/ketamine_products.json).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from smart_app.core.outcomes import Citation
from smart_app.mappings import read_json


def citation_of(raw: dict[str, Any]) -> Citation:
    return Citation(raw["document"], raw["section"], raw.get("lines"), raw.get("grade"), raw.get("quote"))


@dataclass(frozen=True, slots=True)
class DoseLimits:
    bolus_max_mg_per_kg: float
    infusion_min_mg_per_kg_h: float
    infusion_max_mg_per_kg_h: float
    infusion_icu_max_mg_per_kg_h: float
    monitored_setting_mg_per_kg_h: float  # at or above it: a monitored setting (ASRA Q6 ">=")
    minimum_total_mg: float
    minimum_hours_exclusive: float  # an infusion must last more than this
    multiday_after_hours: float  # an infusion longer than this is a multi-day continuous regimen
    multiday_studied_max_mg_per_kg_h: float  # the highest rate any studied multi-day continuous regimen reached
    dosing: Citation
    minimum: Citation
    monitored_q6: Citation
    monitored_setting: Citation
    elderly: Citation
    multiday: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class RouteLimits:
    """The typical dosing the sources give for one non-IV route (ASRA Table 1, ISCRR Table 2); None: no range."""

    route: str
    dose_mg_per_kg: tuple[float, float] | None
    rate_mg_per_kg_h: tuple[float, float] | None
    citations: tuple[Citation, ...]


@dataclass(frozen=True, slots=True)
class RouteClasses:
    parenteral: frozenset[str]
    neuraxial: frozenset[str]
    enteral: frozenset[str]


@cache
def dose_limits() -> DoseLimits:
    raw = read_json("ketamine_limits.json")
    cites = {k: citation_of(v) for k, v in raw["citations"].items()}
    return DoseLimits(
        bolus_max_mg_per_kg=float(raw["bolus_max_mg_per_kg"]),
        infusion_min_mg_per_kg_h=float(raw["infusion_min_mg_per_kg_h"]),
        infusion_max_mg_per_kg_h=float(raw["infusion_max_mg_per_kg_h"]),
        infusion_icu_max_mg_per_kg_h=float(raw["infusion_icu_max_mg_per_kg_h"]),
        monitored_setting_mg_per_kg_h=float(raw["monitored_setting_mg_per_kg_h"]),
        minimum_total_mg=float(raw["minimum_total_mg"]),
        minimum_hours_exclusive=float(raw["minimum_hours_exclusive"]),
        multiday_after_hours=float(raw["multiday_after_hours"]),
        multiday_studied_max_mg_per_kg_h=float(raw["multiday_studied_max_mg_per_kg_h"]),
        dosing=cites["dosing"],
        minimum=cites["minimum"],
        monitored_q6=cites["monitored_q6"],
        monitored_setting=cites["monitored_setting"],
        elderly=cites["elderly"],
        multiday=(cites["multiday"], cites["multiday_sigtermans"]),
    )


def _pair(value: Any) -> tuple[float, float] | None:
    return (float(value[0]), float(value[1])) if value else None


@cache
def route_limits() -> dict[str, RouteLimits]:
    """Non-IV routes with a source range, by route name (ketamine_limits.json `routes`)."""
    raw = read_json("ketamine_limits.json")
    cites = {k: citation_of(v) for k, v in raw["citations"].items()}
    return {
        route: RouteLimits(
            route,
            _pair(spec.get("dose_mg_per_kg")),
            _pair(spec.get("rate_mg_per_kg_h")),
            tuple(cites[c] for c in spec["citations"]),
        )
        for route, spec in raw["routes"].items()
        if not route.startswith("_")
    }


@cache
def route_classes() -> RouteClasses:
    groups = read_json("ketamine_products.json")["routes"]["groups"]
    return RouteClasses(
        parenteral=frozenset(groups["parenteral"]),
        neuraxial=frozenset(groups["neuraxial"]),
        enteral=frozenset(groups["enteral"]),
    )
