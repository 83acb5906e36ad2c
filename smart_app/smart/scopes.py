"""The granted scope, read in SMART v2 (`patient/Observation.rs`) and v1 (`patient/Observation.read`) syntax.

The app always decides from the scope the server GRANTED (token response `scope`), never from what it asked for:
a feature whose scope is missing is shown as unavailable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_V1_SUFFIXES = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(\?.*)?$")


@dataclass(frozen=True, slots=True)
class GrantedScopes:
    raw: str

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.raw.split())

    def allows(self, resource_type: str, interaction: str, *, context: str = "patient") -> bool:
        """True if a `context/resource.<interaction>` permission was granted (interaction: one of c r u d s).

        Scopes with a search-parameter restriction (`...rs?category=...`) grant only part of the data, so they do
        not count as full access here.
        """
        for scope in self.scopes:
            match = _SCOPE.match(scope)
            if not match or match.group(4):
                continue
            ctx, kind, suffix = match.group(1), match.group(2), match.group(3)
            if ctx not in (context, "user") or kind not in (resource_type, "*"):
                continue
            letters = _V1_SUFFIXES.get(suffix, suffix)
            if interaction in letters:
                return True
        return False

    def has(self, scope: str) -> bool:
        return scope in self.scopes

    def missing_read(self, resource_type: str) -> str | None:
        """Why `resource_type` cannot be searched, or None when it can."""
        if self.allows(resource_type, "s") or (resource_type == "Patient" and self.allows("Patient", "r")):
            return None
        return f"the EHR did not grant read access to {resource_type} (scope patient/{resource_type}.rs)"

    @property
    def can_write_medication_request(self) -> bool:
        return self.allows("MedicationRequest", "c")

    @property
    def can_write_questionnaire_response(self) -> bool:
        return self.allows("QuestionnaireResponse", "c")
