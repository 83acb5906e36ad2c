"""OPI-BZD and OPI-NALOXONE: opioids with benzodiazepines (and ketamine), and naloxone where CDC 2022 calls for it.

None of the five ketamine documents speaks to opioids taken with benzodiazepines; ASRA names the interaction of
ketamine with concomitant medications such as midazolam as a monitoring concern (Q6, L1490-1492), and the
protocols add PRN midazolam as the rescue for psychotomimetic effects. The opioid-benzodiazepine caution and the
naloxone offer come from CDC 2022 (Recommendations 11 and 8), an external source, cited as such.

"Current" means what the MME engine lists as current (core/mme/listing.py): active orders and statements whose
period has not ended, and the draft orders being signed. Benzodiazepines are matched by the "benzodiazepines"
concept (mappings/concepts.json: ingredients, the VSAC and CDC product sets, ingredient words).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smart_app.core.mme import opioid_ingredient
from smart_app.core.mme.levels import mme_level
from smart_app.core.mme.listing import listing
from smart_app.core.model import MedicationUse, quick_frozen
from smart_app.core.outcomes import Evidence, Missing, Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.evidence import medication_in
from smart_app.core.safety.rules.post_taper import opioid_drafts, substantial_taper

_MEDICATION_DATA = ("MedicationRequest", "MedicationStatement")


@quick_frozen
@dataclass(frozen=True, slots=True)
class Taken:
    """A current (or drafted) medication of a class, as evidence."""

    med: MedicationUse
    name: str  # the ingredient ("oxycodone") or the medication's label

    @property
    def evidence(self) -> Evidence:
        draft = " (draft order)" if self.med.is_draft_order else ""
        return Evidence(
            self.med.reference, f"{self.med.medication.label}{draft}, {self.med.status or 'no status'}", None
        )


def _current(med: MedicationUse, ctx: SafetyContext) -> bool:
    return med.resource_type != "MedicationAdministration" and listing(med, ctx.on) == "count"


def _current_medications(ctx: SafetyContext) -> tuple[MedicationUse, ...]:
    """The record's medications taken now (or drafted), in record order; worked out once per evaluation, as the
    opioid, benzodiazepine and naloxone look-ups each walk them."""
    return tuple(med for med in ctx.record.medications if _current(med, ctx))


def current_opioids(ctx: SafetyContext) -> list[Taken]:
    found: list[Taken] = []
    for med in ctx.once(_current_medications):
        ingredient = opioid_ingredient(med)
        if ingredient:
            found.append(Taken(med, ingredient))
    return found


def current_benzodiazepines(ctx: SafetyContext) -> list[Taken]:
    found: list[Taken] = []
    for med in ctx.once(_current_medications):
        match = medication_in(med, "benzodiazepines")
        if match is not None:
            label = match if isinstance(match, str) else f"{match.display or ''} {med.medication.label}"
            found.append(Taken(med, _benzodiazepine_name(label) or med.medication.label))
    return found


_BENZODIAZEPINE_WORD = re.compile(r"\b([a-z]+(?:azepam|azolam|zepate|zepoxide|obazam|azepine))\b", re.I)


def _benzodiazepine_name(text: str) -> str | None:
    """The ingredient word of a benzodiazepine product name ('1 ML lorazepam 2 MG/ML Injection' -> 'lorazepam')."""
    found = _BENZODIAZEPINE_WORD.search(text)
    return found.group(1).lower() if found else None


def naloxone_on_record(ctx: SafetyContext) -> list[Taken]:
    """Current or drafted naloxone (an accepted suggestion is a draft); buprenorphine/naloxone is not rescue."""
    found: list[Taken] = []
    for med in ctx.once(_current_medications):
        if medication_in(med, "naloxone") is None:
            continue
        names = " ".join(x for x in (med.medication.text, *(c.display for c in med.medication.codings)) if x)
        if "buprenorphine" in names.lower() or opioid_ingredient(med):
            continue
        found.append(Taken(med, "naloxone"))
    return found


def _names(items: list[Taken]) -> str:
    return ", ".join(dict.fromkeys(t.name for t in items))


def _data_gaps(ctx: SafetyContext) -> list[Missing]:
    return [
        Missing(gap.resource_type, f"{'some ' if gap.partial else ''}{gap.resource_type} data: {gap.reason}")
        for gap in ctx.record.gaps
        if gap.resource_type in _MEDICATION_DATA
    ]


def _ketamine_note(ctx: SafetyContext) -> str:
    if not any(o.drug == "ketamine" for o in ctx.orders):
        return ""
    return (
        " With ketamine: ASRA names the interaction of ketamine with concomitant medications that may enhance certain "
        "effects (eg, midazolam) as a monitoring concern (L1490-1492), and the protocol's rescue benzodiazepine "
        "(midazolam) adds to the opioid and benzodiazepine already taken: lowest effective rescue dose, sedation and "
        "respiratory monitoring."
    )


def _benzodiazepine_outcome(ctx: SafetyContext, opioids: list[Taken], benzos: list[Taken]) -> Outcome:
    if not opioids:
        return not_applicable("OPI-BZD", "No current opioid")
    evidence = [t.evidence for t in opioids + benzos]
    if not benzos:
        gaps = _data_gaps(ctx)
        if gaps:
            return not_evaluable(
                "OPI-BZD",
                f"Opioid ({_names(opioids)}): whether a benzodiazepine is also taken could not be fully checked",
                gaps,
                evidence=evidence,
            )
        return satisfied("OPI-BZD", f"Opioid ({_names(opioids)}) and no current benzodiazepine on record", evidence)
    return fired(
        "OPI-BZD",
        "warning",
        f"Opioid ({_names(opioids)}) with a benzodiazepine ({_names(benzos)}): risk of sedation and respiratory "
        "depression",
        f"Current opioid: {_names(opioids)}; current benzodiazepine: {_names(benzos)}. CDC 2022 Recommendation 11 "
        "(external source): **use particular caution when prescribing opioid pain medication and benzodiazepines "
        "concurrently** and consider whether the benefits outweigh the risks. Offer naloxone (CDC 2022 "
        f"Recommendation 8).{_ketamine_note(ctx)}",
        evidence,
        wording="use particular caution (CDC 2022)",
    )


def _naloxone_reasons(ctx: SafetyContext, benzos: list[Taken]) -> tuple[list[str], list[Missing]]:
    reasons: list[str] = []
    missing: list[Missing] = []
    if ctx.mme is not None:
        level = mme_level(ctx.mme, ctx.settings)
        if level.level in ("precaution", "high") and level.total is not None:
            bound = "at least " if level.at_least else ""
            reasons.append(f"{bound}{level.total:g} {ctx.mme.figure} ({level.sentence})")
        elif level.level in ("unknown", "unrated") and not benzos:
            missing.append(Missing("opioid-dose", f"whether the opioid dose reaches the CDC level: {level.sentence}"))
    if benzos:
        reasons.append(f"taken with a benzodiazepine ({_names(benzos)})")
    tapered = substantial_taper(ctx) if opioid_drafts(ctx) else None
    if tapered is not None and tapered.peak is not None and tapered.today is not None:
        reasons.append(
            f"re-introduced after a taper ({tapered.peak.total:g} to {tapered.today.total:g}): tolerance may be lost"
        )
    return reasons, missing


def _naloxone_outcome(ctx: SafetyContext, opioids: list[Taken], benzos: list[Taken]) -> Outcome:
    if not opioids:
        return not_applicable("OPI-NALOXONE", "No current opioid")
    reasons, missing = _naloxone_reasons(ctx, benzos)
    defaults = ("mme_table", "mme_precaution_threshold")
    evidence = [t.evidence for t in opioids + benzos]
    have = naloxone_on_record(ctx)
    if have:
        return satisfied(
            "OPI-NALOXONE",
            "Naloxone on record" + (f" ({'; '.join(reasons)})" if reasons else ""),
            [t.evidence for t in have] + evidence,
            local_defaults=defaults,
        )
    if not reasons:
        if missing:
            return not_evaluable(
                "OPI-NALOXONE",
                "Opioid dose could not be rated: whether CDC 2022 calls for naloxone is unknown",
                missing,
                evidence=evidence,
                local_defaults=defaults,
            )
        return not_applicable(
            "OPI-NALOXONE",
            f"Opioid ({_names(opioids)}) below the CDC 2022 precaution level and without a benzodiazepine",
            evidence=evidence,
        )
    why = "; ".join(reasons)
    return fired(
        "OPI-NALOXONE",
        "info",
        f"Offer naloxone: opioid {why}",
        f"Opioid {why}; no naloxone on record. CDC 2022 Recommendation 8 (external source): clinicians should "
        "incorporate into the management plan strategies to mitigate risk, **including offering naloxone**; its "
        "implementation considerations name higher dosages (eg, >= 50 MME/day), benzodiazepines taken with "
        "opioids and a return to a dose to which tolerance has been lost (eg, after tapering) among the risk "
        "factors. The suggested order is the ingredient: product, route and dose per local formulary.",
        evidence,
        wording="offer naloxone (CDC 2022)",
        local_defaults=defaults,
        plans=("order-naloxone",),
    )


def check(ctx: SafetyContext) -> list[Outcome]:
    opioids = current_opioids(ctx)
    benzos = current_benzodiazepines(ctx) if opioids else []
    return [_benzodiazepine_outcome(ctx, opioids, benzos), _naloxone_outcome(ctx, opioids, benzos)]


def rescue_caution(outcomes: tuple[Outcome, ...] | list[Outcome]) -> str | None:
    """The note a protocol's benzodiazepine rescue order carries when the patient takes opioids (OPI-BZD evidence),
    or None. The protocols add PRN midazolam; given to a patient on opioids it is an opioid-benzodiazepine
    combination (CDC 2022 Recommendation 11), and more so when a benzodiazepine is already taken."""
    outcome = next((o for o in outcomes if o.rule_id == "OPI-BZD"), None)
    if outcome is None or outcome.status not in ("fired", "satisfied"):
        return None
    taking = "an opioid and a benzodiazepine" if outcome.fired else "an opioid"
    meds = "; ".join(dict.fromkeys(e.description.split(",")[0] for e in outcome.evidence))
    return (
        f"Caution: the patient takes {taking} ({meds}). A benzodiazepine rescue adds to "
        "sedation and respiratory depression: CDC 2022 Recommendation 11 (external source) advises particular "
        "caution with opioids and benzodiazepines together; ASRA names the interaction of ketamine with midazolam "
        "(Q6, L1490-1492). Lowest effective dose; monitor sedation and respiration."
    )
