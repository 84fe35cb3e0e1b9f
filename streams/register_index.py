"""An in-memory view over the register with blocking keys, so an incident never scans it all."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import date
from functools import lru_cache
from typing import Protocol

from schemas.police import INVOLVED_ROLES, PoliceIncident, PolicePerson
from schemas.shared import Address
from streams.normalise import dwelling_parts, given_initials, name_key, name_tokens
from streams.register import CarerRecord, SubjectRecord


class RegisterView(Protocol):
    """What `decide` needs from the register: look-ups and the candidates of an incident."""

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, or None."""
        ...

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject (`from_pregnancy_ref`), or None."""
        ...

    def candidates(self, incident: PoliceIncident) -> list[SubjectRecord]:
        """The subjects an incident may involve, by blocking keys: a superset of the matches."""
        ...


def family_carers(register: RegisterView, record: SubjectRecord) -> tuple[CarerRecord, ...]:
    """A subject's carers with those of its linked pregnancy or child records."""
    linked = [register.get(record.from_pregnancy_ref) if record.from_pregnancy_ref else None]
    linked.append(register.child_of_pregnancy(record.subject_ref))
    carers = {carer.person_ref: carer for carer in record.carers}
    for other in filter(None, linked):
        for carer in other.carers:
            carers.setdefault(carer.person_ref, carer)
    return tuple(carers.values())


def home_on(register: RegisterView, record: SubjectRecord, day: date) -> Address | None:
    """A subject's home on `day` (its pregnancy's when it has no address of its own)."""
    address = record.address_on(day)
    if address is None and record.from_pregnancy_ref:
        pregnancy = register.get(record.from_pregnancy_ref)
        address = pregnancy.address_on(day) if pregnancy else None
    return address


def address_keys(address: Address) -> set[str]:
    """Blocking keys of an address: UPRN, dwelling, building and postcode."""
    parts = dwelling_parts(address)
    keys = {f"dwelling:{parts.dwelling_key}", f"building:{parts.building_key}"}
    keys = {key for key in keys if not key.endswith(":None")}
    if address.uprn:
        keys.add(f"uprn:{address.uprn}")
    if parts.postcode:
        keys.add(f"postcode:{parts.postcode}")
    return keys


@lru_cache(maxsize=1 << 16)
def _words(name: str) -> frozenset[str]:
    """A name whole and each word of it (for names written in parts), normalised."""
    whole = name_key(name)
    return frozenset(({whole} if whole else set()) | {w for w in name_tokens(name) if len(w) > 1})


def name_keys(given_names: Iterable[str | None], family_names: Iterable[str | None]) -> set[str]:
    """Blocking keys of a person's names: each name with the first or last letter of the other.

    One name exact and the other a typing error (which never changes both its
    first and last letter), a short form or a part of it still share a key;
    matches that need the date of birth are found by the date.
    """
    return set(_name_keys(tuple(given_names), tuple(family_names)))


@lru_cache(maxsize=1 << 16)
def _name_keys(
    given_names: tuple[str | None, ...], family_names: tuple[str | None, ...]
) -> frozenset[str]:
    """`name_keys`, cached: the same names come back in incident after incident."""
    keys: set[str] = set()
    for given in filter(None, given_names):
        for family in filter(None, family_names):
            for g in _words(given):
                ends = {*given_initials(g), f"-{g[-1]}"}
                keys |= {f"fg:{f}|{end}" for f in _words(family) for end in ends}
            for f in _words(family):
                keys |= {f"gf:{g}|{end}" for g in _words(given) for end in (f[0], f"-{f[-1]}")}
    return frozenset(keys)


def carer_keys(carer: CarerRecord) -> set[str]:
    """Blocking keys of a carer: every spelling of their names, date of birth and NHS number."""
    keys = name_keys(carer.given_names, carer.family_names)
    keys |= {f"dob:{dob.isoformat()}" for dob in carer.dates_of_birth}
    keys |= {f"nhs:{number}" for number in carer.nhs_numbers}
    return keys


def record_keys(record: SubjectRecord) -> frozenset[str]:
    """Every blocking key of a subject: each address it ever had and each carer."""
    keys: set[str] = set()
    for span in record.addresses:
        keys |= address_keys(span.address)
    for carer in record.carers:
        keys |= carer_keys(carer)
    return frozenset(keys)


def person_keys(person: PolicePerson) -> set[str]:
    """Blocking keys of a person in an incident: names, date of birth, NHS number, address."""
    given, family = (person.given_name,), (person.family_name,)
    keys = name_keys(given, family) | name_keys(family, given)
    if person.date_of_birth is not None:
        keys.add(f"dob:{person.date_of_birth.isoformat()}")
    if person.nhs_number:
        keys.add(f"nhs:{person.nhs_number}")
    if person.address is not None:
        keys |= address_keys(person.address)
    return keys


def incident_keys(incident: PoliceIncident) -> set[str]:
    """Blocking keys of an incident: its location and each person who can involve a family."""
    keys = address_keys(incident.location)
    for person in incident.persons:
        if person.role in INVOLVED_ROLES:
            keys |= person_keys(person)
    return keys


class RegisterIndex:
    """The register held in memory, with an inverted index from blocking key to subject."""

    def __init__(self, records: Iterable[SubjectRecord] = ()) -> None:
        """An index holding `records`."""
        self._records: dict[str, SubjectRecord] = {}
        self._keys: dict[str, frozenset[str]] = {}
        self._postings: defaultdict[str, set[str]] = defaultdict(set)
        self._children: defaultdict[str, set[str]] = defaultdict(set)
        self._kinds: Counter[str] = Counter()
        for record in records:
            self.upsert(record)

    def __len__(self) -> int:
        """How many subjects the register holds."""
        return len(self._records)

    def __iter__(self) -> Iterator[SubjectRecord]:
        """Every subject record, in no particular order."""
        return iter(self._records.values())

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, or None."""
        return self._records.get(subject_ref)

    def upsert(self, record: SubjectRecord) -> None:
        """Add or replace one subject's record; its stale keys go."""
        self.remove(record.subject_ref)
        ref = record.subject_ref
        self._records[ref] = record
        self._kinds[record.kind] += 1
        self._keys[ref] = record_keys(record)
        for key in self._keys[ref]:
            self._postings[key].add(ref)
        if record.from_pregnancy_ref:
            self._children[record.from_pregnancy_ref].add(ref)

    def remove(self, subject_ref: str) -> None:
        """Forget one subject (nothing happens when it is unknown)."""
        record = self._records.pop(subject_ref, None)
        if record is not None:
            self._kinds[record.kind] -= 1
        for key in self._keys.pop(subject_ref, frozenset()):
            refs = self._postings[key]
            refs.discard(subject_ref)
            if not refs:
                del self._postings[key]
        pregnancy = record.from_pregnancy_ref if record else None
        if pregnancy and pregnancy in self._children:
            self._children[pregnancy].discard(subject_ref)
            if not self._children[pregnancy]:
                del self._children[pregnancy]

    def counts_by_kind(self) -> dict[str, int]:
        """How many children and unborn children the register holds."""
        return {kind: count for kind, count in self._kinds.items() if count}

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject (of twins, the first ref), or None."""
        refs = sorted(self._children.get(pregnancy_ref, ()))
        return self._records.get(refs[0]) if refs else None

    def refs_for_key(self, key: str) -> frozenset[str]:
        """The subjects filed under one blocking key."""
        return frozenset(self._postings.get(key, ()))

    def candidates(self, incident: PoliceIncident) -> list[SubjectRecord]:
        """Subjects sharing a blocking key with the incident, and their linked pregnancy/child."""
        refs: set[str] = set()
        for key in incident_keys(incident):
            refs |= self._postings.get(key, set())
        refs |= {link for ref in list(refs) for link in self._links(ref)}
        return [self._records[ref] for ref in sorted(refs) if ref in self._records]

    def _links(self, subject_ref: str) -> Iterator[str]:
        """The pregnancy a child came from and the child a pregnancy became."""
        record = self._records[subject_ref]
        if record.from_pregnancy_ref:
            yield record.from_pregnancy_ref
        yield from self._children.get(subject_ref, ())
