"""CI-ENDO: hyperthyroidism and pheochromocytoma (ASRA Table 5: potentiation of sympathomimetic effects)."""

from __future__ import annotations

from smart_app.core.outcomes import Outcome
from smart_app.core.safety.context import SafetyContext, fired, names_of, not_applicable


def check(ctx: SafetyContext) -> list[Outcome]:
    matches = ctx.conditions("hyperthyroidism", "pheochromocytoma")
    if not matches:
        return [not_applicable("CI-ENDO", "No hyperthyroidism or pheochromocytoma on record")]
    names = ", ".join(dict.fromkeys(m.condition.code.label for m in matches))
    return [
        fired(
            "CI-ENDO",
            "warning",
            f"{names_of(matches)}: ketamine may potentiate sympathomimetic effects",
            f"The record shows {names}. ASRA Table 5 lists hyperthyroidism and pheochromocytoma as contraindications "
            "or precautions because ketamine may potentiate sympathomimetic effects (tachycardia, hypertension).",
            [m.evidence for m in matches],
            wording="contraindication or precaution (ASRA Table 5)",
        )
    ]
