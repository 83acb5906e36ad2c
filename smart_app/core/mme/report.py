"""Result types of the MME calculation: one item per medication, a total, and the table used."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from smart_app.config import MmeTable
from smart_app.core.model import quick_frozen

ItemStatus = Literal["counted", "excluded", "not-computable", "duplicate"]
LEFT_OUT: frozenset[ItemStatus] = frozenset({"excluded", "not-computable"})  # listed, not in the total, never silently


@quick_frozen
@dataclass(frozen=True, slots=True)
class MmeItem:
    """One medication's contribution, with every step of its derivation."""

    id: str  # "MedicationRequest/abc"
    source: str  # resource type, plus "(draft order)" for hook drafts
    name: str  # the medication as the record names it
    status: ItemStatus
    reason: str | None = None  # why excluded / not computable / duplicate (of which item)
    ingredient: str | None = None  # "oxycodone"
    route: str | None = None  # "oral", "transdermal", ...
    setting: str | None = None  # "inpatient", "outpatient", "community", or None when unknown
    strength: str | None = None  # "5 mg per tablet", "25 mcg/hr per patch"
    dose_per_administration: str | None = None  # "2 tablets = 10 mg"
    doses_per_day: float | None = None
    daily_dose: float | None = None  # opioid mg/day, or mcg/hr for patches
    daily_dose_unit: str | None = None  # "mg/day" or "mcg/hr"
    factor: float | None = None
    mme_per_day: float | None = None
    maximum_allowed: bool = False  # PRN or range: figures use the maximum the order allows
    derivation: str | None = None  # "10 mg x 2/day = 20 mg/day x 1.5 = 30 MME/day"
    product: str | None = None  # where ingredient and strength came from: "RxNorm product 857002", "name", ...
    dose_form: str | None = None  # "Extended Release Oral Tablet"
    # An order of successive steps (dosage instructions of different `sequence`, e.g. a taper): the step counted
    # now, and the highest step's MME/day when it is higher (None when the order has one step or it is the highest).
    step: str | None = None
    highest_mme_per_day: float | None = None
    highest_step: str | None = None


@dataclass(frozen=True, slots=True)
class MmeReport:
    table: MmeTable
    table_citation: str
    items: tuple[MmeItem, ...]
    total_mme_per_day: float | None  # None when nothing was computable
    cautions: tuple[str, ...] = ()  # standing cautions of the table (not for conversion, not for OUD decisions)
    table_label: str = ""  # "CDC 2022"
    document: str = ""  # key of mappings/guidelines.json for the table, so presenters can cite it
    figure: str = "MME/day"  # how the figures are named: "MME/day", or "mg/day oMEDD" for the ANZCA table

    @property
    def counted(self) -> tuple[MmeItem, ...]:
        return tuple(i for i in self.items if i.status == "counted")

    @property
    def highest_total(self) -> float | None:
        """The total if every stepped order were at its highest step (None when no order has a higher step)."""
        if self.total_mme_per_day is None or not any(i.highest_mme_per_day is not None for i in self.counted):
            return None
        return sum(
            i.highest_mme_per_day if i.highest_mme_per_day is not None else (i.mme_per_day or 0.0) for i in self.counted
        )

    @property
    def left_out(self) -> tuple[MmeItem, ...]:
        """Opioid medications the total does not include (excluded or not computable), never silently."""
        return tuple(i for i in self.items if i.status in LEFT_OUT)
