"""Local defaults: thresholds the guidelines do not set (shared RULES.md section 9).

Every value here is a local policy, not a guideline figure; findings that depend on one say "local default" and
name the setting. Override with environment variables (`SMART_APP_<NAME>`, e.g. `SMART_APP_ECG_LOOKBACK_DAYS=365`)
or a JSON/TOML file named by `SMART_APP_CONFIG`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    JsonConfigSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

MmeTable = Literal["cdc-2022", "cdc-2016", "anzca-2021"]
AlertSeverity = Literal["critical", "warning", "info"]


class LocalDefaults(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMART_APP_", extra="ignore", frozen=True)

    mme_table: MmeTable = Field("cdc-2022", description="MME conversion table")
    mme_precaution_threshold: float = Field(50.0, description="MME/day at which CDC 2022 precautions apply")
    mme_high_threshold: float = Field(90.0, description="MME/day the CDC 2016 guideline said to avoid or justify")
    omedd_precaution_threshold: float | None = Field(
        None, description="oMEDD mg/day precaution level for the ANZCA table (no source sets one; unset by default)"
    )
    omedd_high_threshold: float | None = Field(
        None, description="oMEDD mg/day high level for the ANZCA table (no source sets one; unset by default)"
    )

    timeline_lookback_days: int = Field(365, gt=0, description="days of medication history drawn as MME/day over time")
    timeline_assumed_days: int = Field(
        30,
        gt=0,
        description="days a past opioid is assumed to have been taken when the record gives its start but no end, "
        "supply or validity period",
    )

    # Opioid re-introduction after a taper (POST-TAPER; ISCRR L1397-1399 gives no numbers).
    post_taper_lookback_days: int = Field(
        180, gt=0, description="days before today in which the highest MME/day is compared with today's (taper)"
    )
    post_taper_fall_percent: float = Field(
        50.0, gt=0, le=100, description="fall in MME/day from that peak, in percent, that counts as a substantial taper"
    )
    opioid_increase_ratio: float = Field(
        2.0,
        gt=1,
        description="total MME/day with the order, as a multiple of today's, that is far above the recent dose",
    )

    bp_systolic_poorly_controlled: float = Field(
        160.0, description="systolic mmHg at or above which BP is poorly controlled"
    )
    bp_diastolic_poorly_controlled: float = Field(
        100.0, description="diastolic mmHg at or above which BP is poorly controlled"
    )
    bp_lookback_days: int = Field(90, description="days a BP reading counts as current")

    ecg_lookback_days: int = Field(180, description="days a 12-lead ECG counts as a current baseline")
    lft_lookback_days: int = Field(90, description="days ALT/AST results count as a current baseline")
    lft_transaminase_uln_multiple: float = Field(3.0, description="ALT/AST above this multiple of the ULN is abnormal")
    lft_transaminase_default_uln: float = Field(40.0, description="ULN (U/L) for ALT/AST when no reference range")
    lft_bilirubin_uln_multiple: float = Field(
        2.0, description="total bilirubin above this multiple of the ULN is abnormal"
    )
    high_dose_rate_mg_per_kg_h: float = Field(
        1.0, description="ordered rate above which dosing counts as high (LFT trigger)"
    )
    repeat_course_days: int = Field(30, description="another ketamine course within this many days counts as frequent")
    # "High doses at frequent intervals" (ASRA Table 6) has no number in any source; these complete the local
    # definition above so that a multi-day or serial course ordered at once is not missed.
    multiday_course_hours: float = Field(
        24.0, gt=0, description="ordered infusion length (h) from which a course counts as multi-day (LFT trigger)"
    )
    cumulative_ketamine_mg_30d: float = Field(
        1000.0,
        gt=0,
        description="ketamine mg in 30 days (given, ordered and planned) from which dosing counts as high (LFT "
        "trigger; ASRA's example course with liver-enzyme rises averaged 1813 mg)",
    )

    elderly_age: int = Field(65, description="age at or above which lower monitoring thresholds apply")
    # Between ASRA's starting rate (0.5 mg/kg/h, so an in-range elderly infusion is not refused) and the 1 mg/kg/h
    # threshold for younger adults ("lower thresholds" for the elderly, ASRA Q6; no source gives the number).
    elderly_rate_monitored_mg_per_kg_h: float = Field(
        0.75, description="infusion rate needing a monitored setting in elderly patients"
    )
    elderly_bolus_mg_per_kg: float = Field(0.25, description="bolus needing experienced staff in elderly patients")
    treatments_per_year_warning: int = Field(6, description="ketamine treatments in 365 days above which to warn")
    course_gap_days: int = Field(
        30,
        gt=0,
        description="days between ketamine treatment days within which they belong to one course (series)",
    )
    treatments_per_year_strong: int = Field(
        12, description="ketamine treatments in 365 days above which to warn strongly"
    )
    weight_lookback_days: int = Field(30, description="days a body weight counts as current for mg/kg checks")
    pregnancy_test_lookback_days: int = Field(30, description="days a positive hCG counts as current")
    acute_episode_days: int = Field(
        90,
        description="days an acute-episode condition code (myocardial infarction, brain or eye injury, intoxication) "
        "counts from its onset, else its recorded date",
    )
    pregnancy_episode_days: int = Field(
        300, description="days a pregnancy condition code counts from its onset, else its recorded date"
    )

    ketamine_infusion_concentration_mg_per_ml: float = Field(
        1.0, description="standard ketamine infusion concentration (mg/mL) for generated orders"
    )
    ketamine_outpatient_infusion_hours: float = Field(
        4.0, description="length (h) of a generated single outpatient infusion (ASRA: >2 h and >= 80 mg)"
    )
    adult_age: int = Field(18, description="age from which the adult ketamine protocols apply")

    # Alert policy (README "Alert policy"): what interrupts the clinician. Contraindications always show.
    alert_min_severity: AlertSeverity = Field(
        "info", description="lowest severity of a fired outcome shown as a card (contraindications always show)"
    )
    alert_reminders_at_order_select: bool = Field(
        False,
        description="show consent, nil-per-os and opioid-plan reminders as one checklist card at order-select",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SMART_APP_CONFIG")
        if config_file:
            path = Path(config_file)
            if path.suffix == ".toml":
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
            else:
                sources.append(JsonConfigSettingsSource(settings_cls, json_file=path))
        return tuple(sources)

    def describe(self, name: str) -> str:
        """'<description> = <value> (local default, setting <name>)' for cards and screens."""
        field = type(self).model_fields[name]
        return f"{field.description} = {getattr(self, name)} (local default, setting {name})"


@lru_cache(maxsize=1)
def local_defaults() -> LocalDefaults:
    return LocalDefaults()
