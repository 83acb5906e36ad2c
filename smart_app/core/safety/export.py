"""A `SafetyReport` as plain JSON-ready data (CLI `--json`; usable by any presenter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smart_app.core.outcomes import Evidence, Outcome
from smart_app.core.safety.catalogue import spec
from smart_app.core.safety.engine import SafetyReport
from smart_app.core.safety.exposure import KetamineExposure
from smart_app.core.safety.ketamine_order import KetamineOrder


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def evidence_to_json(e: Evidence) -> dict[str, Any]:
    return {"reference": e.reference, "description": e.description, "date": _date(e.date), "value": e.value}


def outcome_to_json(o: Outcome) -> dict[str, Any]:
    rule = spec(o.rule_id)
    citations = [c.to_json() for c in o.citations]
    return {
        "rule_id": o.rule_id,
        "title": rule.title,
        "kind": rule.kind,
        "phase": rule.phase,
        "status": o.status,
        "severity": o.severity,
        "subject": o.subject,
        "summary": o.summary,
        "detail": o.detail,
        "wording": o.wording,
        "evidence": [evidence_to_json(e) for e in o.evidence],
        "missing": [{"need": m.need, "reason": m.reason} for m in o.missing],
        "source": citations[0] if citations else None,
        "sources": citations,
        "local_defaults": list(o.local_defaults),
        "plans": list(o.plans),
    }


def order_to_json(o: KetamineOrder, weight_kg: float | None) -> dict[str, Any]:
    bolus, rate = o.highest_bolus(weight_kg), o.highest_rate(weight_kg)
    return {
        "reference": o.reference,
        "name": o.name,
        "drug": o.drug,
        "route": o.route,
        "setting": o.setting,
        "route_problem": o.route_problem,
        "bolus_as_ordered": bolus.as_ordered if bolus else None,
        "bolus_mg_per_kg": bolus.mg_per_kg(weight_kg) if bolus else None,
        "rate_as_ordered": rate.as_ordered if rate else None,
        "rate_mg_per_kg_h": rate.mg_per_kg(weight_kg) if rate else None,
        "steps": len(o.steps),
        "duration_h": o.duration_h,
        "total_mg": o.total_mg(weight_kg),
        "concentration_mg_per_ml": o.mg_per_ml,
        "sessions": o.sessions,
        "sessions_basis": o.sessions_basis,
        "repeats": o.repeats,
        "problems": [p.reason for p in o.problems],
        "notes": list(o.notes),
        "dosed": o.dosed,
    }


def exposure_to_json(exposure: KetamineExposure) -> dict[str, Any]:
    """Ketamine given and ordered over 30 and 365 days, and what the draft orders plan (PRE-LFT reads it)."""
    return {
        "windows": [
            {
                "days": w.days,
                "treatment_days": w.treatment_days,
                "total_mg": w.total_mg,
                "complete": w.complete,
                "unknown": list(w.unknown),
                "sentence": w.sentence(),
            }
            for w in exposure.windows
        ],
        "planned": [{"reference": p.reference, "days": p.days, "mg": p.mg, "how": p.how} for p in exposure.planned],
    }


def safety_report_to_json(report: SafetyReport) -> dict[str, Any]:
    """`findings`: the fired outcomes (what would interrupt a clinician); `checks`: every rule's outcome."""
    return {
        "evaluated_at": report.evaluated_at.isoformat(),
        "age": report.age,
        "weight_kg": report.weight_kg,
        "weight_evidence": evidence_to_json(report.weight_evidence) if report.weight_evidence else None,
        "ketamine_orders": [order_to_json(o, report.weight_kg) for o in report.ketamine_orders],
        "ketamine_exposure": exposure_to_json(report.exposure),
        "findings": [outcome_to_json(o) for o in report.findings],
        "checks": [outcome_to_json(o) for o in report.outcomes],
        "baseline_tests": [
            {
                "test": b.test,
                "needed": b.needed,
                "outstanding": b.outstanding,
                "reasons": list(b.reasons),
                "satisfied_by": [evidence_to_json(e) for e in b.satisfied_by],
                "lookback_setting": b.lookback_setting,
            }
            for b in report.baseline_tests
        ],
    }
