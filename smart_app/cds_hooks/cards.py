"""Findings and MME reports as CDS Hooks 2.0 cards.

One card per finding: the finding's summary, its severity as the indicator, a GitHub-flavoured markdown detail
with the evidence (resource, date, value), the guideline passages and any local default it relied on, and
`source` naming the primary guideline (label, public URL, and a topic whose code is the rule id).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from smart_app.cds_hooks.models import Action, Card, Coding, Link, Source, Suggestion
from smart_app.config import LocalDefaults
from smart_app.core.findings import Citation, Finding
from smart_app.mappings import read_json

# Stable CodeSystem of this project's card topics: the code is the rule id (or MME, DATA, PROTOCOL).
TOPIC_SYSTEM = "https://smart-app.example/cds/CodeSystem/rule"
MME_TOPIC = "MME"
DATA_TOPIC = "DATA-UNAVAILABLE"
PROTOCOL_TOPIC = "PROTOCOL"
SUMMARY_LIMIT = 140  # the spec: "<140-character summary"


def new_uuid() -> str:
    return str(uuid.uuid4())


def override_reasons() -> list[Coding]:
    data = read_json("override_reasons.json")
    return [Coding(system=data["system"], code=r["code"], display=r["display"]) for r in data["reasons"]]


def fit_summary(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


def citation_label(citation: Citation) -> str:
    parts = [citation.short, citation.section]
    if citation.grade:
        parts.append(citation.grade)
    return ", ".join(parts)


def source_for(citation: Citation, topic: str) -> Source:
    return Source(label=citation_label(citation), url=citation.url, topic=Coding(system=TOPIC_SYSTEM, code=topic))


def md_cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def evidence_table(finding: Finding) -> str:
    if not finding.evidence:
        return ""
    rows = ["| Record | What | Date | Value |", "|---|---|---|---|"]
    for e in finding.evidence:
        when = e.date.date().isoformat() if e.date else ""
        rows.append(f"| {md_cell(e.reference)} | {md_cell(e.description)} | {when} | {md_cell(e.value)} |")
    return "\n".join(rows)


def sources_section(citations: Iterable[Citation]) -> str:
    lines = []
    for c in citations:
        quote = f': "{c.quote}"' if c.quote else ""
        lines.append(
            f"- {c.title}, {c.section}{', ' + c.lines if c.lines else ''}{', ' + c.grade if c.grade else ''}{quote}"
        )
    return "**Sources**\n\n" + "\n".join(lines)


def local_defaults_section(names: Iterable[str], settings: LocalDefaults) -> str:
    items = [f"- {settings.describe(name)}" for name in names]
    return (
        "**Local defaults used** (set by local clinical governance, not by the guidelines)\n\n" + "\n".join(items)
        if items
        else ""
    )


def finding_card(
    finding: Finding,
    settings: LocalDefaults,
    *,
    suggestions: Sequence[Suggestion] = (),
    links: Sequence[Link] = (),
) -> Card:
    parts = [finding.detail.strip()]
    if finding.wording:
        parts.append(f"Guideline wording: *{finding.wording}*.")
    table = evidence_table(finding)
    if table:
        parts.append("**Evidence**\n\n" + table)
    parts.append(sources_section(finding.citations))
    defaults = local_defaults_section(finding.local_defaults, settings)
    if defaults:
        parts.append(defaults)
    needs_reason = finding.severity in ("critical", "warning")
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(finding.summary),
        indicator=finding.severity,
        detail="\n\n".join(p for p in parts if p),
        source=source_for(finding.citations[0], finding.rule_id),
        suggestions=list(suggestions) or None,
        selection_behavior="any" if suggestions else None,
        override_reasons=override_reasons() if needs_reason else None,
        links=list(links) or None,
    )


def create_suggestion(label: str, resources: Sequence[dict[str, Any]], *, recommended: bool) -> Suggestion:
    return Suggestion(
        label=label,
        uuid=new_uuid(),
        is_recommended=recommended,
        actions=[Action(type="create", description=_describe(r), resource=r) for r in resources],
    )


def _describe(resource: dict[str, Any]) -> str:
    kind = resource.get("resourceType", "resource")
    for key in ("medicationCodeableConcept", "code"):
        concept = resource.get(key)
        if isinstance(concept, dict):
            text = concept.get("text") or next(
                (c.get("display") for c in concept.get("coding") or [] if isinstance(c, dict) and c.get("display")),
                None,
            )
            if text:
                return f"Create {kind}: {text}"
    return f"Create {kind}"


def smart_link(launch_url: str, patient_id: str | None, draft_refs: Sequence[str], label: str) -> Link:
    """A SMART launch link; `appContext` names the patient and draft orders for the app (the EHR passes it on)."""
    context: dict[str, Any] = {"patient": patient_id} if patient_id else {}
    if draft_refs:
        context["draftOrders"] = list(draft_refs)
    return Link(
        label=label,
        url=launch_url,
        type="smart",
        app_context=orjson.dumps(context).decode() if context else None,
    )


def data_card(sentences: Sequence[str], source_label: str) -> Card:
    """The info card naming what could not be checked and why (never silently skipped)."""
    summary = f"Not everything could be checked: {len(sentences)} gap(s) in the data; see details"
    detail = (
        "The decision above is based on the data that could be had. These checks were not run, or ran on "
        "incomplete data; absence of a card for them is **not** reassurance:\n\n"
        + "\n".join(f"- {s}" for s in sentences)
    )
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(summary),
        indicator="info",
        detail=detail,
        source=Source(label=source_label, topic=Coding(system=TOPIC_SYSTEM, code=DATA_TOPIC)),
    )
