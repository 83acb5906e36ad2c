"""DOSE-BOLUS, DOSE-RATE, DOSE-MIN (ASRA Table 6, Q3, Q6) and DOSE-ESKETAMINE, one outcome of each per draft order.

Doses ordered in mg are converted with the most recent body weight in the look-back window; with no such weight a
dosed order fires its dose rule (the clinician must record a weight before the mg/kg dose can be judged), and no
weight is ever assumed. The limits and their citations are in mappings/ketamine_limits.json. They are for
parenteral racemic ketamine, so they are not applied to other routes or to esketamine; a draft whose route is not
stated is judged as parenteral, and the route rules say the route is unknown.
"""

from __future__ import annotations

from dataclasses import replace

from smart_app.core.outcomes import Citation, Evidence, Missing, Outcome
from smart_app.core.safety import sources
from smart_app.core.safety.amounts import Amount
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.ketamine_order import KetamineOrder
from smart_app.core.safety.limits import dose_limits, route_classes
from smart_app.core.safety.vitals import current_weight

DOSE_RULES = ("DOSE-BOLUS", "DOSE-RATE", "DOSE-MIN")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _order_evidence(order: KetamineOrder, what: str) -> Evidence:
    return Evidence(order.reference, f"Draft order: {order.name}", None, what)


def _no_weight(ctx: SafetyContext, rule: str, order: KetamineOrder, what: str, ordered: Amount) -> Outcome:
    reason = f"no body weight within {ctx.settings.weight_lookback_days} days (local default weight_lookback_days)"
    evidence = [_order_evidence(order, f"{what} {ordered.as_ordered}"), Evidence("(absent)", reason)]
    older = current_weight(ctx.record, ctx.on, None)
    if older is not None:
        evidence.append(replace(older.evidence, value=f"{older.evidence.value}: outside the look-back window"))
    return fired(
        rule,
        "warning",
        f"Ketamine {what} cannot be checked in mg/kg: record a current body weight",
        f"The order gives the {what} in mg, and the record has {reason}. Record a current weight so that the dose "
        "can be compared with ASRA's mg/kg ranges; no weight is assumed.",
        evidence,
        citations=(sources.ASRA_T6_DOSING,),
        subject=order.reference,
        wording="dose range (ASRA Table 6)",
        local_defaults=("weight_lookback_days",),
        plans=("record-weight",),
    )


def _setting_text(order: KetamineOrder) -> str:
    if order.setting is None:
        return "The order does not state its setting (MedicationRequest.category)."
    return f"Ordered setting: {order.setting}."


def _weight_evidence(ctx: SafetyContext) -> list[Evidence]:
    return [ctx.weight.evidence] if ctx.weight else []


def _age_unknown(rule: str, order: KetamineOrder, what: str, threshold: str) -> Outcome:
    return not_evaluable(
        rule,
        f"Ketamine {what} is within ASRA's range, but the lower threshold for elderly patients could not be applied",
        [Missing("birth-date", "the patient's age is unknown (no Patient.birthDate)")],
        subject=order.reference,
        local_defaults=("elderly_age", threshold),
    )


def _unreadable(rule: str, order: KetamineOrder, what: str) -> Outcome:
    reasons = order.problems or ("the order gives no dose or rate",)
    return not_evaluable(
        rule,
        f"Ketamine {what} of {order.reference} could not be read",
        [Missing("order-dose", p) for p in reasons],
        subject=order.reference,
        evidence=[_order_evidence(order, "; ".join(reasons))],
    )


def _bolus(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    if order.bolus is None:
        if order.rate is None:
            return _unreadable("DOSE-BOLUS", order, "dose")
        return not_applicable("DOSE-BOLUS", "No bolus in the order", subject=order.reference)
    dose = order.bolus.mg_per_kg(ctx.weight_kg)
    if dose is None:
        return _no_weight(ctx, "DOSE-BOLUS", order, "bolus", order.bolus)
    limit = dose_limits().bolus_max_mg_per_kg
    shown = f"{order.bolus.as_ordered} = {dose:.2f} mg/kg" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown), *_weight_evidence(ctx)]
    s = ctx.settings
    if dose >= limit:
        above = dose > limit
        return fired(
            "DOSE-BOLUS",
            "warning",
            f"Ketamine bolus {dose:.2f} mg/kg "
            + (f"exceeds ASRA's {_fmt(limit)} mg/kg" if above else f"is at ASRA's {_fmt(limit)} mg/kg limit")
            + ": experienced staff and airway support",
            f"Bolus {shown}. ASRA Table 6: **bolus up to {_fmt(limit)} mg/kg**. ASRA Q6: a bolus of "
            f"**≥{_fmt(limit)} mg/kg** should be given by clinicians experienced in ketamine, in a unit with trained "
            "nurses and staff trained in airway management and ACLS immediately available. " + _setting_text(order),
            evidence,
            subject=order.reference,
            wording="outside consensus range" if above else "experienced staff required",
            plans=("choose-protocol",),
        )
    if ctx.is_elderly and dose >= s.elderly_bolus_mg_per_kg:
        return fired(
            "DOSE-BOLUS",
            "warning",
            f"Ketamine bolus {dose:.2f} mg/kg in a patient aged {ctx.age}: lower threshold for intensive monitoring",
            f"Bolus {shown}. ASRA Q6: for elderly individuals, **lower thresholds should trigger** more intensive "
            f"monitoring. Thresholds used: {ctx.local('elderly_age')}; {ctx.local('elderly_bolus_mg_per_kg')}.",
            evidence,
            citations=(sources.ASRA_Q6_ELDERLY,),
            subject=order.reference,
            wording="lower thresholds should trigger more intensive monitoring",
            local_defaults=("elderly_age", "elderly_bolus_mg_per_kg"),
        )
    if ctx.age is None and dose >= s.elderly_bolus_mg_per_kg:
        return _age_unknown("DOSE-BOLUS", order, f"bolus {dose:.2f} mg/kg", "elderly_bolus_mg_per_kg")
    return satisfied(
        "DOSE-BOLUS",
        f"Ketamine bolus {dose:.2f} mg/kg is within ASRA's range (up to {_fmt(limit)} mg/kg)",
        evidence,
        subject=order.reference,
    )


def _inpatient_note(order: KetamineOrder) -> tuple[str, tuple[Citation, ...]]:
    if order.setting not in ("outpatient", "community"):
        return "", ()
    return (
        " Setting: ANZCA PS12 3.2.1 says infusions **should be delivered in in-patient settings**; ASRA Q3 finds "
        "it reasonable to start with a single outpatient infusion.",
        (sources.ANZCA_PS_3_2_1, sources.ASRA_Q3_MINIMUM),
    )


def _rate(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    if order.rate is None:
        if order.bolus is None:
            return _unreadable("DOSE-RATE", order, "rate")
        return not_applicable("DOSE-RATE", "No infusion rate in the order (a bolus)", subject=order.reference)
    rate = order.rate.mg_per_kg(ctx.weight_kg)
    if rate is None:
        return _no_weight(ctx, "DOSE-RATE", order, "infusion rate", order.rate)
    lim = dose_limits()
    low, high, monitored, icu = (
        lim.infusion_min_mg_per_kg_h,
        lim.infusion_max_mg_per_kg_h,
        lim.monitored_setting_mg_per_kg_h,
        lim.infusion_icu_max_mg_per_kg_h,
    )
    band = f"{_fmt(low)}–{_fmt(high)} mg/kg/h"
    shown = f"{order.rate.as_ordered} = {rate:.2f} mg/kg/h" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown), *_weight_evidence(ctx)]
    setting = _setting_text(order)
    note, note_citations = _inpatient_note(order)
    citations = (*dose_citations(), *note_citations)
    s = ctx.settings
    if rate > high:
        beyond = rate > icu
        return fired(
            "DOSE-RATE",
            "critical",
            f"Ketamine infusion {rate:.2f} mg/kg/h is above ASRA's {band} range"
            + (f" and above the {_fmt(icu)} mg/kg/h ICU maximum" if beyond else ": ICU only"),
            f"Rate {shown}. ASRA Table 6: **infusion {band}**; up to {_fmt(icu)} mg/kg/h only in refractory cases "
            "in ICU settings, which require intensive care monitoring and intubation or other precautions against "
            f"aspiration (ASRA Q3). {setting}{note}",
            evidence,
            citations=(*citations, sources.ASRA_ICU),
            subject=order.reference,
            wording="outside consensus range; ICU only",
            plans=("choose-protocol",),
        )
    if rate >= monitored:
        return fired(
            "DOSE-RATE",
            "warning",
            f"Ketamine infusion {rate:.2f} mg/kg/h needs a monitored setting with resuscitation staff "
            f"(≥{_fmt(monitored)} mg/kg/h)",
            f"Rate {shown}. ASRA Q6: infusions of **≥{_fmt(monitored)} mg/kg/h** need clinicians experienced in "
            "ketamine, trained nurses, and airway/ACLS-trained staff immediately available; Table 6 (Grade A, low "
            f"certainty) requires a monitored setting with resuscitative equipment above {_fmt(monitored)} mg/kg/h. "
            f"{setting}{note}",
            evidence,
            citations=citations,
            subject=order.reference,
            wording="monitored setting required",
            plans=("choose-protocol",),
        )
    if ctx.is_elderly and rate >= s.elderly_rate_monitored_mg_per_kg_h:
        return fired(
            "DOSE-RATE",
            "warning",
            f"Ketamine infusion {rate:.2f} mg/kg/h at age {ctx.age}: lower threshold for a monitored setting",
            f"Rate {shown}. ASRA Q6: for elderly individuals, **lower thresholds should trigger** more intensive "
            f"monitoring. Thresholds used: {ctx.local('elderly_age')}; "
            f"{ctx.local('elderly_rate_monitored_mg_per_kg_h')}. {setting}{note}",
            evidence,
            citations=(sources.ASRA_Q6_ELDERLY, *citations),
            subject=order.reference,
            wording="lower thresholds should trigger more intensive monitoring",
            local_defaults=("elderly_age", "elderly_rate_monitored_mg_per_kg_h"),
        )
    if rate < low:
        return fired(
            "DOSE-RATE",
            "info",
            f"Ketamine infusion {rate:.2f} mg/kg/h is below ASRA's {band} range: reconsider the dose",
            f"Rate {shown}. ASRA Table 6: **infusion {band}**, with evidence for a dose-response relationship "
            f"(higher dosages providing more benefit). {setting}{note}",
            evidence,
            citations=citations,
            subject=order.reference,
            wording="below consensus range",
            plans=("choose-protocol",),
        )
    if ctx.age is None and rate >= s.elderly_rate_monitored_mg_per_kg_h:
        return _age_unknown("DOSE-RATE", order, f"infusion {rate:.2f} mg/kg/h", "elderly_rate_monitored_mg_per_kg_h")
    return satisfied(
        "DOSE-RATE",
        f"Ketamine infusion {rate:.2f} mg/kg/h is within ASRA's {band} range",
        evidence,
        detail=f"Rate {shown}. {setting}{note}",
        subject=order.reference,
    )


def dose_citations() -> tuple[Citation, ...]:
    return (sources.ASRA_T6_DOSING, sources.ASRA_Q6, sources.ASRA_T6_SETTING)


def _minimum(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    lim = dose_limits()
    if order.rate is None:
        return not_applicable(
            "DOSE-MIN", "Not an infusion: the minimum infusion does not apply", subject=order.reference
        )
    if order.duration_h is None:
        return not_evaluable(
            "DOSE-MIN",
            "Infusion duration not stated: ASRA's minimum (80 mg over more than 2 h) not checked",
            [Missing("order-duration", "the order gives no infusion duration (timing.repeat.duration or bounds)")],
            subject=order.reference,
        )
    total = order.total_mg(ctx.weight_kg)
    short = order.duration_h <= lim.minimum_hours_exclusive
    small = total is not None and total < lim.minimum_total_mg
    planned = f"{total:.0f} mg" if total is not None else "total unknown"
    minimum = f"{_fmt(lim.minimum_total_mg)} mg over >{_fmt(lim.minimum_hours_exclusive)} h"
    if short or small:
        return fired(
            "DOSE-MIN",
            "info",
            f"Planned infusion ({planned} over {order.duration_h:g} h) is below ASRA's minimum of {minimum}",
            f"Planned {planned} over {order.duration_h:g} h. ASRA Table 6 / Q3: total dosages of **at least "
            f"{minimum}**; infusions under 2 hours were unlikely to give benefit lasting more than 48 hours.",
            [_order_evidence(order, f"{planned} over {order.duration_h:g} h")],
            subject=order.reference,
            wording="minimum effective regimen",
            plans=("choose-protocol",),
        )
    if total is None:
        return not_evaluable(
            "DOSE-MIN",
            "Planned total dose needs a body weight (rate ordered per kg)",
            [Missing("body-weight", "the rate is ordered per kg and the record has no recent body weight")],
            subject=order.reference,
        )
    return satisfied(
        "DOSE-MIN",
        f"Planned infusion {planned} over {order.duration_h:g} h meets ASRA's minimum of {minimum}",
        [_order_evidence(order, f"{planned} over {order.duration_h:g} h")],
        subject=order.reference,
    )


def _esketamine(order: KetamineOrder) -> Outcome:
    return fired(
        "DOSE-ESKETAMINE",
        "warning",
        "Esketamine ordered: a different product; ASRA's racemic ketamine dose ranges were not applied",
        f"{order.name} is esketamine (S-ketamine), marketed as a nasal spray for depression, not racemic IV ketamine "
        "for chronic pain. The sources describe S(+)-ketamine as about twice as potent as racemic ketamine (B&K), "
        "so ASRA's racemic mg/kg ranges do not transfer. Confirm the indication and product.",
        [_order_evidence(order, "esketamine")],
        subject=order.reference,
        wording="different drug and indication",
    )


def check(ctx: SafetyContext) -> list[Outcome]:
    if not ctx.orders:
        return [not_applicable(rule, "No draft ketamine order") for rule in (*DOSE_RULES, "DOSE-ESKETAMINE")]
    found: list[Outcome] = []
    for order in ctx.orders:
        ref = order.reference
        if order.drug == "esketamine":
            found.append(_esketamine(order))
            found.extend(
                not_applicable(rule, "Esketamine: racemic ketamine ranges not applied", subject=ref)
                for rule in DOSE_RULES
            )
            continue
        found.append(not_applicable("DOSE-ESKETAMINE", "Racemic ketamine, not esketamine", subject=ref))
        if order.route is not None and order.route not in route_classes().parenteral:
            found.extend(
                not_applicable(
                    rule,
                    f"{order.route.capitalize()} route: not covered by ASRA's parenteral mg/kg ranges",
                    subject=ref,
                )
                for rule in DOSE_RULES
            )
            continue
        found.extend((_bolus(ctx, order), _rate(ctx, order), _minimum(ctx, order)))
    return found
