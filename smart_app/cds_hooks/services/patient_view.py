"""patient-view summary: one information card with the current MME/day and the ketamine candidacy flags.

Flags are the safety engine's critical and warning findings for the record as it stands (no draft order), each
with its source, so a clinician sees before ordering whether ketamine is likely to be contraindicated.
"""

from __future__ import annotations

from smart_app.cds_hooks.cards import TOPIC_SYSTEM, citation_label, fit_summary, new_uuid
from smart_app.cds_hooks.mme_card import classify, mme_extension
from smart_app.cds_hooks.models import Card, Coding, Source
from smart_app.cds_hooks.prefetch import KETAMINE_QUERIES
from smart_app.cds_hooks.registry import CdsService, ServiceCall, ServiceResult
from smart_app.cds_hooks.services.common import current_mme, link_for
from smart_app.core.findings import Finding
from smart_app.core.mme import MmeReport
from smart_app.core.safety import evaluate

SUMMARY_TOPIC = "SUMMARY"
# Pre-procedure steps (consent, nil per os), not reasons against ketamine as a treatment: not candidacy flags.
PROCEDURAL_RULES = frozenset({"CI-CONSENT", "CI-ASP"})


def _mme_line(report: MmeReport, call: ServiceCall) -> tuple[str, str]:
    """(short phrase for the summary, markdown paragraph for the detail)."""
    total = report.total_mme_per_day
    if not report.items:
        return "no current opioids", "**Opioids:** no current opioid medication in the record."
    _, sentence = classify(total, call.defaults)
    bound = "at least " if report.left_out and total is not None else ""
    figure = f"{bound}{total:.1f} MME/day" if total is not None else "MME/day not computable"
    left_out = "".join(f"\n- not counted: {i.name}: {i.reason or i.status}" for i in report.left_out)
    detail = (
        f"**Opioids:** {figure} ({sentence}; {report.table_citation}; thresholds are local defaults: "
        f"{call.defaults.describe('mme_precaution_threshold')}).{left_out}"
    )
    return figure, detail


def _flag_line(f: Finding) -> str:
    return f"- **{f.severity}** {f.summary} ({citation_label(f.citations[0])}; rule {f.rule_id})"


def handle(call: ServiceCall) -> ServiceResult:
    mme = current_mme(call)
    report = evaluate(call.record, drafts=(), on=call.on, settings=call.defaults, mme=mme)
    flags = [f for f in report.findings if f.severity in ("critical", "warning") and f.rule_id not in PROCEDURAL_RULES]
    critical = sum(f.severity == "critical" for f in flags)
    figure, mme_detail = _mme_line(mme, call)
    if critical:
        ketamine = f"{critical} ketamine contraindication(s)"
    elif flags:
        ketamine = f"{len(flags)} ketamine precaution(s)"
    else:
        ketamine = "no ketamine contraindication found in the data available"
    flag_detail = "\n".join(_flag_line(f) for f in flags) or "- none found in the data available"
    card = Card(
        uuid=new_uuid(),
        summary=fit_summary(f"Opioids: {figure}. Ketamine: {ketamine}."),
        indicator="info",
        detail=f"{mme_detail}\n\n**Ketamine candidacy flags**\n\n{flag_detail}",
        source=Source(
            label="CDC opioid guideline 2022 (MME); ANZCA FPM PS12(PM) 2022 and ASRA 2018 (ketamine)",
            topic=Coding(system=TOPIC_SYSTEM, code=SUMMARY_TOPIC),
        ),
        links=[link_for(call)],
        extension=mme_extension(mme),
    )
    return ServiceResult([card], tuple(report.not_checked))


SERVICE = CdsService(
    id="ketamine-opioid-summary",
    hook="patient-view",
    title="Opioid dose and ketamine candidacy summary",
    description=(
        "On opening the chart: current opioid total in MME/day (CDC 2022 table) and any ketamine "
        "contraindications or precautions found in the record, each with its guideline source."
    ),
    queries=KETAMINE_QUERIES,
    handler=handle,
    usage_requirements="Needs the patient's conditions, observations and medications, by prefetch or FHIR access.",
    source_label="smart_app summary service",
)
