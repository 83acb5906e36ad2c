"""FREQ: ketamine treatments in the last 365 days (ASRA Q8: "no more than 6 to 12 treatments per year")."""

from __future__ import annotations

from smart_app.core.findings import Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding
from smart_app.core.safety.history import YEAR_DAYS, treatment_history


def check(ctx: SafetyContext) -> list[Finding]:
    s = ctx.settings
    history = treatment_history(ctx.record, ctx.on, YEAR_DAYS)
    for ref in history.undated:
        ctx.not_checked.append(f"FREQ: {ref} has no date and was not counted")
    past = len(history.days)
    ordering = any(o.drug == "ketamine" for o in ctx.orders)
    total = past + (1 if ordering else 0)
    if total == 0 or (past == 0 and ordering):
        return []
    counted = f"{past} treatment day{'s' if past != 1 else ''} in the last 365 days" + (
        f"; this order would be number {total}" if ordering else ""
    )
    limits = f"{ctx.local('treatments_per_year_warning')}; {ctx.local('treatments_per_year_strong')}"
    guideline = (
        "ASRA Q8 (Grade C): a series of infusions **should not be administered by rote** but tailored to response; "
        "limiting treatments to **no more than 6 to 12 per year** is reasonable, with deviations in exceptional "
        "circumstances."
    )
    if total > s.treatments_per_year_warning:
        strong = total > s.treatments_per_year_strong
        return [
            finding(
                "FREQ",
                "critical" if strong else "warning",
                f"{total} ketamine treatments in 12 months: "
                + ("above ASRA's upper limit of 12 per year" if strong else "above 6 per year; document response"),
                f"{counted.capitalize()}. {guideline} Local thresholds: {limits}. Document the response to previous "
                "treatments and the exceptional circumstances before continuing.",
                (sources.ASRA_Q8,),
                history.evidence,
                wording="no more than 6 to 12 treatments per year",
                local_defaults=("treatments_per_year_warning", "treatments_per_year_strong"),
            )
        ]
    return [
        finding(
            "FREQ",
            "info",
            f"{counted.capitalize()}"[:139],
            f"{counted.capitalize()}. {guideline} Local thresholds: {limits}.",
            (sources.ASRA_Q8,),
            history.evidence,
            wording="no more than 6 to 12 treatments per year",
            local_defaults=("treatments_per_year_warning", "treatments_per_year_strong"),
        )
    ]
