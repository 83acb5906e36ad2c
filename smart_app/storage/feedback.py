"""CDS Hooks 2.0 feedback request body (spec section "Feedback"), validated before anything is stored.

Field names are the spec's camelCase; unknown members (e.g. `extension`) are ignored. Lengths are capped so a
client cannot fill the database with one request.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

_ID_MAX = 256
_TEXT_MAX = 4000


class _SpecModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class FeedbackCoding(_SpecModel):
    """The spec's Coding: `code` and `system` required, `display` optional."""

    code: str = Field(min_length=1, max_length=_ID_MAX)
    system: str = Field(min_length=1, max_length=_ID_MAX)
    display: str | None = Field(None, max_length=_TEXT_MAX)


class AcceptedSuggestion(_SpecModel):
    id: str = Field(min_length=1, max_length=_ID_MAX)


class OverrideReason(_SpecModel):
    reason: FeedbackCoding | None = None
    userComment: str | None = Field(None, max_length=_TEXT_MAX)


class FeedbackItem(_SpecModel):
    card: str = Field(min_length=1, max_length=_ID_MAX, description="card.uuid from the CDS Hooks response")
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: tuple[AcceptedSuggestion, ...] = Field((), max_length=100)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime  # RFC 3339 with an offset: a naive time is ambiguous

    @field_validator("outcomeTimestamp")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _suggestions_match_outcome(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required for an accepted outcome")
        if self.outcome == "overridden" and self.acceptedSuggestions:
            raise ValueError("an overridden card cannot have acceptedSuggestions")
        return self


class FeedbackRequest(_SpecModel):
    feedback: tuple[FeedbackItem, ...] = Field(max_length=1000)
