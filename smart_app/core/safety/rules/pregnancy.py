"""CI-PREG: pregnancy (ASRA Table 5 "Lack of data on safety"; Table 6 relative contraindication).

A positive qualitative hCG counts when its value says so: valueBoolean true, an interpretation of POS/A/H
(HL7 v3 ObservationInterpretation), or a coded/string value reading "positive" or "detected". Quantitative hCG
(19080-1) is not used: the sources give no cut-off.
"""

from __future__ import annotations

from smart_app.core.model import Observation
from smart_app.core.outcomes import Outcome
from smart_app.core.safety.context import SafetyContext, fired, not_applicable
from smart_app.core.safety.evidence import observation_evidence, observations_in

_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_POSITIVE_WORDS = ("positive", "detected", "reactive")
_NEGATIVE_WORDS = ("negative", "not detected", "non-reactive", "nonreactive")


def _reads_positive(text: str | None) -> bool:
    t = (text or "").strip().lower()
    return any(w in t for w in _POSITIVE_WORDS) and not any(w in t for w in _NEGATIVE_WORDS)


def is_positive(obs: Observation) -> bool:
    if obs.value_boolean is not None:
        return obs.value_boolean
    if any(code in ("POS", "A", "H") for i in obs.interpretation for code in i.codes(_INTERPRETATION)):
        return True
    if obs.value_concept is not None:
        c = obs.value_concept
        return any(_reads_positive(x) for x in (c.text, *(d.display for d in c.codings)))
    return _reads_positive(obs.value_string)


def check(ctx: SafetyContext) -> list[Outcome]:
    pregnant = ctx.conditions("pregnancy")
    tests = [
        o
        for o in observations_in(ctx.record, "hcg-qualitative", ctx.on, ctx.settings.pregnancy_test_lookback_days)
        if is_positive(o)
    ]
    if not pregnant and not tests:
        return [not_applicable("CI-PREG", "No active pregnancy and no recent positive pregnancy test on record")]
    evidence = [m.evidence for m in pregnant] + [observation_evidence(o, "positive") for o in tests]
    return [
        fired(
            "CI-PREG",
            "warning",
            "Pregnancy: no safety data for ketamine (ASRA relative contraindication)",
            "The record shows an active pregnancy or a recent positive pregnancy test ("
            + ctx.local("pregnancy_test_lookback_days")
            + "). ASRA Table 5 lists pregnancy for **lack of data on safety**; Table 6 groups it with the relative "
            "contraindications (Grade B, low certainty). The other sources do not address pregnancy.",
            evidence,
            wording="relative contraindication (lack of safety data)",
            local_defaults=("pregnancy_test_lookback_days",) if tests else (),
        )
    ]
