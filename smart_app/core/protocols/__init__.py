"""Weight-based ketamine order sets from the guideline protocol catalogue (mappings/protocols.json).

Pure clinical core: callers pass weight, age and safety outcomes and get back each protocol's status, reasons and
weight-based dose plan. The FHIR adapter (`smart_app.fhir.orders`) writes a chosen plan as draft orders.
"""

from smart_app.core.protocols.catalogue import (
    Instruction,
    Protocol,
    UnknownProtocolError,
    find_protocol,
    get_protocol,
    list_protocols,
)
from smart_app.core.protocols.dosing import DoseError, DosePlan, InfusionPlan, OralPlan
from smart_app.core.protocols.eligibility import (
    ProtocolAssessment,
    Status,
    assess_protocol,
    assess_protocols,
    suggested_protocols,
)

__all__ = [
    "DoseError",
    "DosePlan",
    "InfusionPlan",
    "Instruction",
    "OralPlan",
    "Protocol",
    "ProtocolAssessment",
    "Status",
    "UnknownProtocolError",
    "assess_protocol",
    "assess_protocols",
    "find_protocol",
    "get_protocol",
    "list_protocols",
    "suggested_protocols",
]
