"""Fired outcomes as CDS Hooks 2.0 cards, and the information card of what could not be checked.

One card per fired outcome: its summary, its severity as the indicator, a GitHub-flavoured markdown detail with
the evidence (resource, date, value), the guideline passages and any local default it relied on, and `source`
naming the primary guideline (label, public URL, and a topic whose code is the rule id). Only fired outcomes become
cards (core/alerts.py), so a topic code always means "this rule fired".
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any

import orjson

from smart_app.cds_hooks import markdown as md
from smart_app.cds_hooks.models import Action, Card, Coding, Link, Source, Suggestion
from smart_app.config import LocalDefaults
from smart_app.core.outcomes import Citation, Outcome, fit_summary
from smart_app.core.safety.catalogue import spec
from smart_app.mappings import read_json

# Stable CodeSystem of this project's card topics: the code is the rule id (or MME, DATA, PROTOCOL).
TOPIC_SYSTEM = "https://smart-app.example/cds/CodeSystem/rule"
MME_TOPIC = "MME"
DATA_TOPIC = "DATA-UNAVAILABLE"
PROTOCOL_TOPIC = "PROTOCOL"
CHECKLIST_TOPIC = "CHECKLIST"


def new_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` writes it: the same 16 bytes of `os.urandom` with
    the version and variant bits set, written without making a UUID object (a card and each suggestion take one)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def override_reasons() -> list[Coding]:
    return list(_override_reasons())


@cache
def _override_reasons() -> tuple[Coding, ...]:
    """The override reasons, made once: the codings are frozen, so every card can hold the same ones."""
    data = read_json("override_reasons.json")
    return tuple(Coding(system=data["system"], code=r["code"], display=r["display"]) for r in data["reasons"])


def citation_label(citation: Citation) -> str:
    parts = [citation.short, citation.section]
    if citation.grade:
        parts.append(citation.grade)
    return ", ".join(parts)


def source_for(citation: Citation, topic: str) -> Source:
    return Source(label=citation_label(citation), url=citation.url, topic=Coding(system=TOPIC_SYSTEM, code=topic))


def evidence_table(outcome: Outcome) -> str:
    if not outcome.evidence:
        return ""
    rows = ["| Record | What | Date | Value |", "|---|---|---|---|"]
    for e in outcome.evidence:
        when = e.date.date().isoformat() if e.date else ""
        rows.append(f"| {md.cell(e.reference)} | {md.cell(e.description)} | {when} | {md.cell(e.value)} |")
    return "\n".join(rows)


def sources_section(citations: Iterable[Citation]) -> str:
    lines = []
    for c in citations:
        quote = f': "{c.quote}"' if c.quote else ""
        external = " (external source, outside the ketamine guideline documents)" if c.external else ""
        lines.append(
            f"- {c.title}{external}, {c.section}{', ' + c.lines if c.lines else ''}"
            f"{', ' + c.grade if c.grade else ''}{quote}"
        )
    return "**Sources**\n\n" + "\n".join(lines)


def local_defaults_section(names: Iterable[str], settings: LocalDefaults) -> str:
    items = [f"- {settings.describe(name)}" for name in names]
    return (
        "**Local defaults used** (set by local clinical governance, not by the guidelines)\n\n" + "\n".join(items)
        if items
        else ""
    )


def carried_section(carried: Sequence[Outcome]) -> str:
    """Fired outcomes this card carries (core/alerts.py `_carry`): named, with their source, their suggestions
    attached to this card."""
    if not carried:
        return ""
    lines = [
        f"- **{md.text(o.summary)}** ({o.rule_id}). {md.text(o.detail.strip())} Source: {md.text(str(o.citations[0]))}."
        for o in carried
    ]
    return "**Also**\n\n" + "\n".join(lines)


def outcome_card(
    outcome: Outcome,
    settings: LocalDefaults,
    *,
    suggestions: Sequence[Suggestion] = (),
    links: Sequence[Link] = (),
    extension: dict[str, Any] | None = None,
    carried: Sequence[Outcome] = (),
) -> Card:
    """The card of a fired outcome (callers pass only fired ones: see core/alerts.py); `carried`: fired outcomes
    this card also states (their suggestions are among `suggestions`)."""
    if outcome.severity is None:
        raise ValueError(f"{outcome.rule_id}: only a fired outcome becomes a card")
    parts = [md.text(outcome.detail.strip())]
    if outcome.wording:
        parts.append(f"Guideline wording: *{md.text(outcome.wording)}*.")
    table = evidence_table(outcome)
    if table:
        parts.append("**Evidence**\n\n" + table)
    parts.append(carried_section(carried))
    parts.append(sources_section(outcome.citations))
    defaults = local_defaults_section(outcome.local_defaults, settings)
    if defaults:
        parts.append(defaults)
    needs_reason = outcome.severity in ("critical", "warning")
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(outcome.summary),
        indicator=outcome.severity,
        detail="\n\n".join(p for p in parts if p),
        source=source_for(outcome.citations[0], outcome.rule_id),
        suggestions=list(suggestions) or None,
        selection_behavior="any" if suggestions else None,
        override_reasons=override_reasons() if needs_reason else None,
        links=list(links) or None,
        extension=extension,
    )


def create_suggestion(
    label: str,
    resources: Sequence[dict[str, Any]],
    *,
    recommended: bool,
    delete: Sequence[tuple[str, str]] = (),
) -> Suggestion:
    """A suggestion creating `resources`; `delete` (resourceId, description) pairs come first, in the spec's form
    for a delete (`resourceId`, a relative reference), so that accepting it replaces those drafts."""
    deletes = [Action(type="delete", description=text, resource_id=ref) for ref, text in delete]
    return Suggestion(
        label=label,
        uuid=new_uuid(),
        is_recommended=recommended,
        actions=[*deletes, *(Action(type="create", description=_describe(r), resource=r) for r in resources)],
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


def _unchecked_lines(unchecked: Sequence[Outcome]) -> list[str]:
    lines: list[str] = []
    for o in unchecked:
        about = f", {o.subject}" if o.subject else ""
        reasons = "; ".join(dict.fromkeys(m.reason for m in o.missing))
        lines.append(f"{spec(o.rule_id).title} ({o.rule_id}{about}): {reasons}")
    return list(dict.fromkeys(lines))


def data_card(data_gaps: Sequence[str], unchecked: Sequence[Outcome], source_label: str) -> Card:
    """The info card naming what could not be had and which checks could not be done (never silently skipped)."""
    checks = _unchecked_lines(unchecked)
    parts = [
        "The cards of this service are based on the data that could be had. Absence of a card for the items below "
        "is **not** reassurance."
    ]
    if data_gaps:
        parts.append("**Data that could not be had or read**\n\n" + "\n".join(f"- {md.cell(s)}" for s in data_gaps))
    if checks:
        parts.append("**Checks that could not be done**\n\n" + "\n".join(f"- {md.cell(s)}" for s in checks))
    count = len(data_gaps) + len(checks)
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(f"Not everything could be checked: {count} item(s) missing or unreadable; see details"),
        indicator="info",
        detail="\n\n".join(parts),
        source=Source(label=source_label, topic=Coding(system=TOPIC_SYSTEM, code=DATA_TOPIC)),
    )


def checklist_card(reminders: Sequence[Outcome], source_label: str) -> Card:
    """One card of the procedural reminders the record cannot satisfy (shown only when governance enables it)."""
    lines = [f"- {md.cell(o.summary)}" for o in reminders]
    sources = [c for o in reminders for c in o.citations[:1]]
    return Card(
        uuid=new_uuid(),
        summary=fit_summary(f"Before ketamine: {len(reminders)} item(s) to confirm (consent, fasting, opioid plan)"),
        indicator="info",
        detail="These cannot be read from the record; confirm them before treatment.\n\n"
        + "\n".join(lines)
        + "\n\n"
        + sources_section(dict.fromkeys(sources)),
        source=Source(label=source_label, topic=Coding(system=TOPIC_SYSTEM, code=CHECKLIST_TOPIC)),
    )
