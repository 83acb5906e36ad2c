"""OPI-1SPECIES (ANZCA PS12 3.4.2) and OPI-PLAN (3.4.1): opioid preparation before ketamine.

Opioid species come from the caller's MME report (its items name the opioid ingredient); without one, from
`smart_app.core.mme.opioid_ingredient` over the current medications. MME figures use an external conversion table
(no source in the ketamine corpus gives one) and are shown with that table's name.
"""

from __future__ import annotations

from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.evidence import is_current_medication

_SPECIES_ROUTES = frozenset({"oral", "transdermal"})  # ANZCA 3.4.2 names oral and transdermal opioids


def _species(ctx: SafetyContext) -> dict[str, list[Evidence]]:
    found: dict[str, list[Evidence]] = {}
    if ctx.mme is not None:
        for item in ctx.mme.items:
            # Excluded items (e.g. buprenorphine under CDC 2022) are still an opioid species; duplicates are not.
            if item.status != "duplicate" and item.ingredient:
                if item.route is not None and item.route not in _SPECIES_ROUTES:
                    continue
                value = f"{item.mme_per_day:g} MME/day" if item.mme_per_day is not None else "MME not computable"
                found.setdefault(item.ingredient, []).append(
                    Evidence(item.id, f"{item.name} ({item.source})", None, value)
                )
        return found
    from smart_app.core.mme import opioid_ingredient  # lazily: the MME engine is optional for the safety core

    for med in ctx.record.medications:
        if is_current_medication(med):
            ingredient = opioid_ingredient(med)
            if ingredient:
                found.setdefault(ingredient, []).append(Evidence(med.reference, med.medication.label, med.recorded))
    return found


def check(ctx: SafetyContext) -> list[Outcome]:
    species = _species(ctx)
    evidence = [e for evs in species.values() for e in evs]
    total = ""
    if ctx.mme is not None and ctx.mme.total_mme_per_day is not None:
        total = f" Total {ctx.mme.total_mme_per_day:g} MME/day ({ctx.mme.table_citation}; external conversion table)."
    names = ", ".join(sorted(species))
    if len(species) > 1:
        one_species = fired(
            "OPI-1SPECIES",
            "warning",
            f"{len(species)} opioids ({names}): convert to one opioid species before ketamine",
            "ANZCA PS12 3.4.2: **conversion of current opioids (oral, transdermal) to one opioid species should be "
            f"made prior to administration of ketamine**. Current opioids: {names}.{total} ANZCA points to the FPM "
            "Opioid Calculator for conversion.",
            evidence,
            wording="should be made prior to ketamine",
        )
    elif species:
        one_species = satisfied("OPI-1SPECIES", f"One opioid species ({names})", evidence)
    else:
        one_species = not_applicable("OPI-1SPECIES", "No current oral or transdermal opioid")
    if not species:
        return [one_species, not_applicable("OPI-PLAN", "No current oral or transdermal opioid")]
    plan = not_evaluable(
        "OPI-PLAN",
        "Patient takes opioids: document an opioid treatment plan negotiated before the ketamine admission",
        [Missing("opioid-plan", "no negotiated opioid treatment plan can be read from the record")],
        detail="ANZCA PS12 3.4.1: **an opioid treatment plan should be negotiated with the patient prior to admission "
        "for ketamine infusion**. Record the baseline opioid dose: ASRA counts a ≥20% reduction in opioid use as a "
        f"response.{total} After opioid withdrawal a patient is effectively 'opioid naïve' (ISCRR): re-introduce "
        "opioids carefully.",
        evidence=evidence,
    )
    return [one_species, plan]
