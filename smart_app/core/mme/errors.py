"""Why one medication's MME cannot be computed; the engine turns it into a visible item status."""

from __future__ import annotations


class NotComputable(Exception):
    """The data do not determine this medication's daily dose; `reason` says what is missing, for clinicians."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
