"""CI-ICP-IOP: elevated intracranial or intraocular pressure (ANZCA "should not be used"; ASRA weak relative)."""

from __future__ import annotations

from smart_app.core.outcomes import Outcome
from smart_app.core.safety.context import SafetyContext, fired, names_of, not_applicable

ICP = ("raised-icp", "brain-tumour", "tbi")
IOP = ("glaucoma", "ocular-hypertension", "globe-injury")


def check(ctx: SafetyContext) -> list[Outcome]:
    matches = ctx.conditions(*ICP, *IOP)
    if not matches:
        return [not_applicable("CI-ICP-IOP", "No raised intracranial or intraocular pressure risk on record")]
    kinds = []
    if any(m.value_set in ICP for m in matches):
        kinds.append("intracranial")
    if any(m.value_set in IOP for m in matches):
        kinds.append("intraocular")
    names = ", ".join(dict.fromkeys(m.condition.code.label for m in matches))
    return [
        fired(
            "CI-ICP-IOP",
            "critical",
            f"Raised {' and '.join(kinds)} pressure risk ({names_of(matches)}): ketamine should not be used",
            f"The record shows {names}. ANZCA PS12 2.2.3: ketamine **should not be used** with elevated intracranial "
            "or intraocular pressure. ASRA Q2 (Grade C, low certainty): **should not be used or used only in lower "
            "dosages with extreme caution**; its narrative calls elevated ICP/IOP, brain tumour and traumatic brain "
            "injury **weak relative contraindications** (L1143–1147). Whether pressure is currently raised cannot "
            "be read from a diagnosis code: the clinician must judge and document it; ASRA's pathway is a lower dose "
            "with extreme caution and a documented reason.",
            [m.evidence for m in matches],
            wording="should not be used (ANZCA); not used or lower dose with extreme caution (ASRA)",
        )
    ]
