"""Ketamine safety engine: contraindications, baseline ECG/LFT and checks of the draft order (RULES.md section 7).

Pure functions over `smart_app.core.model` data; the CDS Hooks service, the SMART app and the CLI call `evaluate`.
"""

from smart_app.core.safety.engine import SafetyReport, evaluate
from smart_app.core.safety.ketamine_order import KetamineOrder, is_esketamine, is_ketamine, read_order
from smart_app.core.safety.rules.baseline_tests import BaselineTestStatus

__all__ = [
    "BaselineTestStatus",
    "KetamineOrder",
    "SafetyReport",
    "evaluate",
    "is_esketamine",
    "is_ketamine",
    "read_order",
]
