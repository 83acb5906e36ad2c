"""A `SafetyReport` as plain JSON-ready data (CLI `--json`; usable by any presenter)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from smart_app.core.findings import Evidence, Finding
from smart_app.core.safety.engine import SafetyReport
from smart_app.core.safety.ketamine_order import KetamineOrder


def _date(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def evidence_to_json(e: Evidence) -> dict[str, Any]:
    return {"reference": e.reference, "description": e.description, "date": _date(e.date), "value": e.value}


def finding_to_json(f: Finding) -> dict[str, Any]:
    citations = [c.to_json() for c in f.citations]
    return {
        "rule_id": f.rule_id,
        "severity": f.severity,
        "summary": f.summary,
        "detail": f.detail,
        "wording": f.wording,
        "evidence": [evidence_to_json(e) for e in f.evidence],
        "source": citations[0],
        "sources": citations,
        "local_defaults": list(f.local_defaults),
        "suggestions": list(f.suggestions),
    }


def order_to_json(o: KetamineOrder, weight_kg: float | None) -> dict[str, Any]:
    return {
        "reference": o.reference,
        "name": o.name,
        "drug": o.drug,
        "route": o.route,
        "setting": o.setting,
        "bolus_as_ordered": o.bolus.as_ordered if o.bolus else None,
        "bolus_mg_per_kg": o.bolus.mg_per_kg(weight_kg) if o.bolus else None,
        "rate_as_ordered": o.rate.as_ordered if o.rate else None,
        "rate_mg_per_kg_h": o.rate.mg_per_kg(weight_kg) if o.rate else None,
        "duration_h": o.duration_h,
        "total_mg": o.total_mg(weight_kg),
        "repeats": o.repeats,
        "problems": list(o.problems),
    }


def safety_report_to_json(report: SafetyReport) -> dict[str, Any]:
    return {
        "evaluated_at": report.evaluated_at.isoformat(),
        "age": report.age,
        "weight_kg": report.weight_kg,
        "weight_evidence": evidence_to_json(report.weight_evidence) if report.weight_evidence else None,
        "ketamine_orders": [order_to_json(o, report.weight_kg) for o in report.ketamine_orders],
        "findings": [finding_to_json(f) for f in report.findings],
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
        "not_checked": list(report.not_checked),
    }
