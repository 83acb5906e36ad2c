"""Past ketamine treatments: distinct treatment days from administrations and past (non-draft) ketamine orders.

Esketamine (nasal spray, a different product and indication) is not counted as a ketamine treatment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.outcomes import Evidence
from smart_app.core.safety.ketamine_order import is_esketamine, is_ketamine

YEAR_DAYS = 365
ADMINISTRATION_STATUSES = frozenset({"completed", "in-progress"})
REQUEST_STATUSES = frozenset({"completed", "active"})


@dataclass(frozen=True, slots=True)
class TreatmentHistory:
    days: tuple[date, ...]  # distinct treatment days, oldest first
    evidence: tuple[Evidence, ...]
    undated: tuple[str, ...]  # references of ketamine entries with no date (not counted, reported)

    def since(self, start: date) -> tuple[date, ...]:
        """The treatment days on or after `start`."""
        return tuple(d for d in self.days if d >= start)


def _counts(med: MedicationUse) -> bool:
    if med.is_draft_order:
        return False
    if med.resource_type == "MedicationAdministration":
        return med.status in ADMINISTRATION_STATUSES
    if med.resource_type == "MedicationRequest":
        return med.status in REQUEST_STATUSES
    return False


def _when(med: MedicationUse) -> datetime | None:
    if med.effective and med.effective.start:
        return med.effective.start
    return med.recorded


def treatment_history(record: PatientRecord, on: datetime, days: int) -> TreatmentHistory:
    since = on - timedelta(days=days)
    seen: dict[date, list[Evidence]] = {}
    undated: list[str] = []
    for med in record.medications:
        if not (_counts(med) and is_ketamine(med)) or is_esketamine(med):
            continue
        when = _when(med)
        if when is None:
            undated.append(med.reference)
            continue
        if since <= when <= on:
            seen.setdefault(when.date(), []).append(
                Evidence(med.reference, f"{med.resource_type} {med.medication.label} ({med.status})", when)
            )
    ordered = sorted(seen)
    return TreatmentHistory(tuple(ordered), tuple(e for d in ordered for e in seen[d]), tuple(undated))
