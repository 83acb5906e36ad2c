"""CI-HEP: severe hepatic impairment (ANZCA "should not be used"; ASRA avoid) and abnormal liver tests (caution).

Severity cannot be graded from codes (no Child-Pugh data): an active cirrhosis / hepatic failure / end-stage liver
disease condition counts as severe, a local default per RULES.md section 9; abnormal transaminases or bilirubin
count as possible hepatic dysfunction (also a local default).
"""

from __future__ import annotations

from dataclasses import dataclass

from smart_app.core.model import Observation, quick_frozen
from smart_app.core.outcomes import Evidence, Outcome
from smart_app.core.safety import sources
from smart_app.core.safety.context import SafetyContext, fired, not_applicable, satisfied
from smart_app.core.safety.evidence import latest, observation_evidence

_UNITS_PER_L = ("U/L", "[IU]/L", "IU/L", "U/l", "IU/l")
# Which analytes define "abnormal" (RULES.md section 9), and the LocalDefaults multiple of the ULN for each; ALP
# is reported but has no local abnormal threshold.
_ABNORMAL_MULTIPLE = {
    "alt": "lft_transaminase_uln_multiple",
    "ast": "lft_transaminase_uln_multiple",
    "bilirubin": "lft_bilirubin_uln_multiple",
}
LFT_ANALYTES = (("alt", "ALT"), ("ast", "AST"), ("bilirubin", "Total bilirubin"), ("alp", "ALP"))


@quick_frozen
@dataclass(frozen=True, slots=True)
class LiverTest:
    analyte: str  # "ALT", "AST", "Total bilirubin", "ALP"
    observation: Observation
    upper_limit: float | None
    upper_limit_source: str | None  # "reference range" or "local default"
    abnormal: bool | None  # None when it cannot be judged (no value, no usable upper limit)

    @property
    def evidence(self) -> Evidence:
        q = self.observation.value_quantity
        value = str(q) if q else "no value"
        if self.upper_limit is not None:
            value += f" (upper limit {self.upper_limit:g}, {self.upper_limit_source})"
        return observation_evidence(self.observation, value)


def _upper_limit(obs: Observation) -> float | None:
    for rr in obs.reference_range:
        if rr.high is not None and rr.high.value is not None:
            return rr.high.value
    return None


def recent_liver_tests(ctx: SafetyContext) -> list[LiverTest]:
    """Most recent ALT, AST, total bilirubin and ALP within the LFT look-back window (read once per evaluation:
    the hepatic rule and the LFT baseline check both ask)."""
    return list(ctx.once(_recent_liver_tests))


def _recent_liver_tests(ctx: SafetyContext) -> tuple[LiverTest, ...]:
    s = ctx.settings
    tests: list[LiverTest] = []
    for name, label in LFT_ANALYTES:
        obs = latest(ctx.record, name, ctx.on, s.lft_lookback_days)
        if obs is None:
            continue
        value = obs.value_quantity.value if obs.value_quantity else None
        uln, source = _upper_limit(obs), "reference range"
        unit = obs.value_quantity.code or obs.value_quantity.unit if obs.value_quantity else None
        if uln is None and name in ("alt", "ast") and unit in _UNITS_PER_L:
            uln, source = s.lft_transaminase_default_uln, "local default lft_transaminase_default_uln"
        multiple = _ABNORMAL_MULTIPLE.get(name)
        limit = getattr(s, multiple) if multiple else None
        abnormal = None if value is None or uln is None or limit is None else value > limit * uln
        tests.append(LiverTest(label, obs, uln, source if uln is not None else None, abnormal))
    return tuple(tests)


_LFT_DEFAULTS = (
    "lft_lookback_days",
    "lft_transaminase_uln_multiple",
    "lft_transaminase_default_uln",
    "lft_bilirubin_uln_multiple",
)


def check(ctx: SafetyContext) -> list[Outcome]:
    severe = ctx.conditions("severe-liver-disease")
    tests = recent_liver_tests(ctx)
    abnormal = [t for t in tests if t.abnormal]
    if severe:
        name = severe[0].condition.code.label
        return [
            fired(
                "CI-HEP",
                "critical",
                f"Severe liver disease ({name}): ketamine should not be used / avoided",
                f"The record shows {name}. This project counts cirrhosis, hepatic failure and end-stage liver disease "
                "as severe hepatic impairment (local default; no Child-Pugh data is assumed): the clinician must "
                "confirm the severity.\n\nANZCA PS12 2.2.3: **should not be used** in severe hepatic impairment. "
                "ASRA Q2: **should be avoided** in severe impairment but may be given judiciously with proper "
                "monitoring in moderate disease (Grade C), so if the clinician judges the disease moderate, "
                "proceeding with monitoring and a documented reason is ASRA's pathway. Reduced clearance is expected "
                "(B&K §3.1.1).",
                [m.evidence for m in severe] + [t.evidence for t in abnormal],
                wording="should not be used (ANZCA); avoid if severe, caution if moderate (ASRA)",
            )
        ]
    if abnormal:
        return [
            fired(
                "CI-HEP",
                "warning",
                "Abnormal liver tests: possible hepatic dysfunction, use ketamine only with monitoring",
                "Recent liver tests exceed the local abnormal-LFT threshold ("
                + "; ".join(ctx.local(n) for n in _LFT_DEFAULTS[1:])
                + "). The severity of any hepatic impairment is a clinical judgement. ASRA Q2: avoid in severe "
                "impairment; in moderate disease ketamine **may be administered judiciously with proper monitoring**.",
                [t.evidence for t in abnormal],
                citations=(sources.ASRA_Q2_HEP, sources.ANZCA_PS_2_2_3),
                wording="caution (moderate); avoid (severe)",
                local_defaults=_LFT_DEFAULTS,
            )
        ]
    judged = [t for t in tests if t.abnormal is False]
    if judged:
        return [
            satisfied(
                "CI-HEP",
                "No severe liver disease on record; recent liver tests below the local abnormal threshold",
                [t.evidence for t in judged],
                local_defaults=_LFT_DEFAULTS,
            )
        ]
    return [not_applicable("CI-HEP", "No severe liver disease on record and no abnormal recent liver test")]
