"""CI-SUD: active substance abuse or intoxication (ASRA: no serial infusions), and OUD as ANZCA's indication note.

Opioid use disorder alone does not fire a contraindication (RULES.md 1.6.7): ANZCA lists a dual diagnosis of pain
and OUD among the groups in whom ketamine has been considered. A code cannot show whether abuse is *active*:
the finding says so and asks the clinician to judge.
"""

from __future__ import annotations

from smart_app.core.findings import Finding
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, finding, names_of
from smart_app.core.safety.history import YEAR_DAYS, treatment_history

SUBSTANCE = ("ketamine-use-disorder", "intoxication", "substance-use-disorder", "alcohol-use-disorder")


def check(ctx: SafetyContext) -> list[Finding]:
    found: list[Finding] = []
    matches = ctx.conditions(*SUBSTANCE)
    if matches:
        ketamine_specific = any(m.value_set in ("ketamine-use-disorder", "intoxication") for m in matches)
        # Serial: the order allows repeats, or it follows another ketamine treatment within the year.
        serial = any(o.is_serial for o in ctx.orders) or bool(
            ctx.orders and treatment_history(ctx.record, ctx.on, YEAR_DAYS).days
        )
        critical = ketamine_specific or serial
        what = "serial ketamine treatment" if serial else "a single treatment ordered or no order yet"
        found.append(
            finding(
                "CI-SUD",
                "critical" if critical else "warning",
                f"Substance use disorder on record ({names_of(matches)}): no serial infusions if abuse is active",
                f"The record shows {names_of(matches)} ({what}). Whether substance abuse is *active* cannot be read "
                "from a diagnosis code: the clinician must judge and document it.\n\n"
                "ASRA Q2 (Grade C): **serial ketamine infusions should not be undertaken** in patients with an active "
                "substance abuse problem, and ketamine should be used with universal precautions to monitor for "
                "abuse. ASRA Table 5 also lists intoxication and active substance abuse. Opioid risk tools are not "
                "validated for ketamine abuse (ASRA L1204–1211).",
                (sources.ASRA_Q2_SUD, sources.ASRA_T5),
                [m.evidence for m in matches],
                wording="should not be used (serial infusions, active abuse)",
            )
        )
    oud = ctx.conditions("opioid-use-disorder")
    if oud:
        found.append(
            finding(
                "CI-SUD",
                "info",
                "Opioid use disorder on record: ANZCA lists this among groups where ketamine has been considered",
                "An opioid use disorder diagnosis is **not** a contraindication by itself: ANZCA PS12 2.2.2 lists "
                "patients with a dual diagnosis of pain and opioid use disorder among those in whom ketamine has been "
                "considered. ASRA's contraindication applies to active (non-treatment) substance abuse: the clinician "
                "must judge whether that applies.",
                (sources.ANZCA_PS_2_2_2, sources.ASRA_Q2_SUD),
                [m.evidence for m in oud],
                wording="indication note (ANZCA); contraindication only if abuse is active (ASRA)",
            )
        )
    return found
