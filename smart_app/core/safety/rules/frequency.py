"""FREQ: ketamine treatments in the last 365 days (ASRA Q8: "no more than 6 to 12 treatments per year").

A draft ketamine order counts as the next treatment, and as several when it allows repeats (`count`,
`numberOfRepeatsAllowed`): the course it orders is what the limit is about.
"""

from __future__ import annotations

from smart_app.core.outcomes import Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied

_LIMITS = ("treatments_per_year_warning", "treatments_per_year_strong")
_GUIDELINE = (
    "ASRA Q8 (Grade C): a series of infusions **should not be administered by rote** but tailored to response; "
    "limiting treatments to **no more than 6 to 12 per year** is reasonable, with deviations in exceptional "
    "circumstances."
)


def check(ctx: SafetyContext) -> list[Outcome]:
    s = ctx.settings
    history = ctx.history
    past = len(history.days)
    ordered = sum(1 + (o.repeats or 0) for o in ctx.orders if o.drug == "ketamine")
    total = past + ordered
    limits = f"{ctx.local('treatments_per_year_warning')}; {ctx.local('treatments_per_year_strong')}"
    counted = f"{past} treatment day{'s' if past != 1 else ''} in the last 365 days" + (
        f"; with this order {total}" if ordered else ""
    )
    if total > s.treatments_per_year_warning:
        strong = total > s.treatments_per_year_strong
        return [
            fired(
                "FREQ",
                "critical" if strong else "warning",
                f"{total} ketamine treatments in 12 months: "
                + ("above ASRA's upper limit of 12 per year" if strong else "above 6 per year; document response"),
                f"{counted.capitalize()}. {_GUIDELINE} Local thresholds: {limits}. Document the response to previous "
                "treatments and the exceptional circumstances before continuing.",
                history.evidence,
                wording="no more than 6 to 12 treatments per year",
                local_defaults=_LIMITS,
            )
        ]
    if history.undated:
        return [
            not_evaluable(
                "FREQ",
                f"{len(history.undated)} ketamine record(s) without a date: treatments per year not fully counted",
                [Missing("treatment-dates", f"{ref} has no date and was not counted") for ref in history.undated],
                evidence=history.evidence,
                local_defaults=_LIMITS,
            )
        ]
    if past == 0:
        return [not_applicable("FREQ", "No earlier ketamine treatment in the last 365 days")]
    return [
        satisfied(
            "FREQ",
            f"{counted.capitalize()}: within the local limit of {s.treatments_per_year_warning} per year",
            history.evidence,
            detail=f"{counted.capitalize()}. {_GUIDELINE} Local thresholds: {limits}.",
            local_defaults=_LIMITS,
        )
    ]
