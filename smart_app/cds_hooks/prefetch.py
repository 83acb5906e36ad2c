"""Prefetch templates: the FHIR queries the services ask for, and a check that each is valid for CDS Hooks 2.0.

The spec's restricted query subset (section "Prefetch query restrictions"): instance reads, type-level searches,
references to `{{context.x}}`, token parameters by equality (optionally `:in`), date parameters with the prefixes
eq/lt/gt/ge/le, `_count` and `_sort`. Tokens may name only root-level context fields or the four user identifiers.
Each query is declared once here with what the clinical core loses without it, so that a card can say what could
not be checked and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast, get_args
from urllib.parse import parse_qsl

from smart_app.core.model import LOINC, DataCategory
from smart_app.core.safety.terminology import codes_of_kind

USER_TOKENS = frozenset({"userPractitionerId", "userPractitionerRoleId", "userPatientId", "userRelatedPersonId"})
_TOKEN = re.compile(r"\{\{([^{}]*)\}\}")
_DATE_PREFIXES = ("eq", "lt", "gt", "ge", "le")
_RESOURCE_TYPE = re.compile(r"^[A-Z][A-Za-z]+$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@dataclass(frozen=True, slots=True)
class PrefetchQuery:
    """One prefetch key: its template and, for the 'not checked' card, what the data is and what depends on it."""

    key: str
    template: str
    data: str  # "observations"
    needed_for: str  # "the ECG/LFT look-back, blood pressure, weight (mg/kg) and pregnancy test checks"

    @property
    def is_read(self) -> bool:
        return "?" not in self.template

    @property
    def resource_type(self) -> DataCategory | None:
        """The category of patient data the query fetches, when the clinical core reads that category."""
        kind = self.template.split("?", 1)[0].split("/", 1)[0]
        return cast(DataCategory, kind) if kind in get_args(DataCategory) else None


PATIENT = PrefetchQuery(
    "patient", "Patient/{{context.patientId}}", "patient demographics", "the age-dependent (elderly) thresholds"
)
CONDITIONS = PrefetchQuery(
    "conditions",
    "Condition?patient={{context.patientId}}",
    "conditions",
    "the condition-based contraindications and the ECG/LFT indications",
)


def _observation_codes() -> str:
    """Every LOINC code the safety rules read (the observation concepts of mappings/concepts.json, pain-score
    included: the response review reads it), as one token search: `system|code,...`.

    Asking only for these keeps a patient's thousands of vital signs out of the request; the value sets stay the
    one place that says which observations matter."""
    return ",".join(f"{LOINC}|{code}" for code in codes_of_kind("observation", LOINC))


OBSERVATIONS = PrefetchQuery(
    "observations",
    "Observation?patient={{context.patientId}}&code=" + _observation_codes() + "&_sort=-date",
    "observations",
    "the ECG/LFT look-back, blood pressure control, weight for mg/kg dose checks and pregnancy tests",
)
MEDICATION_REQUESTS = PrefetchQuery(
    "medicationRequests",
    "MedicationRequest?patient={{context.patientId}}",
    "medication orders",
    "the opioid MME total and the ketamine treatment history",
)
MEDICATION_STATEMENTS = PrefetchQuery(
    "medicationStatements",
    "MedicationStatement?patient={{context.patientId}}",
    "medication statements",
    "the opioid MME total (opioids the patient reports taking)",
)
MEDICATION_ADMINISTRATIONS = PrefetchQuery(
    "medicationAdministrations",
    "MedicationAdministration?patient={{context.patientId}}",
    "medication administrations",
    "the count of ketamine treatments in the last year",
)
ALLERGIES = PrefetchQuery(
    "allergies",
    "AllergyIntolerance?patient={{context.patientId}}",
    "allergies",
    "the benzodiazepine-rescue precaution",
)
CONSENTS = PrefetchQuery("consents", "Consent?patient={{context.patientId}}", "consents", "the written-consent check")
QUESTIONNAIRE_RESPONSES = PrefetchQuery(
    "questionnaireResponses",
    "QuestionnaireResponse?patient={{context.patientId}}",
    "follow-up questionnaires",
    "the response review before the next treatment of a series",
)

KETAMINE_QUERIES = (
    PATIENT,
    CONDITIONS,
    OBSERVATIONS,
    MEDICATION_REQUESTS,
    MEDICATION_STATEMENTS,
    MEDICATION_ADMINISTRATIONS,
    ALLERGIES,
    CONSENTS,
    QUESTIONNAIRE_RESPONSES,
)
OPIOID_QUERIES = (PATIENT, MEDICATION_REQUESTS, MEDICATION_STATEMENTS)


def template_problems(template: str, context_fields: frozenset[str]) -> list[str]:
    """Why `template` is not a valid CDS Hooks 2.0 prefetch template in the restricted subset ([] when valid)."""
    problems: list[str] = []
    for token in _TOKEN.findall(template):
        name = token.strip()
        if name.startswith("context."):
            field = name.removeprefix("context.")
            if "." in field or field not in context_fields:
                problems.append(f"token {{{{{name}}}}} is not a root-level prefetch field of the hook context")
        elif name not in USER_TOKENS:
            problems.append(f"token {{{{{name}}}}} is neither a context field nor a user identifier")
    path, _, query = template.partition("?")
    parts = path.split("/")
    if not _RESOURCE_TYPE.match(parts[0]):
        problems.append(f"{parts[0]!r} is not a resource type")
    if query:  # type-level search
        if len(parts) != 1:
            problems.append("a search must be type-level (no id or compartment in the path)")
        problems.extend(_parameter_problems(query))
    elif len(parts) != 2 or not (_TOKEN.fullmatch(parts[1]) or _ID.match(parts[1])):
        problems.append("a read must be ResourceType/id")
    return problems


def _parameter_problems(query: str) -> list[str]:
    problems: list[str] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        base, _, modifier = name.partition(":")
        if base in ("_count",):
            if not value.isdigit():
                problems.append("_count must be a number")
        elif base == "_sort":
            if modifier:
                problems.append("_sort takes no modifier")
        elif base.startswith("_") and base != "_id":
            problems.append(f"parameter {base} is outside the restricted subset")
        elif base == "date" or base.endswith("-date"):
            if modifier or (value[:2].isalpha() and value[:2] not in _DATE_PREFIXES):
                problems.append(f"date parameter {name} may use only the prefixes eq, lt, gt, ge, le")
        elif modifier and modifier != "in":
            problems.append(f"modifier :{modifier} is not allowed (only :in on token parameters)")
    return problems
