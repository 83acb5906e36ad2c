"""Opioid morphine milligram equivalents per day (MME/day, or ANZCA oMEDD) from the patient's medications.

Public API: `calculate_mme`, `opioid_ingredient`, `mme_report_to_json`, and the result types `MmeReport`,
`MmeItem`. The policy is the project's MME specification (MME.md section 4); see `engine` for the rules.
"""

from smart_app.core.mme.engine import calculate_mme, opioid_ingredient
from smart_app.core.mme.export import mme_report_to_json
from smart_app.core.mme.report import MmeItem, MmeReport

__all__ = ["MmeItem", "MmeReport", "calculate_mme", "mme_report_to_json", "opioid_ingredient"]
