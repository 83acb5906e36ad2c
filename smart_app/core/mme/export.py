"""The MME report as plain JSON (CLI `--json`, CDS Hooks card extension).

Numbers are rounded to 6 decimals only to drop binary floating-point noise (20.5 x 4.7 = 96.35000000000001);
displays round to one decimal themselves.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from smart_app.core.mme.report import MmeReport

DECIMALS = 6


def _clean(value: Any) -> Any:
    return round(value, DECIMALS) if isinstance(value, float) else value


def mme_report_to_json(report: MmeReport) -> dict[str, Any]:
    return {
        "table": report.table,
        "table_label": report.table_label,
        "table_citation": report.table_citation,
        "document": report.document,
        "figure": report.figure,
        "total_mme_per_day": _clean(report.total_mme_per_day),
        "counted": len(report.counted),
        "left_out": len(report.left_out),
        "cautions": list(report.cautions),
        "medications": [{k: _clean(v) for k, v in asdict(item).items()} for item in report.items],
    }
