"""The CDS services this server offers; discovery lists exactly these."""

from __future__ import annotations

from smart_app.cds_hooks.registry import Registry


def default_registry() -> Registry:
    from smart_app.cds_hooks.services import (
        ketamine_order_select,
        ketamine_order_sign,
        opioid_order_sign,
        patient_view,
    )

    return Registry(
        [ketamine_order_select.SERVICE, ketamine_order_sign.SERVICE, opioid_order_sign.SERVICE, patient_view.SERVICE]
    )
