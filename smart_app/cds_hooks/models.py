"""CDS Hooks 2.0 response objects (cards, suggestions, actions, links, discovery), serialised without empty fields.

The spec forbids null and empty values for optional fields, so every model is dumped with `exclude_none`, and
optional lists are None (omitted) rather than empty.

A card's JSON is written by hand (`Card.to_json`), field by field in declaration order, the way pydantic's
`model_dump(mode="json", exclude_none=True, by_alias=True)` writes it: pydantic's dump copied every generated
resource of the suggestions (most of a response's bytes) and cost 3% of a hook call. The free-form parts (the
resources, the extension) are handed on as they are when orjson writes them exactly as pydantic's JSON mode would
(only JSON types in them); anything else (a datetime, a dataclass, a subclass, a set, bytes, a non-string key)
is dumped by pydantic as before. Where a free-form part holds a tuple, a UUID, an enum or a non-finite float the
dict keeps it (pydantic's has a list, a string, the value or None), and orjson, which writes the response, writes
it as pydantic's dump would be written. tests/cds_hooks/test_card_json.py checks both against pydantic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smart_app.core.outcomes import SUMMARY_LIMIT

Indicator = Literal["info", "warning", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


# orjson options under which it refuses (TypeError) every value it would write differently from pydantic's JSON
# mode: datetimes (pydantic writes "Z" for UTC), dataclasses and subclasses of builtins (pydantic's own rules).
# Without OPT_NON_STR_KEYS a non-string key is refused too, and so is an integer beyond 64 bits.
_AS_IS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _json_as_is(values: list[Any]) -> bool:
    """Whether every value is plain JSON (dicts with string keys, lists, tuples, strings, numbers, booleans, None):
    the values whose JSON-mode dump pydantic would write, byte for byte, as orjson writes the values themselves."""
    try:
        orjson.dumps(values, option=_AS_IS)
    except TypeError:
        return False
    return True


def _without_none(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    return {key: value for key, value in pairs if value is not None}


class Coding(_Model):
    system: str
    code: str
    display: str | None = None

    def _json(self) -> dict[str, Any]:
        return _without_none((("system", self.system), ("code", self.code), ("display", self.display)))


class Source(_Model):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None

    def _json(self) -> dict[str, Any]:
        topic = self.topic._json() if self.topic is not None else None
        return _without_none((("label", self.label), ("url", self.url), ("icon", self.icon), ("topic", topic)))


class Action(_Model):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(None, alias="resourceId")

    def _json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.resource is not None:
            out["resource"] = self.resource  # handed on as it is: see Card.to_json
        if self.resource_id is not None:
            out["resourceId"] = self.resource_id
        return out


class Suggestion(_Model):
    label: str
    uuid: str | None = None
    is_recommended: bool | None = Field(None, alias="isRecommended")
    actions: list[Action] | None = None

    def _json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label}
        if self.uuid is not None:
            out["uuid"] = self.uuid
        if self.is_recommended is not None:
            out["isRecommended"] = self.is_recommended
        if self.actions is not None:
            out["actions"] = [a._json() for a in self.actions]
        return out


class Link(_Model):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    app_context: str | None = Field(None, alias="appContext")

    def _json(self) -> dict[str, Any]:
        return _without_none(
            (("label", self.label), ("url", self.url), ("type", self.type), ("appContext", self.app_context))
        )


class Card(_Model):
    uuid: str
    summary: str = Field(max_length=SUMMARY_LIMIT - 1)  # the spec: "<140-character summary"
    indicator: Indicator
    source: Source
    detail: str | None = None
    suggestions: list[Suggestion] | None = None
    selection_behavior: Literal["at-most-one", "any"] | None = Field(None, alias="selectionBehavior")
    override_reasons: list[Coding] | None = Field(None, alias="overrideReasons")
    links: list[Link] | None = None
    extension: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The card's JSON, as pydantic's dump writes it (see the module's docstring); the resources and the
        extension are the card's own objects, not copies: read them, do not change them."""
        free = [self.extension, *(a.resource for s in self.suggestions or () for a in s.actions or ())]
        if not _json_as_is(free):
            return super().to_json()
        return self._written()

    def _written(self) -> dict[str, Any]:
        """The hand-written JSON, for a card whose free-form parts are plain JSON (`to_json`, `cards_json`)."""
        suggestions = [s._json() for s in self.suggestions] if self.suggestions is not None else None
        reasons = [r._json() for r in self.override_reasons] if self.override_reasons is not None else None
        links = [link._json() for link in self.links] if self.links is not None else None
        return _without_none(
            (
                ("uuid", self.uuid),
                ("summary", self.summary),
                ("indicator", self.indicator),
                ("source", self.source._json()),
                ("detail", self.detail),
                ("suggestions", suggestions),
                ("selectionBehavior", self.selection_behavior),
                ("overrideReasons", reasons),
                ("links", links),
                ("extension", self.extension),
            )
        )

    @field_validator("summary")
    @classmethod
    def _summary_is_plain_text(cls, value: str) -> str:
        # The summary is plain text (spec) and may quote EHR text; angle brackets become look-alikes so that an
        # EHR that renders it as HTML cannot be handed a tag.
        return value.replace("<", "‹").replace(">", "›")

    @model_validator(mode="after")
    def _suggestions_need_selection_behavior(self) -> Card:
        if self.suggestions and self.selection_behavior is None:
            raise ValueError("a card with suggestions must say its selectionBehavior (spec: MUST)")
        return self


def cards_json(cards: Sequence[Card]) -> bytes:
    """A service call's answer, `{"cards": [...]}`, as bytes: the bytes of `orjson.dumps` of each card's `to_json`.

    Written in one pass: under `_AS_IS` orjson refuses (TypeError) exactly the values it would write differently
    from pydantic's JSON mode, so when every card's free-form parts are plain JSON the hand-written dicts are
    dumped once, instead of dumped once to check them and again to write them (~150 KB of order sets). When some
    card's are not, every card is written as `to_json` writes it."""
    try:
        return orjson.dumps({"cards": [card._written() for card in cards]}, option=_AS_IS)
    except TypeError:
        return orjson.dumps({"cards": [card.to_json() for card in cards]})


class ServiceDescription(_Model):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = Field(None, alias="usageRequirements")
