"""What the clinical core reports: findings with their evidence and their source.

A `Finding` is the unit every presenter (CDS Hooks card, SMART app page, CLI table) renders. It carries enough to
be checked by hand: the rule, the data that triggered it, the guideline passage and grade, and any local default
it relied on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smart_app.mappings import read_json

Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"critical": 0, "warning": 1, "info": 2}


@dataclass(frozen=True, slots=True)
class Citation:
    """A guideline passage: document key (see mappings/guidelines.json), section, line refs, grade."""

    document: str
    section: str
    lines: str | None = None
    grade: str | None = None  # e.g. "Grade B, moderate certainty"; None for ungraded position statements
    quote: str | None = None

    @property
    def title(self) -> str:
        return str(read_json("guidelines.json")["documents"][self.document]["title"])

    @property
    def short(self) -> str:
        return str(read_json("guidelines.json")["documents"][self.document]["short"])

    @property
    def url(self) -> str | None:
        url = read_json("guidelines.json")["documents"][self.document]["url"]
        return str(url) if url else None

    def to_json(self) -> dict[str, str | None]:
        """Plain JSON for CLI output, API responses and the SMART app."""
        return {
            "document": self.document,
            "title": self.title,
            "url": self.url,
            "section": self.section,
            "lines": self.lines,
            "grade": self.grade,
            "quote": self.quote,
            "label": str(self),
        }

    def __str__(self) -> str:
        parts = [self.short, self.section]
        if self.lines:
            parts.append(self.lines)
        if self.grade:
            parts.append(self.grade)
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Evidence:
    """One datum behind a finding: which resource, what it said, when."""

    reference: str  # "Condition/abc", "Observation/bp1", "MedicationRequest/draft-1", or "(absent)"
    description: str  # "Essential hypertension (SNOMED 59621000), active"
    date: datetime | None = None
    value: str | None = None  # "172/104 mmHg"


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    severity: Severity
    summary: str  # one line, < 140 characters (CDS Hooks card summary)
    detail: str  # markdown
    citations: tuple[Citation, ...]
    evidence: tuple[Evidence, ...] = ()
    wording: str | None = None  # the guideline's strength: "should not be used", "avoid", "caution", ...
    local_defaults: tuple[str, ...] = ()  # names of LocalDefaults settings the finding relied on
    suggestions: tuple[str, ...] = ()  # keys of actions presenters may offer, e.g. "order-ecg", "order-lft"

    def __post_init__(self) -> None:
        if len(self.summary) >= 140:
            raise ValueError(f"{self.rule_id}: summary must be under 140 characters")
        if not self.citations:
            raise ValueError(f"{self.rule_id}: a finding must cite its source")


def sort_findings(findings: list[Finding] | tuple[Finding, ...]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.rule_id))
