"""FREQ-RESPONSE: the response to the earlier treatments is documented before the next one, and a series is not
continued by rote (ASRA Q3 L1287-1289: "reassess before initiating further treatments"; Q8 L1611-1620: a series
"should not be administered by rote, but rather tailored to patient response"; RULES.md 7, FREQ: "a series with
no documented response").

The earlier treatments are the most recent course of the last 365 days (core/safety/course.py). Documented
response: a pain score after the course began, a follow-up questionnaire (ANZCA PS12 1.3 outcome reporting), or
the opioid load since the course began (OPI-BASELINE). Outcomes:
- fired, asking for the response review (plan `record-response`): nothing documented since the course began
  (warning with a new ketamine order, information otherwise);
- fired: documented, and no criterion shows a response (warning when the order continues the series);
- satisfied: a criterion shows a response (evidence: what and when);
- not-evaluable: documented but not comparable (a pain score and none before the course), or no documentation
  while observations or questionnaire responses could not be had;
- not-applicable: no earlier treatment in the last 365 days.
"""

from __future__ import annotations

from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.course import Course, CourseResponse, ResponseCheck, course_response, courses
from smart_app.core.safety.rules.baseline_mme import course_opioid_change

RULE = "FREQ-RESPONSE"
_DEFAULTS = ("course_gap_days",)
_DATA = ("Observation", "QuestionnaireResponse")
_GUIDELINE = (
    "ASRA: start with a single infusion and **reassess before initiating further treatments** (Q3, Grade C); a "
    "positive outcome is **30% pain relief or greater** with patient satisfaction and/or objective indicators such "
    "as better function or a **20% or greater reduction in opioid use**, and a consecutive series **should not be "
    "administered by rote, but rather tailored to patient response** (Q8, Grade C). ANZCA PS12 1.3: conditional use "
    "involves systematic reporting of effectiveness and safety outcomes."
)
_HOW = (
    "Record a pain score (0-10) or the follow-up questionnaire in the SMART app (pain, relief, function, opioid "
    "use, adverse effects)."
)


def opioid_change(ctx: SafetyContext, course: Course) -> ResponseCheck | None:
    """The opioid criterion since the course began, from OPI-BASELINE's MME figures (None when not known)."""
    return course_opioid_change(ctx, course)


def _gaps(ctx: SafetyContext) -> list[Missing]:
    return [
        Missing(gap.resource_type, f"{'some ' if gap.partial else ''}{gap.resource_type} data: {gap.reason}")
        for gap in ctx.record.gaps
        if gap.resource_type in _DATA
    ]


def _evidence(course: Course, response: CourseResponse) -> list[Evidence]:
    found = [*(c.evidence for c in response.checks), *response.documented, *course.evidence]
    return list({(e.reference, e.description): e for e in found}.values())


def check(ctx: SafetyContext) -> list[Outcome]:
    found = courses(ctx.record, ctx.on, ctx.settings.course_gap_days, history=ctx.history)
    drafted = [o for o in ctx.orders if o.drug == "ketamine"]
    if not found:
        note = ": reassess after this first treatment before further ones" if drafted else ""
        return [not_applicable(RULE, f"No earlier ketamine treatment in the last 365 days{note}")]
    course = found[-1]
    response = course_response(ctx.record, course, ctx.on, opioid_change=opioid_change(ctx, course))
    continues = drafted and (ctx.on.date() - course.end).days <= ctx.settings.course_gap_days
    series = f"the course of {course.label}"
    evidence = _evidence(course, response)
    course_rule = ctx.local("course_gap_days")
    reviewed = [c for c in response.checks if c.criterion != "opioid"]  # recorded by someone: pain, function
    if not reviewed and not response.responded:
        opioids = "; ".join(c.text for c in response.checks)
        opioids = f" From the medication record: {opioids}." if opioids else ""
        gaps = _gaps(ctx)
        if gaps:
            return [
                not_evaluable(
                    RULE,
                    "Response to the earlier ketamine treatments not checked: follow-up data could not be had",
                    gaps,
                    evidence=course.evidence,
                    local_defaults=_DEFAULTS,
                )
            ]
        next_one = "this order" if drafted else "any further treatment"
        return [
            fired(
                RULE,
                "warning" if drafted else "info",
                f"No documented response to the earlier ketamine treatment(s) ({course.label}): review before "
                + ("this order" if drafted else "the next"),
                f"Earlier treatments: {series} (a course: {course_rule}). No pain score or follow-up questionnaire is "
                f"recorded since it began.{opioids} Review the response before {next_one}. {_HOW} {_GUIDELINE}",
                evidence,
                wording="reassess before initiating further treatments",
                local_defaults=_DEFAULTS,
                plans=("record-response",),
            )
        ]
    findings = "; ".join(c.text for c in response.checks)
    if response.responded:
        return [
            satisfied(
                RULE,
                f"Response documented after {series}: {findings}",
                evidence,
                detail=f"{findings}. {_GUIDELINE}",
                local_defaults=_DEFAULTS,
            )
        ]
    if all(c.responded is None for c in response.checks):
        return [
            not_evaluable(
                RULE,
                f"Response to {series} documented but not comparable: {findings}",
                [Missing("pain-baseline", f"no response criterion can be judged: {findings}")],
                evidence=evidence,
                local_defaults=_DEFAULTS,
            )
        ]
    if continues:
        days = len(course.days)
        summary = f"No response documented after {days} treatment day(s): the series is not to go on by rote"
    elif drafted:
        summary = f"No response documented to the last ketamine course ({course.label}): reconsider re-treatment"
    else:
        summary = f"No response documented to the ketamine course of {course.label}: review before any further one"
    return [
        fired(
            RULE,
            "warning" if drafted else "info",
            summary,
            f"Since {series} began: {findings}. No criterion shows a response. {_GUIDELINE} Document the reasons "
            "(exceptional circumstances, a changed plan) if treatment continues.",
            evidence,
            wording="should not be administered by rote",
            local_defaults=_DEFAULTS,
        )
    ]
