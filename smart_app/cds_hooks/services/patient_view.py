"""patient-view summary: one information card when the record holds a ketamine contraindication or precaution, or
an opioid load that calls for attention; silent otherwise (core/alerts.py `summary_alerts`).

The flags are the fired outcomes for the record as it stands (no draft order), each with its source, so that a
clinician sees before ordering whether ketamine is likely to be contraindicated.
"""

from __future__ import annotations

from smart_app.cds_hooks import markdown as md
from smart_app.cds_hooks.cards import TOPIC_SYSTEM, citation_label, new_uuid
from smart_app.cds_hooks.mme_card import mme_extension
from smart_app.cds_hooks.models import Card, Coding, Source
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import assessment_for, links_for
from smart_app.core.alerts import summary_alerts
from smart_app.core.assessment import Assessment
from smart_app.core.outcomes import Outcome, fit_summary

SUMMARY_TOPIC = "SUMMARY"


def _mme_line(assessment: Assessment, call: ServiceCall) -> tuple[str, str]:
    """(short phrase for the summary, markdown paragraph for the detail)."""
    report, level = assessment.mme, assessment.mme_level
    if level.level == "none":
        return "no current opioids", "**Opioids:** no current opioid medication in the record (0 MME/day)."
    bound = "at least " if level.at_least else ""
    figure = (
        f"{bound}{level.total:.1f} {report.figure}" if level.total is not None else f"{report.figure} not computable"
    )
    left_out = "".join(f"\n- not counted: {md.cell(f'{i.name}: {i.reason or i.status}')}" for i in report.left_out)
    detail = f"**Opioids:** {figure} ({level.sentence}; {report.table_citation}).{left_out}"
    return figure, detail


def _flag_line(o: Outcome) -> str:
    return f"- **{o.severity}** {md.cell(o.summary)} ({citation_label(o.citations[0])}; rule {o.rule_id})"


def handle(call: ServiceCall) -> ServiceResult:
    assessment = assessment_for(call)
    alerts = summary_alerts(assessment, call.defaults)
    if alerts.silent:
        return ServiceResult([])
    flags = alerts.cards
    critical = sum(o.severity == "critical" for o in flags)
    figure, mme_detail = _mme_line(assessment, call)
    if critical:
        ketamine = f"{critical} ketamine contraindication(s)"
    elif flags:
        ketamine = f"{len(flags)} ketamine precaution(s)"
    else:
        ketamine = "no contraindication or precaution fired"
    parts = [mme_detail]
    if flags:
        parts.append("**Ketamine candidacy flags**\n\n" + "\n".join(_flag_line(o) for o in flags))
    card = Card(
        uuid=new_uuid(),
        summary=fit_summary(f"Opioids: {figure}. Ketamine: {ketamine}."),
        indicator="warning" if flags else "info",
        detail="\n\n".join(parts),
        source=Source(
            label="CDC opioid guideline 2022 (MME); ANZCA FPM PS12(PM) 2022 and ASRA 2018 (ketamine)",
            topic=Coding(system=TOPIC_SYSTEM, code=SUMMARY_TOPIC),
        ),
        links=links_for(call) or None,
        extension=mme_extension(assessment.mme, assessment.mme_level),
    )
    return ServiceResult([card], alerts.unchecked)


SERVICE = CdsService(
    id="ketamine-opioid-summary",
    hook="patient-view",
    title="Opioid dose and ketamine candidacy summary",
    description=(
        "On opening the chart, only when something calls for attention: the opioid total in MME/day when it reaches "
        "the configured level or is not fully known, and any ketamine contraindication or precaution in the "
        "record, each with its guideline source. Silent otherwise."
    ),
    queries=KETAMINE_QUERIES,
    handler=handle,
    usage_requirements="Needs the patient's conditions, observations and medications, by prefetch or FHIR access.",
    source_label="smart_app summary service",
)
