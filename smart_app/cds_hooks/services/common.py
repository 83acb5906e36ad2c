"""Pieces the services share: the SMART link, ServiceRequest suggestions for baseline tests, the MME report."""

from __future__ import annotations

from collections.abc import Sequence

from smart_app.cds_hooks.cards import smart_link
from smart_app.cds_hooks.models import Link
from smart_app.cds_hooks.registry import ServiceCall
from smart_app.core.mme import MmeReport, calculate_mme

SMART_LINK_LABEL = "Open the ketamine and opioid (MME) assistant"


def link_for(call: ServiceCall) -> Link:
    return smart_link(
        call.settings.launch_url, call.request.patient_id, [d.reference for d in call.drafts], SMART_LINK_LABEL
    )


def current_mme(call: ServiceCall) -> MmeReport:
    """MME/day of the patient's opioids, including any draft opioid order of this call."""
    return calculate_mme(call.record.medications, table=call.defaults.mme_table, on=call.on)


def draft_refs(call: ServiceCall) -> Sequence[str]:
    return [d.reference for d in call.drafts]
