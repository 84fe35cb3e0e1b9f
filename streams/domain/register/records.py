"""The folded state of one register subject, built from its register-event/1 events; pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Self, TypeVar
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, TypeAdapter

from schemas.register import Carer, RegisterEvent
from schemas.shared import Address

PregnancyOutcome = Literal["live_birth", "loss", "termination"]
_T = TypeVar("_T")
#: Register dates, like incident days, are judged in the local time of England.
LONDON = ZoneInfo("Europe/London")


class RecordModel:
    """Base of the folded register records: slotted, immutable dataclasses, JSON round-trippable.

    A worker holds every subject of the register in its compact form
    (`streams.domain.register.codec`) and reads records back only as candidates, so
    records are cheap to build: plain slotted dataclasses, not pydantic models;
    pydantic still reads and writes their JSON (`model_validate_json`, `model_dump_json`).
    """

    __slots__ = ()
    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    @classmethod
    def model_validate_json(cls, data: str | bytes) -> Self:
        """A record from its JSON (raises pydantic's ValidationError when it does not fit)."""
        return _adapter(cls).validate_json(data)  # type: ignore[no-any-return]

    def model_dump_json(self) -> str:
        """The record as compact JSON."""
        return _adapter(type(self)).dump_json(self).decode()

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        """A copy with some fields replaced."""
        return replace(self, **(update or {}))  # type: ignore[type-var]


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    """pydantic's reader and writer of one record class (built once, on first use)."""
    adapter = _ADAPTERS.get(cls)
    if adapter is None:
        adapter = _ADAPTERS[cls] = TypeAdapter(cls)
    return adapter


@dataclass(frozen=True, slots=True)
class Place(RecordModel):
    """An address as the register holds it: the contract's fields, cheap to build.

    `to_address` gives the contract's model back (for a task).
    """

    uprn: str | None = None
    lines: tuple[str, ...] = ()
    town: str | None = None
    postcode: str | None = None

    @classmethod
    def of(cls, address: Address | Place) -> Place:
        """The register's form of an address."""
        if isinstance(address, Place):
            return address
        return cls(address.uprn, tuple(address.lines), address.town, address.postcode)

    def to_address(self) -> Address:
        """The contract's model of this address."""
        return Address(
            uprn=self.uprn, lines=list(self.lines), town=self.town, postcode=self.postcode
        )


@dataclass(frozen=True, slots=True)
class AddressSpan(RecordModel):
    """The subject's address from `effective_from` until the next span begins."""

    effective_from: date
    address: Place

    def __post_init__(self) -> None:
        """Hold the address as a `Place`."""
        object.__setattr__(self, "address", Place.of(self.address))


@dataclass(frozen=True, slots=True)
class PregnancyEnd(RecordModel):
    """How and when a pregnancy ended."""

    on: date
    outcome: PregnancyOutcome | None


@dataclass(frozen=True, slots=True)
class CarerRecord(RecordModel):
    """One carer, merged across events by `person_ref`: every spelling seen is kept."""

    person_ref: str
    relationships: tuple[str, ...] = ()
    given_names: tuple[str, ...] = ()
    family_names: tuple[str, ...] = ()
    dates_of_birth: tuple[date, ...] = ()
    nhs_numbers: tuple[str, ...] = ()

    @property
    def relationship(self) -> str:
        """The latest relationship given for this carer."""
        return self.relationships[-1] if self.relationships else "carer"


@dataclass(frozen=True, slots=True)
class SubjectRecord(RecordModel):
    """Everything the register knows about one child or unborn child."""

    subject_ref: str
    kind: Literal["child", "unborn"]
    local_authority: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    expected_delivery_date: date | None = None
    nhs_number: str | None = None
    from_pregnancy_ref: str | None = None
    registered_on: date | None = None
    pregnancy_end: PregnancyEnd | None = None
    withdrawn_on: date | None = None
    addresses: tuple[AddressSpan, ...] = ()
    carers: tuple[CarerRecord, ...] = ()
    event_ids: tuple[str, ...] = ()
    last_event_id: str | None = None
    last_recorded_at: datetime | None = None

    def address_on(self, day: date) -> Place | None:
        """The address that counts on `day`: the latest span begun by then, else the earliest."""
        current: Place | None = None
        for span in self.addresses:
            if span.effective_from > day and current is not None:
                break
            current = span.address
        return current


def first_anniversary(day: date) -> date:
    """The first anniversary of a date; for 29 February it is 1 March."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return date(day.year + 1, 3, 1)


def effective_day(event: RegisterEvent) -> date:
    """When the change happened: `effective_date`, else the London date of `recorded_at`."""
    return event.effective_date or event.recorded_at.astimezone(LONDON).date()


#: The events that bring a subject into the register: a pregnancy or a birth registered.
REGISTERING = frozenset({"pregnancy_registered", "birth_registered"})


def unknown_subject(record: SubjectRecord | None, event: RegisterEvent) -> bool:
    """Is this a change (a move, an end, a withdrawal) of a subject the register never held?

    Such an event cannot be applied: a record built from it alone would have no registration
    (a ghost subject, or one retention purged coming back). It is set aside for a person, who
    can send it again once the subject's registration is in.
    """
    return record is None and event.type not in REGISTERING


def apply_event(record: SubjectRecord | None, event: RegisterEvent) -> SubjectRecord:
    """Fold one event into a subject's record; applying the same event twice changes nothing."""
    if record is not None and event.event_id in record.event_ids:
        return record
    base = record or SubjectRecord(subject_ref=event.subject.subject_ref, kind=event.subject.kind)
    update: dict[str, Any] = {
        **_subject_update(base, event),
        **_lifecycle_update(base, event),
        "carers": _merge_carers(base.carers, event.carers),
        "event_ids": (*base.event_ids, event.event_id),
    }
    if event.address is not None:
        update["addresses"] = _add_span(base.addresses, effective_day(event), event.address)
    if base.last_recorded_at is None or event.recorded_at >= base.last_recorded_at:
        update["last_event_id"] = event.event_id
        update["last_recorded_at"] = event.recorded_at
    return replace(base, **update)


def _subject_update(base: SubjectRecord, event: RegisterEvent) -> dict[str, object]:
    """The subject fields an event gives: a non-null value replaces, a null keeps what was known."""
    subject = event.subject
    given = {
        "kind": "child" if base.kind == "child" else subject.kind,  # once born, always a child
        "local_authority": event.local_authority,
        "given_name": subject.given_name,
        "family_name": subject.family_name,
        "date_of_birth": subject.date_of_birth,
        "expected_delivery_date": subject.expected_delivery_date,
        "nhs_number": subject.nhs_number,
        "from_pregnancy_ref": subject.from_pregnancy_ref,
    }
    return {key: value for key, value in given.items() if value is not None}


def _lifecycle_update(base: SubjectRecord, event: RegisterEvent) -> dict[str, object]:
    """Registration, end of pregnancy and withdrawal dates an event records."""
    day = effective_day(event)
    if event.type in ("pregnancy_registered", "birth_registered"):
        first = day if base.registered_on is None else min(base.registered_on, day)
        return {"registered_on": first}
    if event.type == "pregnancy_ended":
        return {"pregnancy_end": PregnancyEnd(on=day, outcome=event.outcome)}
    if event.type == "subject_withdrawn":
        first = day if base.withdrawn_on is None else min(base.withdrawn_on, day)
        return {"withdrawn_on": first}
    return {}


def _add_span(
    spans: tuple[AddressSpan, ...], effective_from: date, address: Address
) -> tuple[AddressSpan, ...]:
    """Add an address from a date, keeping spans in date order (ties in arrival order)."""
    added = (*spans, AddressSpan(effective_from=effective_from, address=Place.of(address)))
    return tuple(sorted(added, key=lambda span: span.effective_from))


def _merge_carers(known: tuple[CarerRecord, ...], carers: list[Carer]) -> tuple[CarerRecord, ...]:
    """Merge an event's carers into the known ones by `person_ref`."""
    merged = {carer.person_ref: carer for carer in known}
    for carer in carers:
        merged[carer.person_ref] = merge_carer(merged.get(carer.person_ref), carer)
    return tuple(merged.values())


def merge_carer(known: CarerRecord | None, carer: Carer) -> CarerRecord:
    """One carer's record with what one more event says about them."""
    base = known or CarerRecord(person_ref=carer.person_ref)
    return CarerRecord(
        person_ref=base.person_ref,
        relationships=_with(base.relationships, carer.relationship),
        given_names=_with(base.given_names, carer.given_name),
        family_names=_with(base.family_names, carer.family_name),
        dates_of_birth=_with(base.dates_of_birth, carer.date_of_birth),
        nhs_numbers=_with(base.nhs_numbers, carer.nhs_number),
    )


def _with(values: tuple[_T, ...], value: _T | None) -> tuple[_T, ...]:
    """`values` with `value` appended unless it is None or already there (the last is latest)."""
    if value is None:
        return values
    return (*(v for v in values if v != value), value)


#: The longest pregnancy the rule may be configured with (`RulesConfig.gestation_days`).
MAX_GESTATION_DAYS = 400
#: Day ordinals that stand for "no limit" in a scope window.
EARLIEST, LATEST = -(2**31), 2**31 - 1


def scope_window(record: SubjectRecord, child: SubjectRecord | None = None) -> tuple[int, int]:
    """Day ordinals [first, last + 1) outside which `rules.scope` is None for this record.

    A superset, for any gestation up to MAX_GESTATION_DAYS: the index drops a
    candidate whose window misses the incident day before reading it. `child`
    is the record `child_of_pregnancy` gives for an unborn subject (its birth
    ends the pregnancy's scope). Each branch follows `rules.scope`.
    """
    end = record.withdrawn_on.toordinal() if record.withdrawn_on is not None else LATEST
    edd = record.expected_delivery_date
    begun = EARLIEST if edd is None else edd.toordinal() - MAX_GESTATION_DAYS
    if record.kind == "child":
        born = record.date_of_birth or record.registered_on
        if born is None:
            return EARLIEST, end
        first = born.toordinal() if edd is None else min(born.toordinal(), begun)
        return first, min(end, first_anniversary(born).toordinal())
    over = record.pregnancy_end
    if over is not None and over.outcome in ("loss", "termination"):
        return begun, min(end, over.on.toordinal() + 1)
    if child is not None:
        handover = child.date_of_birth or (over.on if over is not None else None)
        return begun, end if handover is None else min(end, handover.toordinal())
    limit = over.on if over is not None else edd or record.registered_on
    return begun, end if limit is None else min(end, first_anniversary(limit).toordinal())
