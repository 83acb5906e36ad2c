"""DOSE-BOLUS, DOSE-RATE, DOSE-MIN (ASRA Table 6, Q3, Q6) and DOSE-ESKETAMINE, one outcome of each per draft order.

Doses ordered in mg are converted with the most recent body weight in the look-back window; with no such weight a
dosed order fires its dose rule (the clinician must record a weight before the mg/kg dose can be judged), and no
weight is ever assumed. The limits and their citations are in mappings/ketamine_limits.json. ASRA's Table 6 limits
are for IV racemic ketamine: an intravenous draft, and one whose route is not stated or not recognised (the route
rules then say so), is judged against them. Every other route is judged against the typical dosing the sources give
for that route (ASRA Table 1, ISCRR Table 2: subcutaneous, intramuscular, intranasal, oral, sublingual, rectal),
never against the IV ranges; where the sources give no range for a route or an amount, the outcome says the order
is "not covered by the sources' ranges". Esketamine is not judged against racemic ranges at all.

An order is judged at its highest: the largest bolus and the largest rate over every step and every doseAndRate
entry, ranges at their maximum (`ketamine_order.read_order`). A part of the order that could not be read makes the
rule not-evaluable (naming the part) unless what could be read already fires.

A continuous intravenous infusion over several days is judged against the multi-day regimens the sources studied
(up to 0.43 mg/kg/h), not against Table 6's per-session range.
"""

from __future__ import annotations

from dataclasses import replace

from smart_app.core.outcomes import Citation, Evidence, Missing, Outcome
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, not_evaluable, satisfied
from smart_app.core.safety.ketamine_order import Dose, KetamineOrder, OrderProblem, Part
from smart_app.core.safety.limits import RouteLimits, dose_limits, route_classes, route_limits
from smart_app.core.safety.vitals import current_weight

DOSE_RULES = ("DOSE-BOLUS", "DOSE-RATE", "DOSE-MIN")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _order_evidence(order: KetamineOrder, what: str) -> Evidence:
    return Evidence(order.reference, f"Draft order: {order.name}", None, what)


def _reading_evidence(order: KetamineOrder) -> list[Evidence]:
    """How the order was read (ranges at their maximum, steps, typed entries, route or product conflicts)."""
    return [Evidence(order.reference, "How the order was read", None, note) for note in order.notes]


def _missing(problem: OrderProblem) -> Missing:
    return Missing("order-concentration" if problem.concentration else "order-dose", problem.reason)


def _guard(outcome: Outcome, order: KetamineOrder, *parts: Part) -> Outcome:
    """A judgement of what could be read, when part of the order could not: it stands only if it fired."""
    problems = order.problems_of(*parts)
    if not problems:
        return outcome
    unread = "; ".join(p.reason for p in problems)
    if outcome.fired:
        return replace(outcome, detail=f"{outcome.detail} Part of the order could not be read: {unread}.")
    if outcome.status == "not-evaluable":
        return replace(outcome, missing=(*outcome.missing, *(_missing(p) for p in problems)))
    what = "/".join(parts)
    return not_evaluable(
        outcome.rule_id,
        f"Ketamine {what} of {order.reference}: part of the order could not be read",
        [_missing(p) for p in problems],
        detail=f"What could be read: {outcome.summary}.",
        subject=order.reference,
        evidence=[*outcome.evidence, _order_evidence(order, unread)],
    )


def _no_weight(ctx: SafetyContext, rule: str, order: KetamineOrder, what: str, ordered: Dose) -> Outcome:
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
    problems = order.problems or (OrderProblem("order", "the order gives no dose or rate"),)
    reasons = [p.reason for p in problems]
    return not_evaluable(
        rule,
        f"Ketamine {what} of {order.reference} could not be read",
        [_missing(p) for p in problems],
        subject=order.reference,
        evidence=[_order_evidence(order, "; ".join(reasons)), *_reading_evidence(order)],
    )


def _bolus(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    return _guard(_bolus_judged(ctx, order), order, "bolus")


def _bolus_judged(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    bolus = order.highest_bolus(ctx.weight_kg)
    if bolus is None:
        if order.rate is None:
            return _unreadable("DOSE-BOLUS", order, "dose")
        return not_applicable("DOSE-BOLUS", "No bolus in the order", subject=order.reference)
    dose = bolus.mg_per_kg(ctx.weight_kg)
    if dose is None:
        return _no_weight(ctx, "DOSE-BOLUS", order, "bolus", bolus)
    limit = dose_limits().bolus_max_mg_per_kg
    shown = f"{bolus.as_ordered} = {dose:.2f} mg/kg" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown), *_weight_evidence(ctx), *_reading_evidence(order)]
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
    return _guard(_rate_judged(ctx, order), order, "rate")


def _rate_judged(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    ordered = order.highest_rate(ctx.weight_kg)
    if ordered is None:
        if order.bolus is None:
            return _unreadable("DOSE-RATE", order, "rate")
        return not_applicable("DOSE-RATE", "No infusion rate in the order (a bolus)", subject=order.reference)
    rate = ordered.mg_per_kg(ctx.weight_kg)
    if rate is None:
        return _no_weight(ctx, "DOSE-RATE", order, "infusion rate", ordered)
    lim = dose_limits()
    low, high, monitored, icu = (
        lim.infusion_min_mg_per_kg_h,
        lim.infusion_max_mg_per_kg_h,
        lim.monitored_setting_mg_per_kg_h,
        lim.infusion_icu_max_mg_per_kg_h,
    )
    band = f"{_fmt(low)}–{_fmt(high)} mg/kg/h"
    shown = f"{ordered.as_ordered} = {rate:.2f} mg/kg/h" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown), *_weight_evidence(ctx), *_reading_evidence(order)]
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
    multiday = order.duration_h is not None and order.duration_h > lim.multiday_after_hours
    if multiday:
        return _multiday_rate(ctx, order, rate, shown, evidence, setting + note)
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


def _multiday_rate(
    ctx: SafetyContext, order: KetamineOrder, rate: float, shown: str, evidence: list[Evidence], setting: str
) -> Outcome:
    """A continuous infusion over several days, judged against the multi-day regimens the sources studied (ASRA
    Table 6's 0.5-2 mg/kg/h is a per-session range; no multi-day continuous regimen in the sources ran that high)."""
    lim = dose_limits()
    studied = lim.multiday_studied_max_mg_per_kg_h
    hours = order.duration_h or 0.0
    total = order.total_mg(ctx.weight_kg)
    course = f"{rate:.2f} mg/kg/h for {hours:g} h" + (f", about {total:,.0f} mg in all" if total is not None else "")
    if rate > studied:
        return fired(
            "DOSE-RATE",
            "warning",
            f"Multi-day ketamine infusion {rate:.2f} mg/kg/h for {hours:g} h is above every studied multi-day "
            f"regimen (at most {_fmt(studied)} mg/kg/h)",
            f"Rate {shown}; {course}. The multi-day continuous regimens the sources studied ran far lower: Noppers, "
            "100 h at up to **7.2 µg/kg/min (0.4 mg/kg/h), mean total 1,813 mg** (ASRA L1399-1402); Sigtermans, "
            "1.2 µg/kg/min titrated to at most 7.2 µg/kg/min over 4.2 days (B&K L241). ASRA Table 6's 0.5-2 mg/kg/h "
            "is a per-session range. A second 100-h course 16 days after the first raised liver enzymes 3-fold in "
            f"3 of 6 patients (ASRA L1399-1409). {setting}",
            evidence,
            citations=(*lim.multiday, *dose_citations()),
            subject=order.reference,
            wording="above the studied multi-day regimens",
            plans=("choose-protocol",),
        )
    return satisfied(
        "DOSE-RATE",
        f"Multi-day ketamine infusion {rate:.2f} mg/kg/h is within the studied multi-day regimens "
        f"(up to {_fmt(studied)} mg/kg/h)",
        evidence,
        detail=f"Rate {shown}; {course}. {setting}",
        subject=order.reference,
    )


def dose_citations() -> tuple[Citation, ...]:
    return (sources.ASRA_T6_DOSING, sources.ASRA_Q6, sources.ASRA_T6_SETTING)


def _minimum(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
    return _guard(_minimum_judged(ctx, order), order, "rate", "bolus", "duration")


def _minimum_judged(ctx: SafetyContext, order: KetamineOrder) -> Outcome:
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


def _not_covered(rule: str, order: KetamineOrder, what: str) -> Outcome:
    route = order.route or "this"
    return not_evaluable(
        rule,
        f"{route.capitalize()} ketamine {what}: not covered by the sources' ranges",
        [
            Missing(
                "dose-range",
                f"the sources give no {what} range for the {route} route (ASRA Table 1, ISCRR Table 2); the IV "
                "ranges are not applied to it",
            )
        ],
        subject=order.reference,
        evidence=[_order_evidence(order, f"route: {order.route_text or order.route}"), *_reading_evidence(order)],
    )


def _route_judged(
    ctx: SafetyContext, rule: str, order: KetamineOrder, lim: RouteLimits, ordered: Dose | None, what: str
) -> Outcome:
    """A dose or rate of a non-IV route against the typical dosing the sources give for that route."""
    band = lim.rate_mg_per_kg_h if what == "rate" else lim.dose_mg_per_kg
    unit = "mg/kg/h" if what == "rate" else "mg/kg"
    route = lim.route
    if ordered is None:
        other = order.highest_bolus(ctx.weight_kg) if what == "rate" else order.highest_rate(ctx.weight_kg)
        if other is None:
            return _unreadable(rule, order, what)
        return not_applicable(rule, f"No {what} in the order", subject=order.reference)
    if band is None:
        return _not_covered(rule, order, what)
    value = ordered.mg_per_kg(ctx.weight_kg)
    if value is None:
        return _no_weight(ctx, rule, order, what, ordered)
    low, high = band
    shown = f"{ordered.as_ordered} = {value:.2f} {unit}" + (f" at {ctx.weight_kg:g} kg" if ctx.weight_kg else "")
    evidence = [_order_evidence(order, shown), *_weight_evidence(ctx), *_reading_evidence(order)]
    range_text = f"{_fmt(low)}–{_fmt(high)} {unit}"
    sources_text = "; ".join(str(c) for c in lim.citations)
    if value > high:
        return fired(
            rule,
            "warning",
            f"{route.capitalize()} ketamine {what} {value:.2f} {unit} is above the sources' {route} range "
            f"({range_text})",
            f"{what.capitalize()} {shown}. Typical {route} dosing for chronic pain in the sources: **{range_text}** "
            f"({sources_text}). ASRA's IV ranges are not applied to the {route} route. Confirm the dose and the "
            "route.",
            evidence,
            citations=lim.citations,
            subject=order.reference,
            wording="typical dosing by route",
            plans=("choose-protocol",),
        )
    position = "below" if value < low else "within"
    return satisfied(
        rule,
        f"{route.capitalize()} ketamine {what} {value:.2f} {unit} is {position} the sources' {route} range "
        f"({range_text})",
        evidence,
        detail=f"{what.capitalize()} {shown}. Typical {route} dosing: {range_text} ({sources_text}).",
        subject=order.reference,
    )


def _by_route(ctx: SafetyContext, order: KetamineOrder, lim: RouteLimits) -> list[Outcome]:
    ref = order.reference
    bolus = _guard(
        _route_judged(ctx, "DOSE-BOLUS", order, lim, order.highest_bolus(ctx.weight_kg), "dose"), order, "bolus"
    )
    rate = _guard(_route_judged(ctx, "DOSE-RATE", order, lim, order.highest_rate(ctx.weight_kg), "rate"), order, "rate")
    minimum = not_applicable(
        "DOSE-MIN", f"{lim.route.capitalize()} route: ASRA's minimum infusion is for IV infusions", subject=ref
    )
    return [bolus, rate, minimum]


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
        if order.route is None or order.route == "intravenous":
            # Not stated or not recognised: judged as IV; ROUTE-NEURAX and ORAL say the route is unknown.
            found.extend((_bolus(ctx, order), _rate(ctx, order), _minimum(ctx, order)))
        elif order.route in route_limits():
            found.extend(_by_route(ctx, order, route_limits()[order.route]))
        elif order.route in route_classes().neuraxial:
            found.extend(
                not_applicable(rule, f"{order.route.capitalize()} route: advised against (ROUTE-NEURAX)", subject=ref)
                for rule in DOSE_RULES
            )
        else:
            found.extend(
                (
                    _not_covered("DOSE-BOLUS", order, "dose"),
                    _not_covered("DOSE-RATE", order, "rate"),
                    not_applicable("DOSE-MIN", f"{order.route.capitalize()} route: not an IV infusion", subject=ref),
                )
            )
    return found
