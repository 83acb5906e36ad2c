"""Pieces the services share: the SMART link and the assessment of a call."""

from __future__ import annotations

from smart_app.cds_hooks.cards import smart_link
from smart_app.cds_hooks.models import Link
from smart_app.cds_hooks.registry import ServiceCall
from smart_app.core.assessment import Assessment, assess

SMART_LINK_LABEL = "Open the ketamine and opioid (MME) assistant"


def links_for(call: ServiceCall) -> list[Link]:
    """The SMART app link for a card: none when no SMART app is configured (`ServiceSettings.launch_url`)."""
    if call.settings.launch_url is None:
        return []
    return [
        smart_link(
            call.settings.launch_url, call.request.patient_id, [d.reference for d in call.drafts], SMART_LINK_LABEL
        )
    ]


def assessment_for(call: ServiceCall) -> Assessment:
    """The clinical core's assessment of this call's record and drafts (MME includes any draft opioid order)."""
    return assess(call.record, drafts=call.drafts, on=call.on, settings=call.defaults)
