"""CDS service declarations and the registry discovery is derived from.

A service declares itself once (hook, id, title, description, prefetch queries, usage requirements, handler);
`GET /cds-services` is computed from these declarations, never kept by hand. Declarations are checked when the
registry is built: an invalid prefetch template fails at start-up, not in a client's hands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from smart_app.cds_hooks.context import HookRequest
from smart_app.cds_hooks.models import Card, ServiceDescription
from smart_app.cds_hooks.prefetch import PrefetchQuery, template_problems
from smart_app.cds_hooks.presented import PresentedView
from smart_app.cds_hooks.settings import ServiceSettings
from smart_app.config import LocalDefaults
from smart_app.core.model import MedicationUse, PatientRecord
from smart_app.core.outcomes import Outcome

Hook = Literal["patient-view", "order-select", "order-sign"]
ORDER_HOOKS: frozenset[str] = frozenset({"order-select", "order-sign"})
# Context fields each hook lets prefetch templates use as tokens (CDS Hooks library, hook definitions).
HOOK_PREFETCH_FIELDS: dict[str, frozenset[str]] = {
    "patient-view": frozenset({"userId", "patientId", "encounterId"}),
    "order-select": frozenset({"userId", "patientId", "encounterId"}),
    "order-sign": frozenset({"userId", "patientId", "encounterId"}),
}
NO_AUTH_NOTE = " WARNING: this server runs without CDS client authentication (--no-auth), for local testing only."


@dataclass(frozen=True, slots=True)
class ServiceCall:
    """Everything a service handler decides on: the request, the patient's record (drafts included), settings."""

    request: HookRequest
    record: PatientRecord
    drafts: tuple[MedicationUse, ...]  # the drafts this service checks (empty for patient-view)
    settings: ServiceSettings
    defaults: LocalDefaults
    on: datetime
    presented: PresentedView | None = None  # cards already shown at order-select (not repeated at order-sign)
    # Drafts whose drug could not be identified: not checked, so no total or check may claim to include them.
    unchecked_drafts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServiceResult:
    cards: list[Card]
    unchecked: tuple[Outcome, ...] = ()  # not-evaluable outcomes for the "not everything could be checked" card


@dataclass(frozen=True, slots=True)
class CdsService:
    id: str
    hook: Hook
    title: str
    description: str
    queries: tuple[PrefetchQuery, ...]
    handler: Callable[[ServiceCall], ServiceResult]
    usage_requirements: str | None = None
    # Order hooks: which draft medications this service is about; others get `{"cards": []}` without data access.
    relevant: Callable[[MedicationUse], bool] | None = None
    selected_only: bool = False  # order-select: check the selected drafts only
    # The handler asks which cards order-select showed this patient (ServiceCall.presented), and records its own.
    remembers_selection: bool = False
    source_label: str = field(default="smart_app CDS service")

    @property
    def prefetch(self) -> dict[str, str]:
        return {q.key: q.template for q in self.queries}

    def describe(self, *, auth_enabled: bool) -> ServiceDescription:
        return ServiceDescription(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description + ("" if auth_enabled else NO_AUTH_NOTE),
            prefetch=self.prefetch or None,
            usage_requirements=self.usage_requirements,
        )


class InvalidServiceDeclaration(ValueError):
    pass


class Registry:
    def __init__(self, services: Iterable[CdsService]) -> None:
        self._services: dict[str, CdsService] = {}
        for service in services:
            self._check(service)
            self._services[service.id] = service

    def _check(self, service: CdsService) -> None:
        if service.id in self._services:
            raise InvalidServiceDeclaration(f"duplicate service id {service.id!r}")
        if (service.hook in ORDER_HOOKS) != (service.relevant is not None):
            raise InvalidServiceDeclaration(f"{service.id}: order hooks, and only they, declare relevant drafts")
        for query in service.queries:
            problems = template_problems(query.template, HOOK_PREFETCH_FIELDS[service.hook])
            if problems:
                raise InvalidServiceDeclaration(f"{service.id} prefetch {query.key!r}: {'; '.join(problems)}")

    def get(self, service_id: str) -> CdsService | None:
        return self._services.get(service_id)

    def __iter__(self) -> Iterator[CdsService]:
        return iter(self._services.values())

    def discovery(self, *, auth_enabled: bool) -> dict[str, Any]:
        return {"services": [s.describe(auth_enabled=auth_enabled).to_json() for s in self._services.values()]}
