"""CI-SUD: active substance abuse or intoxication (ASRA: no serial infusions), and OUD as ANZCA's indication note.

Opioid use disorder alone does not fire a contraindication (RULES.md 1.6.7): ANZCA lists a dual diagnosis of pain
and OUD among the groups in whom ketamine has been considered. A code cannot show whether abuse is *active*:
the finding says so and asks the clinician to judge.
"""

from __future__ import annotations

from smart_app.core.outcomes import Outcome
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, fired, names_of, not_applicable

SUBSTANCE = ("ketamine-use-disorder", "intoxication", "substance-use-disorder", "alcohol-use-disorder")


def check(ctx: SafetyContext) -> list[Outcome]:
    matches = ctx.conditions(*SUBSTANCE)
    if matches:
        ketamine_specific = any(m.value_set in ("ketamine-use-disorder", "intoxication") for m in matches)
        # Serial: the order allows repeats, or it follows another ketamine treatment within the year.
        serial = any(o.is_serial for o in ctx.orders) or bool(ctx.orders and ctx.history.days)
        critical = ketamine_specific or serial
        what = "serial ketamine treatment" if serial else "a single treatment ordered or no order yet"
        return [
            fired(
                "CI-SUD",
                "critical" if critical else "warning",
                f"Substance use disorder on record ({names_of(matches)}): no serial infusions if abuse is active",
                f"The record shows {names_of(matches)} ({what}). Whether substance abuse is *active* cannot be read "
                "from a diagnosis code: the clinician must judge and document it.\n\n"
                "ASRA Q2 (Grade C): **serial ketamine infusions should not be undertaken** in patients with an active "
                "substance abuse problem, and ketamine should be used with universal precautions to monitor for "
                "abuse. ASRA Table 5 also lists intoxication and active substance abuse. Opioid risk tools are not "
                "validated for ketamine abuse (ASRA L1204–1211).",
                [m.evidence for m in matches],
                citations=(sources.ASRA_Q2_SUD, sources.ASRA_T5),
                wording="should not be used (serial infusions, active abuse)",
            )
        ]
    oud = ctx.conditions("opioid-use-disorder")
    if oud:
        # Not a contraindication by itself (RULES.md 1.6.7): shown in the checklist with ANZCA's indication note.
        return [
            not_applicable(
                "CI-SUD",
                "Opioid use disorder on record: not a contraindication by itself (ANZCA PS12 2.2.2)",
                detail="ANZCA PS12 2.2.2 lists patients with a dual diagnosis of pain and opioid use disorder among "
                "those in whom ketamine has been considered. ASRA's contraindication applies to active (non-treatment) "
                "substance abuse: the clinician must judge whether that applies.",
                evidence=[m.evidence for m in oud],
            )
        ]
    return [not_applicable("CI-SUD", "No substance use disorder or intoxication on record")]
