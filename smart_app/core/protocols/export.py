"""Plain-JSON views of protocols and their assessments, for the CLI, the SMART app and API responses."""

from __future__ import annotations

from typing import Any

from smart_app.core.protocols.catalogue import Protocol
from smart_app.core.protocols.eligibility import ProtocolAssessment


def protocol_to_json(protocol: Protocol) -> dict[str, Any]:
    return {
        "id": protocol.id,
        "title": protocol.title,
        "kind": protocol.kind,
        "kind_label": protocol.kind_label,
        "endorsed": protocol.endorsed,
        "route": protocol.route,
        "setting": protocol.setting,
        "grade": protocol.grade,
        "disclaimer": protocol.disclaimer,
        "citations": [c.to_json() for c in protocol.citations],
        "weight_basis": protocol.weight_basis,
        "regimen": {
            "summary": protocol.regimen.summary,
            "cumulative": protocol.regimen.cumulative,
            "citations": [c.to_json() for c in protocol.regimen.citations],
        },
        "notes": protocol.notes,
    }


def assessment_to_json(assessment: ProtocolAssessment) -> dict[str, Any]:
    plan = assessment.plan
    return {
        "protocol": protocol_to_json(assessment.protocol),
        "status": assessment.status,
        "reasons": list(assessment.reasons),
        "suggestible": assessment.suggestible,
        "dose_summary": plan.summary() if plan else None,
        "max_total_mg": plan.max_total_mg if plan else None,
        "notes": list(assessment.notes),
    }
