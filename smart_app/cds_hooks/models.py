"""CDS Hooks 2.0 response objects (cards, suggestions, actions, links, discovery), serialised without empty fields.

The spec forbids null and empty values for optional fields, so every model is dumped with `exclude_none`, and
optional lists are None (omitted) rather than empty.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smart_app.core.outcomes import SUMMARY_LIMIT

Indicator = Literal["info", "warning", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class Coding(_Model):
    system: str
    code: str
    display: str | None = None


class Source(_Model):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Model):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resource_id: str | None = Field(None, alias="resourceId")


class Suggestion(_Model):
    label: str
    uuid: str | None = None
    is_recommended: bool | None = Field(None, alias="isRecommended")
    actions: list[Action] | None = None


class Link(_Model):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    app_context: str | None = Field(None, alias="appContext")


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


class ServiceDescription(_Model):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usage_requirements: str | None = Field(None, alias="usageRequirements")
