"""The follow-up page: the follow-up questionnaire (ANZCA PS12 1.3 outcome reporting; the response review before
the next treatment, FREQ-RESPONSE) filled in the app and written back as a FHIR QuestionnaireResponse.

The page model is computed here from the patient's data by the clinical core (the course, the response review's
outcome, earlier follow-ups); the template lays it out. Writing needs `patient/QuestionnaireResponse.c`; without it
the response is shown as FHIR JSON to copy into the EHR, as the protocol page does for orders.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from smart_app.config import LocalDefaults
from smart_app.core.outcomes import Citation, Outcome
from smart_app.core.safety.course import FollowUp, courses, follow_up_questionnaire, follow_ups, item_texts
from smart_app.fhir.follow_up import Question, questionnaire_response, questions
from smart_app.smart.oauth import TokenSet
from smart_app.smart.patient_data import PatientData
from smart_app.smart.settings import FOLLOW_UP_WRITE_SCOPE
from smart_app.smart.views import Banner, SourceView, analyse, banner, source_view

IDENTIFIER_SYSTEM = "https://smart-app.example/fhir/NamingSystem/follow-up-form"
FOLLOW_UP_WRITE_UNAVAILABLE = (
    f"Writing the follow-up is unavailable: the EHR did not grant {FOLLOW_UP_WRITE_SCOPE}. "
    "The questionnaire response is shown as FHIR JSON to copy into the EHR instead."
)
FORM = "follow-up"  # the one-time form tokens of this page (smart/writeback.py) are issued for this name
_WRITTEN = re.compile(r"^QuestionnaireResponse/[A-Za-z0-9\-.]{1,64}$")
FUNCTION_WORDS = {"much-better": "much better", "better": "better", "no-change": "no change", "worse": "worse"}


@dataclass(frozen=True, slots=True)
class FollowUpRow:
    """An earlier follow-up, in words."""

    when: str
    reference: str
    pain: str
    relief: str
    function: str
    opioids: str
    adverse_effects: str
    serious: bool


@dataclass(frozen=True, slots=True)
class FollowUpPage:
    banner: Banner | None
    title: str
    questions: tuple[Question, ...]
    course: str | None  # the most recent course, in words
    review: Outcome  # the response review's outcome (FREQ-RESPONSE)
    previous: tuple[FollowUpRow, ...]  # newest first
    can_write: bool
    write_unavailable: str | None
    values: Mapping[str, str] = field(default_factory=dict)  # answers as submitted (the form keeps them)
    problems: tuple[str, ...] = ()
    written: str | None = None  # "QuestionnaireResponse/id" the EHR stored (after the redirect)
    form_token: str | None = None  # one-time token of the write form (None: the form does not write)
    response_json: str | None = None  # the QuestionnaireResponse to copy when it cannot be written
    not_checked: tuple[str, ...] = ()
    nav: str = "follow-up"

    def source(self, citation: Citation) -> SourceView:
        return source_view(citation)


def _row(up: FollowUp) -> FollowUpRow:
    texts = item_texts()
    effects = [texts.get(e, e) if not e.startswith("other: ") else e for e in up.adverse_effects]
    return FollowUpRow(
        when=f"{up.when:%Y-%m-%d}" if up.when else "no date",
        reference=up.reference,
        pain=f"{up.pain:g}/10" if up.pain is not None else "not given",
        relief=f"{up.relief_percent:g}%" if up.relief_percent is not None else "not given",
        function=FUNCTION_WORDS.get(up.function or "", up.function or "not given"),
        opioids=(up.opioid_use or "not given").replace("-", " "),
        adverse_effects="; ".join(effects) or "none reported",
        serious=up.serious,
    )


def follow_up_page(
    data: PatientData, tokens: TokenSet, defaults: LocalDefaults, on: datetime | None = None
) -> FollowUpPage:
    when = on or datetime.now(UTC)
    assessment = analyse(data, defaults, when)
    found = courses(data.record, when, defaults.course_gap_days)
    can_write = tokens.scope.can_write_questionnaire_response
    return FollowUpPage(
        banner=banner(data.patient, when.date()) if tokens.context.need_patient_banner else None,
        title=str(follow_up_questionnaire()["title"]),
        questions=questions(),
        course=found[-1].label if found else None,
        review=assessment.safety.outcome("FREQ-RESPONSE"),
        previous=tuple(_row(up) for up in reversed(follow_ups(data.record, when))),
        can_write=can_write,
        write_unavailable=None if can_write else FOLLOW_UP_WRITE_UNAVAILABLE,
        not_checked=tuple(u.sentence for u in data.unavailable),
    )


def submitted(
    page: FollowUpPage,
    answers: Mapping[str, str],
    tokens: TokenSet,
    on: datetime | None = None,
    *,
    author: str | None = None,
    nonce: str | None = None,
) -> tuple[FollowUpPage, dict[str, Any] | None]:
    """The page after a submit, and the QuestionnaireResponse to write (None when an answer needs correcting).

    `author`: the launch's fhirUser (a Practitioner reference); `nonce`: the form's one-time nonce, kept as the
    response's identifier so that a duplicate submission can be recognised in the EHR."""
    built = questionnaire_response(
        answers,
        patient_reference=f"Patient/{tokens.context.patient}",
        authored=on or datetime.now(UTC),
        author_reference=author,
    )
    values = {k: v for k, v in answers.items() if k not in ("csrf_token", "form_token")}
    if built.resource is None:
        return replace(page, values=values, problems=built.problems), None
    resource = dict(built.resource)
    if tokens.context.encounter:
        resource["encounter"] = {"reference": f"Encounter/{tokens.context.encounter}"}
    if nonce:
        resource["identifier"] = {"system": IDENTIFIER_SYSTEM, "value": nonce}
    if not page.can_write:
        return replace(page, values=values, response_json=json.dumps(resource, indent=2)), None
    return page, resource


def with_form(page: FollowUpPage, form_token: str | None, *, written: str | None = None) -> FollowUpPage:
    """The page with its write form's one-time token, and the confirmation of a write (a checked reference)."""
    shown = written if written is not None and _WRITTEN.fullmatch(written) else None
    return replace(page, form_token=form_token, written=shown)
