"""CI-PSY (psychosis) and CI-DEL (delirium)."""

from __future__ import annotations

from smart_app.core.outcomes import Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable


def check(ctx: SafetyContext) -> list[Outcome]:
    found: list[Outcome] = []
    psychosis = ctx.conditions("psychosis")
    if psychosis:
        name = psychosis[0].condition.code.label
        found.append(
            fired(
                "CI-PSY",
                "critical",
                f"{name} on record: ketamine should not be used if psychosis is poorly controlled",
                f"The record shows an active {name}. A diagnosis code cannot show whether the psychosis is active or "
                "poorly controlled: the clinician must judge and document it.\n\n"
                "ANZCA PS12 2.2.3: **should not be used** in poorly controlled psychoses. ASRA Q2: **should be "
                "avoided** in certain poorly controlled psychoses (Grade B); Table 6 lists active psychosis as a "
                "relative contraindication. Subanaesthetic ketamine has reactivated hallucinations and delusions in "
                "people with schizophrenia (ASRA L1168–1170). Proceeding needs a documented reason.",
                [m.evidence for m in psychosis],
                wording="should not be used (ANZCA); avoid (ASRA)",
            )
        )
    else:
        found.append(not_applicable("CI-PSY", "No active psychotic disorder on record"))
    delirium = ctx.conditions("delirium")
    if delirium:
        found.append(
            fired(
                "CI-DEL",
                "warning",
                "Active delirium: ketamine may exacerbate it",
                "The record shows active delirium. ASRA Table 5 lists delirium among psychiatric contraindications and "
                "precautions; patients with delirium can experience an exacerbation of symptoms with ketamine.",
                [m.evidence for m in delirium],
                wording="caution",
            )
        )
    else:
        found.append(not_applicable("CI-DEL", "No active delirium on record"))
    return found
