"""CI-ASP: full-stomach aspiration risk. Typical records hold no NPO status, so this is an info-level reminder."""

from __future__ import annotations

from smart_app.core.findings import Evidence, Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding


def check(ctx: SafetyContext) -> list[Finding]:
    return [
        finding(
            "CI-ASP",
            "info",
            "Confirm nil-per-os status before ketamine treatment (full-stomach aspiration risk)",
            "ASRA Table 5 lists full-stomach aspiration risk; ASA sedation basics, cited by ASRA, include **ensuring "
            "nil-per-os status**. The record holds no fasting status, so this cannot be checked automatically.",
            (sources.ASRA_NPO, sources.ASRA_T5),
            [Evidence("(absent)", "no fasting (NPO) status in the record")],
            wording="precaution",
        )
    ]
