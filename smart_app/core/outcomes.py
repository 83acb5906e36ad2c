"""What the clinical core reports: one typed outcome per rule, with its evidence and its source.

Every rule yields, for every assessment (and for every draft order when the rule is about an order), exactly one
`Outcome` whose `status` says what happened:

- `fired`: the clinician should do or reconsider something; only a fired outcome has a severity;
- `satisfied`: the rule's requirement is met, and `evidence` shows what met it (an ECG on file, a dose in range);
- `not-applicable`: the rule does not concern this patient or order (no risk condition, no ketamine order);
- `not-evaluable`: the rule could not be judged, and `missing` names the data that was missing and why.

Presenters (CDS Hooks cards, the SMART app, the CLI) render outcomes; they never recover meaning from the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from smart_app.core.model import DataCategory, quick_frozen
from smart_app.mappings import read_json

Status = Literal["fired", "satisfied", "not-applicable", "not-evaluable"]
STATUSES: tuple[Status, ...] = ("fired", "not-evaluable", "satisfied", "not-applicable")
Severity = Literal["critical", "warning", "info"]
SEVERITY_ORDER: dict[Severity, int] = {"critical": 0, "warning": 1, "info": 2}
# CDS Hooks 2.0: a card's summary is "<140-character"; every presenter shows the same one-line summary.
SUMMARY_LIMIT = 140

# The data a rule may lack. Resource types name a whole category that was unavailable; the others name one datum.
Need = Literal[
    DataCategory,
    "birth-date",
    "body-weight",
    "order-dose",
    "order-duration",
    "order-route",
    "order-concentration",
    "order-drug",
    "dose-range",
    "treatment-dates",
    "fasting-status",
    "consent-record",
    "opioid-plan",
    "opioid-dose",
    "pain-baseline",
]

# What the core recommends doing; adapters turn a plan into something the user can accept (a FHIR ServiceRequest,
# a protocol order set). Declared once, with the words every presenter uses.
PlanKey = Literal[
    "order-ecg",
    "order-lft-baseline",
    "order-lft-post",
    "choose-protocol",
    "record-weight",
    "order-naloxone",
    "record-response",
]
PLAN_LABELS: dict[PlanKey, str] = {
    "order-ecg": "Order a baseline 12-lead ECG",
    "order-lft-baseline": "Order baseline liver function tests",
    "order-lft-post": "Order post-infusion liver function tests",
    "choose-protocol": "Choose a guideline ketamine protocol",
    "record-weight": "Record a current body weight",
    "order-naloxone": "Offer naloxone (draft order; product per local formulary)",
    "record-response": "Record the response to the earlier treatments (pain score, opioid use, function)",
}


def fit_summary(text: str) -> str:
    """One line under the summary limit: whitespace collapsed, long record labels clipped with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) < SUMMARY_LIMIT else text[: SUMMARY_LIMIT - 2].rstrip() + "…"


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

    @property
    def external(self) -> bool:
        """A source outside the five guideline documents (e.g. the CDC opioid guideline for MME levels)."""
        return bool(read_json("guidelines.json")["documents"][self.document].get("external"))

    def to_json(self) -> dict[str, str | bool | None]:
        """Plain JSON for CLI output, API responses and the SMART app."""
        return {
            "document": self.document,
            "title": self.title,
            "url": self.url,
            "section": self.section,
            "lines": self.lines,
            "grade": self.grade,
            "quote": self.quote,
            "external": self.external,
            "label": str(self),
        }

    def __str__(self) -> str:
        # Each card and JSON answer names its citations, some thirty a call, and a label depends only on the
        # citation's fields and the fixed guideline catalogue: made once per distinct citation (a few hundred).
        label = _LABELS.get(self)
        if label is None:
            if len(_LABELS) >= _LABELS_MAX:
                _LABELS.clear()
            label = _LABELS[self] = self._label()
        return label

    def _label(self) -> str:
        parts = [self.short, self.section]
        if self.lines:
            parts.append(self.lines)
        if self.grade:
            parts.append(self.grade)
        # A source outside the five guideline documents says so wherever it is shown.
        return ", ".join(parts) + (" (external source)" if self.external else "")


_LABELS: dict[Citation, str] = {}
_LABELS_MAX = 4096  # citations are catalogue constants; a bound all the same, as some are built from input


@quick_frozen
@dataclass(frozen=True, slots=True)
class Evidence:
    """One datum behind an outcome: which resource, what it said, when."""

    reference: str  # "Condition/abc", "Observation/bp1", "MedicationRequest/draft-1", or "(absent)"
    description: str  # "Essential hypertension (SNOMED 59621000), active"
    date: datetime | None = None
    value: str | None = None  # "172/104 mmHg"


@quick_frozen
@dataclass(frozen=True, slots=True)
class Missing:
    """Data a rule needed and did not have, with the reason in words (for the 'could not check' card)."""

    need: Need
    reason: str


@dataclass(frozen=True, slots=True)
class Outcome:
    rule_id: str
    status: Status
    summary: str  # one line, under SUMMARY_LIMIT characters (a card summary when fired)
    citations: tuple[Citation, ...]
    detail: str = ""  # markdown
    evidence: tuple[Evidence, ...] = ()  # fired: what triggered it; satisfied: what satisfied it
    severity: Severity | None = None  # fired outcomes only
    missing: tuple[Missing, ...] = ()  # not-evaluable outcomes only
    subject: str | None = None  # the draft order an order rule judged ("MedicationRequest/draft-1")
    wording: str | None = None  # the guideline's strength: "should not be used", "avoid", "caution", ...
    local_defaults: tuple[str, ...] = ()  # names of LocalDefaults settings the outcome relied on
    plans: tuple[PlanKey, ...] = ()  # what the clinician may do about a fired outcome

    def __post_init__(self) -> None:
        if len(self.summary) >= SUMMARY_LIMIT:
            raise ValueError(f"{self.rule_id}: summary must be under {SUMMARY_LIMIT} characters")
        if (self.severity is not None) != (self.status == "fired"):
            raise ValueError(f"{self.rule_id}: a severity belongs to fired outcomes, and every fired outcome has one")
        if self.status == "fired" and not self.citations:
            raise ValueError(f"{self.rule_id}: a fired outcome must cite its source")
        if (self.status == "not-evaluable") != bool(self.missing):
            raise ValueError(f"{self.rule_id}: a not-evaluable outcome, and only one, names the missing data")
        if self.plans and self.status != "fired":
            raise ValueError(f"{self.rule_id}: only a fired outcome carries plans")

    @property
    def fired(self) -> bool:
        return self.status == "fired"


def severity_rank(outcome: Outcome) -> int:
    return SEVERITY_ORDER[outcome.severity] if outcome.severity else len(SEVERITY_ORDER)


def sort_fired(outcomes: tuple[Outcome, ...] | list[Outcome]) -> list[Outcome]:
    """Fired outcomes, critical first, then by rule id (a stable order for cards and screens)."""
    return sorted((o for o in outcomes if o.fired), key=lambda o: (severity_rank(o), o.rule_id, o.subject or ""))
