"""CI-ASP: full-stomach aspiration risk. Records hold no nil-per-os status, so this is a checklist item and an
instruction of every protocol order set, never an alert on every order."""

from __future__ import annotations

from smart_app.core.outcomes import Missing, Outcome
from smart_app.core.safety.context import SafetyContext, not_evaluable


def check(ctx: SafetyContext) -> list[Outcome]:
    return [
        not_evaluable(
            "CI-ASP",
            "Confirm nil-per-os status before ketamine treatment (full-stomach aspiration risk)",
            [Missing("fasting-status", "the record holds no fasting (nil-per-os) status")],
            detail="ASRA Table 5 lists full-stomach aspiration risk; ASA sedation basics, cited by ASRA, include "
            "**ensuring nil-per-os status**. The record holds no fasting status, so this cannot be checked "
            "automatically.",
        )
    ]
