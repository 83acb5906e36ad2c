"""Persistence for the CDS Hooks service: which rule each returned card came from, and the feedback on it."""

from smart_app.storage.feedback import (
    AcceptedSuggestion,
    FeedbackCoding,
    FeedbackItem,
    FeedbackRequest,
    OverrideReason,
)
from smart_app.storage.store import FeedbackStore, OverrideReasonCount, RuleFeedbackCount, StorageConfigError

__all__ = [
    "AcceptedSuggestion",
    "FeedbackCoding",
    "FeedbackItem",
    "FeedbackRequest",
    "FeedbackStore",
    "OverrideReason",
    "OverrideReasonCount",
    "RuleFeedbackCount",
    "StorageConfigError",
]
