"""FHIR R4B model objects (fhir.resources) to the clinical core's dataclasses.

Each `*_from_model` takes a validated fhir.resources model. Elements the core does not use are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from smart_app.core.model import (
    AllergyIntolerance,
    Answer,
    Coding,
    Concept,
    Condition,
    ConsentRecord,
    Demographics,
    Dosage,
    DoseAndRate,
    Ingredient,
    MedicationSource,
    MedicationUse,
    Observation,
    ObservationComponent,
    Period,
    Quantity,
    QuestionnaireAnswers,
    Ratio,
    ReferenceRange,
    ServiceOrder,
    Timing,
    TimingRepeat,
)


def to_datetime(value: Any) -> datetime | None:
    """FHIR date/dateTime/instant (possibly partial, e.g. '2024' or '2024-03') to an aware datetime (UTC if none)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        parts = value.split("-")
        try:
            if len(parts) == 1:
                return datetime(int(parts[0]), 1, 1, tzinfo=UTC)
            if len(parts) == 2:
                return datetime(int(parts[0]), int(parts[1]), 1, tzinfo=UTC)
            return to_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _num(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal | int | float):
        return float(value)
    return None


def coding(m: Any) -> Coding:
    return Coding(system=m.system, code=m.code, display=m.display)


def concept(m: Any) -> Concept | None:
    if m is None:
        return None
    return Concept(codings=tuple(coding(c) for c in (m.coding or ())), text=m.text)


def concepts(items: Any) -> tuple[Concept, ...]:
    return tuple(c for c in (concept(i) for i in (items or ())) if c is not None)


def status_code(m: Any) -> str | None:
    """The code of a status CodeableConcept such as Condition.clinicalStatus (first coding with a code)."""
    c = concept(m)
    if c is None:
        return None
    for cd in c.codings:
        if cd.code:
            return cd.code
    return c.text


def quantity(m: Any) -> Quantity | None:
    if m is None:
        return None
    return Quantity(value=_num(m.value), unit=m.unit, system=m.system, code=m.code)


def ratio(m: Any) -> Ratio | None:
    if m is None:
        return None
    return Ratio(numerator=quantity(m.numerator), denominator=quantity(m.denominator))


def period(m: Any) -> Period | None:
    if m is None:
        return None
    return Period(start=to_datetime(m.start), end=to_datetime(m.end))


def timing(m: Any) -> Timing | None:
    if m is None:
        return None
    r = m.repeat
    repeat = None
    if r is not None:
        repeat = TimingRepeat(
            frequency=r.frequency,
            frequency_max=r.frequencyMax,
            period=_num(r.period),
            period_max=_num(r.periodMax),
            period_unit=r.periodUnit,
            time_of_day=tuple(str(t) for t in (r.timeOfDay or ())),
            when=tuple(r.when or ()),
            day_of_week=tuple(r.dayOfWeek or ()),
            duration=_num(r.duration),
            duration_max=_num(r.durationMax),
            duration_unit=r.durationUnit,
            count=r.count,
            count_max=r.countMax,
            bounds_duration=quantity(r.boundsDuration),
            bounds_period=period(r.boundsPeriod),
        )
    events = tuple(d for d in (to_datetime(e) for e in (m.event or ())) if d is not None)
    return Timing(repeat=repeat, code=concept(m.code), events=events)


def dosage(m: Any) -> Dosage:
    rates = []
    for dr in m.doseAndRate or ():
        dose_range = dr.doseRange
        rate_range = dr.rateRange
        rates.append(
            DoseAndRate(
                dose=quantity(dr.doseQuantity),
                dose_low=quantity(dose_range.low) if dose_range else None,
                dose_high=quantity(dose_range.high) if dose_range else None,
                rate=quantity(dr.rateQuantity),
                rate_low=quantity(rate_range.low) if rate_range else None,
                rate_high=quantity(rate_range.high) if rate_range else None,
                rate_ratio=ratio(dr.rateRatio),
                type=concept(dr.type),
            )
        )
    return Dosage(
        text=m.text,
        timing=timing(m.timing),
        as_needed=bool(m.asNeededBoolean) or m.asNeededCodeableConcept is not None,
        route=concept(m.route),
        method=concept(m.method),
        dose_and_rate=tuple(rates),
        max_dose_per_period=ratio(m.maxDosePerPeriod),
        max_dose_per_administration=quantity(m.maxDosePerAdministration),
        sequence=m.sequence,
    )


def _administration_dosage(m: Any) -> Dosage:
    """MedicationAdministration.dosage has a single dose and rate rather than a Dosage."""
    return Dosage(
        text=m.text,
        route=concept(m.route),
        method=concept(m.method),
        dose_and_rate=(
            DoseAndRate(dose=quantity(m.dose), rate=quantity(m.rateQuantity), rate_ratio=ratio(m.rateRatio)),
        ),
    )


@dataclass(frozen=True, slots=True)
class MedicationParts:
    """What a Medication resource gives a medication use: its code, form and ingredients."""

    code: Concept | None
    form: Concept | None
    ingredients: tuple[Ingredient, ...]


class PendingUse(NamedTuple):
    """A MedicationRequest/Statement/Administration read, before its medicationReference is resolved against the
    Medications of the same data (which may come later in a Bundle).

    A NamedTuple rather than a frozen dataclass: as immutable, and made for every medication resource of every
    call, where a frozen dataclass's field-by-field `object.__setattr__` cost three times as much."""

    resource_type: MedicationSource
    id: str
    status: str | None
    medication: Concept | None  # medicationCodeableConcept
    has_reference: bool
    reference: str | None  # medicationReference.reference
    reference_display: str | None
    contained: tuple[tuple[str | None, MedicationParts], ...]  # contained Medications by id
    intent: str | None = None
    category: tuple[Concept, ...] = ()
    dosages: tuple[Dosage, ...] = ()
    recorded: datetime | None = None
    effective: Period | None = None
    repeats_allowed: int | None = None
    expected_supply: Quantity | None = None  # MedicationRequest.dispenseRequest.expectedSupplyDuration
    prior_prescription: str | None = None  # MedicationRequest.priorPrescription.reference


def medication_parts(m: Any) -> MedicationParts:
    """A validated Medication model's parts."""
    ingredients = tuple(
        Ingredient(
            item=concept(i.itemCodeableConcept) or Concept(text=i.itemReference.display if i.itemReference else None),
            strength=ratio(i.strength),
            is_active=i.isActive,
        )
        for i in (m.ingredient or ())
    )
    return MedicationParts(concept(m.code), concept(m.form), ingredients)


def resolve(pending: PendingUse, medications: dict[str, MedicationParts], *, is_draft: bool = False) -> MedicationUse:
    """The medication use, its medicationReference resolved to a contained or bundled Medication."""
    med_concept = pending.medication
    med = None
    key = pending.reference
    if key:
        if key.startswith("#"):
            med = next((parts for cid, parts in pending.contained if cid == key[1:]), None)
        else:
            med = medications.get(key) or medications.get(key.rsplit("/", 1)[-1])
    form: Concept | None = None
    ingredients: tuple[Ingredient, ...] = ()
    if med is None:
        if med_concept is None:
            med_concept = Concept(text=pending.reference_display if pending.has_reference else None)
    else:
        med_concept = med.code or med_concept or Concept()
        form, ingredients = med.form, med.ingredients
    return MedicationUse(
        resource_type=pending.resource_type,
        id=pending.id,
        status=pending.status,
        intent=pending.intent,
        category=pending.category,
        medication=med_concept,
        form=form,
        ingredients=ingredients,
        dosages=pending.dosages,
        recorded=pending.recorded,
        effective=pending.effective,
        repeats_allowed=pending.repeats_allowed,
        expected_supply=pending.expected_supply,
        is_draft_order=is_draft,
        prior_prescription=pending.prior_prescription,
    )


def _medication_fields(resource: Any) -> dict[str, Any]:
    ref = getattr(resource, "medicationReference", None)
    contained = tuple(
        (c.id, medication_parts(c)) for c in (resource.contained or ()) if c.get_resource_type() == "Medication"
    )
    return {
        "medication": concept(getattr(resource, "medicationCodeableConcept", None)),
        "has_reference": ref is not None,
        "reference": ref.reference if ref is not None else None,
        "reference_display": ref.display if ref is not None else None,
        "contained": contained,
    }


def pending_use(resource: Any) -> PendingUse:
    """A validated MedicationRequest/Statement/Administration model, its medication not yet resolved."""
    kind: MedicationSource = resource.get_resource_type()
    if kind == "MedicationRequest":
        dispense = resource.dispenseRequest
        return PendingUse(
            resource_type=kind,
            id=resource.id or "",
            status=resource.status,
            intent=resource.intent,
            category=concepts(resource.category),
            dosages=tuple(dosage(d) for d in (resource.dosageInstruction or ())),
            recorded=to_datetime(resource.authoredOn),
            effective=period(dispense.validityPeriod) if dispense else None,
            repeats_allowed=dispense.numberOfRepeatsAllowed if dispense else None,
            expected_supply=quantity(dispense.expectedSupplyDuration) if dispense else None,
            prior_prescription=resource.priorPrescription.reference if resource.priorPrescription else None,
            **_medication_fields(resource),
        )
    eff = period(resource.effectivePeriod) or (
        Period(start=to_datetime(resource.effectiveDateTime)) if resource.effectiveDateTime else None
    )
    if kind == "MedicationStatement":
        return PendingUse(
            resource_type=kind,
            id=resource.id or "",
            status=resource.status,
            category=concepts([resource.category] if resource.category else []),
            dosages=tuple(dosage(d) for d in (resource.dosage or ())),
            recorded=to_datetime(resource.dateAsserted) or (eff.start if eff else None),
            effective=eff,
            **_medication_fields(resource),
        )
    return PendingUse(  # MedicationAdministration
        resource_type="MedicationAdministration",
        id=resource.id or "",
        status=resource.status,
        category=concepts([resource.category] if resource.category else []),
        dosages=(_administration_dosage(resource.dosage),) if resource.dosage else (),
        recorded=eff.start if eff else None,
        effective=eff,
        **_medication_fields(resource),
    )


def medication_use(resource: Any, medications: dict[str, Any], *, is_draft: bool = False) -> MedicationUse:
    """A validated Medication* model to a MedicationUse; `medications`: validated Medication models by id."""
    parts = {k: medication_parts(v) for k, v in medications.items()}
    return resolve(pending_use(resource), parts, is_draft=is_draft)


def condition(m: Any) -> Condition:
    return Condition(
        id=m.id or "",
        code=concept(m.code) or Concept(),
        clinical_status=status_code(m.clinicalStatus),
        verification_status=status_code(m.verificationStatus),
        category=concepts(m.category),
        severity=concept(m.severity),
        onset=to_datetime(m.onsetDateTime) or (to_datetime(m.onsetPeriod.start) if m.onsetPeriod else None),
        abatement=to_datetime(m.abatementDateTime)
        or (to_datetime(m.abatementPeriod.end) if m.abatementPeriod else None),
        recorded=to_datetime(m.recordedDate),
    )


def _reference_ranges(items: Any) -> tuple[ReferenceRange, ...]:
    return tuple(ReferenceRange(low=quantity(r.low), high=quantity(r.high), text=r.text) for r in (items or ()))


def observation(m: Any) -> Observation:
    effective = to_datetime(m.effectiveDateTime) or to_datetime(m.effectiveInstant)
    if effective is None and m.effectivePeriod is not None:
        effective = to_datetime(m.effectivePeriod.end) or to_datetime(m.effectivePeriod.start)
    return Observation(
        id=m.id or "",
        status=m.status,
        code=concept(m.code) or Concept(),
        effective=effective,
        issued=to_datetime(m.issued),
        value_quantity=quantity(m.valueQuantity),
        value_concept=concept(m.valueCodeableConcept),
        value_string=m.valueString,
        value_boolean=m.valueBoolean,
        interpretation=concepts(m.interpretation),
        reference_range=_reference_ranges(m.referenceRange),
        components=tuple(
            ObservationComponent(
                code=concept(c.code) or Concept(),
                value_quantity=quantity(c.valueQuantity),
                value_concept=concept(c.valueCodeableConcept),
                value_string=c.valueString,
                interpretation=concepts(c.interpretation),
            )
            for c in (m.component or ())
        ),
        category=concepts(m.category),
    )


def allergy(m: Any) -> AllergyIntolerance:
    return AllergyIntolerance(
        id=m.id or "",
        code=concept(m.code) or Concept(),
        clinical_status=status_code(m.clinicalStatus),
        verification_status=status_code(m.verificationStatus),
        recorded=to_datetime(m.recordedDate),
    )


def consent(m: Any) -> ConsentRecord:
    provision = m.provision
    return ConsentRecord(
        id=m.id or "",
        status=m.status,
        category=concepts(m.category),
        scope=concept(m.scope),
        date_time=to_datetime(m.dateTime),
        provision_type=provision.type if provision is not None else None,
        text=m.text.div if m.text is not None else None,
    )


def service_order(m: Any, *, is_draft: bool = False) -> ServiceOrder:
    return ServiceOrder(
        id=m.id or "",
        status=m.status,
        code=concept(m.code) or Concept(),
        authored=to_datetime(m.authoredOn),
        is_draft_order=is_draft,
    )


def demographics(m: Any) -> Demographics:
    birth = m.birthDate
    if isinstance(birth, str):
        parsed = to_datetime(birth)
        birth = parsed.date() if parsed else None
    return Demographics(id=m.id, birth_date=birth, gender=m.gender)


def _answer(m: Any) -> Answer | None:
    for name in ("valueBoolean", "valueInteger", "valueDecimal", "valueString", "valueDate", "valueDateTime"):
        value = getattr(m, name, None)
        if value is None:
            continue
        if isinstance(value, Decimal):
            return float(value)
        if name == "valueDateTime":
            return to_datetime(value)
        return value  # type: ignore[no-any-return]
    if m.valueCoding is not None:
        return coding(m.valueCoding)
    return None


def _answers(items: Any) -> list[tuple[str, Answer]]:
    found: list[tuple[str, Answer]] = []
    for item in items or ():
        for answer in item.answer or ():
            value = _answer(answer)
            if value is not None:
                found.append((item.linkId, value))
            found.extend(_answers(answer.item))
        found.extend(_answers(item.item))
    return found


def questionnaire_response(m: Any) -> QuestionnaireAnswers:
    canonical = m.questionnaire.split("|", 1)[0] if m.questionnaire else None
    return QuestionnaireAnswers(
        id=m.id or "",
        status=m.status,
        questionnaire=canonical,
        authored=to_datetime(m.authored),
        subject=m.subject.reference if m.subject is not None else None,
        answers=tuple(_answers(m.item)),
    )
