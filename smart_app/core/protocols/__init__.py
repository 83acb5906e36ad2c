"""Weight-based ketamine order sets from the guideline protocol catalogue (mappings/protocols.json).

Pure clinical core: callers pass weight, age and safety findings and get back draft FHIR orders plus the non-order
items the clinician must see. The CDS Hooks service and the SMART app present them.
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
from smart_app.core.protocols.orders import OrderSet, build_order_set

__all__ = [
    "DoseError",
    "DosePlan",
    "InfusionPlan",
    "Instruction",
    "OralPlan",
    "OrderSet",
    "Protocol",
    "ProtocolAssessment",
    "Status",
    "UnknownProtocolError",
    "assess_protocol",
    "assess_protocols",
    "build_order_set",
    "find_protocol",
    "get_protocol",
    "list_protocols",
    "suggested_protocols",
]
