"""CI-ENDO: hyperthyroidism and pheochromocytoma (ASRA Table 5: potentiation of sympathomimetic effects)."""

from __future__ import annotations

from smart_app.core.findings import Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding, names_of


def check(ctx: SafetyContext) -> list[Finding]:
    matches = ctx.conditions("hyperthyroidism", "pheochromocytoma")
    if not matches:
        return []
    names = ", ".join(dict.fromkeys(m.condition.code.label for m in matches))
    return [
        finding(
            "CI-ENDO",
            "warning",
            f"{names_of(matches)}: ketamine may potentiate sympathomimetic effects",
            f"The record shows {names}. ASRA Table 5 lists hyperthyroidism and pheochromocytoma as contraindications "
            "or precautions because ketamine may potentiate sympathomimetic effects (tachycardia, hypertension).",
            (sources.ASRA_T5_ENDO,),
            [m.evidence for m in matches],
            wording="contraindication or precaution (ASRA Table 5)",
        )
    ]
