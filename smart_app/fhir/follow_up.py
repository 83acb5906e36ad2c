"""The follow-up questionnaire's answers as a FHIR R4 QuestionnaireResponse (what the SMART app writes back).

The Questionnaire is data (mappings/follow_up_questionnaire.json, read through core/safety/course.py); this module
turns submitted answers (form fields, by linkId) into a QuestionnaireResponse that follows the Questionnaire's
structure and types, checks each answer against its item (type, allowed range, answer options, required), and
validates the result as FHIR R4. Nothing is invented: an item left empty is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from smart_app.core.safety.course import follow_up_questionnaire
from smart_app.fhir.resources import validated

Resource = dict[str, Any]
YES = frozenset({"yes", "true", "on", "1"})
NO = frozenset({"no", "false", "0"})


@dataclass(frozen=True, slots=True)
class Question:
    """One item of the questionnaire, for a form."""

    link_id: str
    text: str
    type: str  # boolean | integer | decimal | date | string | text | choice | group
    required: bool
    options: tuple[tuple[str, str], ...]  # (code, display) for choice items
    minimum: float | None
    maximum: float | None
    children: tuple[Question, ...] = ()


def _bounds(item: dict[str, Any]) -> tuple[float | None, float | None]:
    low = high = None
    for ext in item.get("extension", ()):
        value = ext.get("valueInteger", ext.get("valueDecimal"))
        if ext.get("url", "").endswith("/minValue"):
            low = float(value)
        elif ext.get("url", "").endswith("/maxValue"):
            high = float(value)
    return low, high


def _question(item: dict[str, Any]) -> Question:
    low, high = _bounds(item)
    return Question(
        link_id=str(item["linkId"]),
        text=str(item.get("text", item["linkId"])),
        type=str(item["type"]),
        required=bool(item.get("required", False)),
        options=tuple(
            (str(o["valueCoding"]["code"]), str(o["valueCoding"]["display"])) for o in item.get("answerOption", ())
        ),
        minimum=low,
        maximum=high,
        children=tuple(_question(child) for child in item.get("item", ())),
    )


def questions() -> tuple[Question, ...]:
    return tuple(_question(item) for item in follow_up_questionnaire()["item"])


def _option_coding(item: dict[str, Any], code: str) -> dict[str, Any] | None:
    for option in item.get("answerOption", ()):
        coding: dict[str, Any] = option["valueCoding"]
        if coding["code"] == code:
            return dict(coding)
    return None


def _value(item: dict[str, Any], raw: str, problems: list[str]) -> dict[str, Any] | None:
    kind, text = item["type"], item.get("text", item["linkId"])
    low, high = _bounds(item)
    try:
        if kind == "boolean":
            if raw.lower() in YES:
                return {"valueBoolean": True}
            if raw.lower() in NO:
                return {"valueBoolean": False}
            raise ValueError
        if kind in ("integer", "decimal"):
            number: float = int(raw) if kind == "integer" else float(raw)
            if (low is not None and number < low) or (high is not None and number > high):
                problems.append(f"{text}: {raw} is outside {low:g} to {high:g}")
                return None
            return {"valueInteger": int(number)} if kind == "integer" else {"valueDecimal": number}
        if kind == "date":
            return {"valueDate": date.fromisoformat(raw).isoformat()}
        if kind == "choice":
            coding = _option_coding(item, raw)
            if coding is None:
                raise ValueError
            return {"valueCoding": coding}
        if kind in ("string", "text"):
            return {"valueString": raw}
    except ValueError:
        problems.append(f"{text}: {raw!r} is not a valid answer")
        return None
    problems.append(f"{text}: items of type {kind} are not supported")
    return None


def _items(items: Iterable[dict[str, Any]], answers: Mapping[str, str], problems: list[str]) -> list[Resource]:
    out: list[Resource] = []
    for item in items:
        link, text = str(item["linkId"]), str(item.get("text", item["linkId"]))
        if item["type"] == "group":
            children = _items(item.get("item", ()), answers, problems)
            if children:
                out.append({"linkId": link, "text": text, "item": children})
            continue
        raw = (answers.get(link) or "").strip()
        if not raw:
            if item.get("required"):
                problems.append(f"{text}: an answer is required")
            continue
        value = _value(item, raw, problems)
        if value is not None:
            out.append({"linkId": link, "text": text, "answer": [value]})
    return out


@dataclass(frozen=True, slots=True)
class FollowUpResponse:
    resource: Resource | None  # None when an answer was invalid or a required one missing
    problems: tuple[str, ...]


def questionnaire_response(
    answers: Mapping[str, str],
    *,
    patient_reference: str,
    authored: datetime,
    author_reference: str | None = None,
) -> FollowUpResponse:
    """A completed QuestionnaireResponse to the follow-up questionnaire from answers by linkId, or the problems."""
    questionnaire = follow_up_questionnaire()
    problems: list[str] = []
    items = _items(questionnaire["item"], answers, problems)
    if problems:
        return FollowUpResponse(None, tuple(problems))
    resource: Resource = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "questionnaire": f"{questionnaire['url']}|{questionnaire['version']}",
        "subject": {"reference": patient_reference},
        "authored": authored.isoformat(),
        "item": items,
    }
    if author_reference:
        resource["author"] = {"reference": author_reference}
    return FollowUpResponse(validated(resource), ())
