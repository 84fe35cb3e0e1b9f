"""An in-memory view over the register with blocking keys, so an incident never scans it all."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Protocol

from schemas.police import PoliceIncident
from streams.blocking import COMMON_NAME_SUBJECTS, NAME_ALONE, incident_keys, phonetic, record_keys
from streams.normalise import name_key
from streams.register import CarerRecord, Place, SubjectRecord


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

    def namesakes(self, given: str | None, family: str | None) -> int:
        """How many families have a carer of this name (1 when none or unknown)."""
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


def home_on(register: RegisterView, record: SubjectRecord, day: date) -> Place | None:
    """A subject's home on `day` (its pregnancy's when it has no address of its own)."""
    address = record.address_on(day)
    if address is None and record.from_pregnancy_ref:
        pregnancy = register.get(record.from_pregnancy_ref)
        address = pregnancy.address_on(day) if pregnancy else None
    return address


#: Postings longer than this are sets (cheap to change); shorter ones tuples (small).
_SET_FROM = 16
Posting = str | tuple[str, ...] | set[str]


def _added(posting: Posting | None, ref: str) -> Posting:
    """A posting with one more subject: a lone ref, then a tuple, then a set."""
    if posting is None:
        return ref
    if isinstance(posting, str):
        return posting if posting == ref else (posting, ref)
    if isinstance(posting, set):
        posting.add(ref)
        return posting
    if ref in posting:
        return posting
    return (*posting, ref) if len(posting) < _SET_FROM else {*posting, ref}


def _removed(posting: Posting, ref: str) -> Posting | None:
    """A posting without one subject; None when it is left empty."""
    if isinstance(posting, str):
        return None if posting == ref else posting
    if isinstance(posting, set):
        posting.discard(ref)
        return posting or None
    kept = tuple(r for r in posting if r != ref)
    return None if not kept else kept[0] if len(kept) == 1 else kept


def _refs(posting: Posting | None) -> Iterable[str]:
    """The subjects of a posting."""
    if posting is None:
        return ()
    return (posting,) if isinstance(posting, str) else posting


class RegisterIndex:
    """The register held in memory, with an inverted index from blocking key to subject.

    Memory per subject matters (every worker holds the whole register): postings
    are filed under the hash of their key (collisions only add candidates, which
    the matcher rules out), hold the subject ref itself when there is one, a
    tuple when there are a few; a record's keys are worked out again to remove it.
    """

    def __init__(self, records: Iterable[SubjectRecord] = ()) -> None:
        """An index holding `records`."""
        self._records: dict[str, SubjectRecord] = {}
        self._postings: dict[int, Posting] = {}
        self._children: dict[str, Posting] = {}
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
        old = self._records.get(record.subject_ref)
        ref = old.subject_ref if old is not None else sys.intern(record.subject_ref)
        old_keys = record_keys(old) if old is not None else frozenset()
        new_keys = record_keys(record)
        self._unfile(ref, old_keys - new_keys)
        if old is not None:
            self._kinds[old.kind] -= 1
            self._unlink(ref, old)
        postings = self._postings
        for key in new_keys - old_keys:
            slot = hash(key)
            postings[slot] = _added(postings.get(slot), ref)
        self._records[ref] = record
        self._kinds[record.kind] += 1
        if record.from_pregnancy_ref:
            pregnancy = record.from_pregnancy_ref
            self._children[pregnancy] = _added(self._children.get(pregnancy), ref)

    def remove(self, subject_ref: str) -> None:
        """Forget one subject (nothing happens when it is unknown)."""
        record = self._records.pop(subject_ref, None)
        if record is None:
            return
        self._kinds[record.kind] -= 1
        self._unfile(subject_ref, record_keys(record))
        self._unlink(subject_ref, record)

    def _unfile(self, ref: str, keys: Iterable[str]) -> None:
        """Take a subject out of the postings of `keys`."""
        postings = self._postings
        for key in keys:
            slot = hash(key)
            posting = postings.get(slot)
            left = None if posting is None else _removed(posting, ref)
            if left is None:
                postings.pop(slot, None)
            else:
                postings[slot] = left

    def _unlink(self, ref: str, record: SubjectRecord) -> None:
        """Forget that a child record followed its pregnancy."""
        pregnancy = record.from_pregnancy_ref
        if pregnancy and pregnancy in self._children:
            left = _removed(self._children[pregnancy], ref)
            if left is None:
                del self._children[pregnancy]
            else:
                self._children[pregnancy] = left

    def counts_by_kind(self) -> dict[str, int]:
        """How many children and unborn children the register holds."""
        return {kind: count for kind, count in self._kinds.items() if count}

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject (of twins, the first ref), or None."""
        refs = sorted(_refs(self._children.get(pregnancy_ref)))
        return self._records.get(refs[0]) if refs else None

    def refs_for_key(self, key: str) -> frozenset[str]:
        """The subjects filed under one blocking key."""
        return frozenset(_refs(self._postings.get(hash(key))))

    def candidates(self, incident: PoliceIncident) -> list[SubjectRecord]:
        """Subjects sharing a blocking key with the incident, and their linked pregnancy/child.

        A name-alone key filed for more than COMMON_NAME_SUBJECTS subjects is skipped.
        """
        refs: set[str] = set()
        postings = self._postings
        for key in incident_keys(incident):
            posting = postings.get(hash(key))
            if (
                isinstance(posting, set)
                and len(posting) > COMMON_NAME_SUBJECTS
                and key.startswith(NAME_ALONE)
            ):
                continue
            refs.update(_refs(posting))
        refs |= {link for ref in list(refs) for link in self._links(ref)}
        return [self._records[ref] for ref in sorted(refs) if ref in self._records]

    def namesakes(self, given: str | None, family: str | None) -> int:
        """How many families have a carer of this name (1 when none or unknown).

        Counted on the name-alone key of the whole names (a phonetic family name
        and the given name); a pregnancy and the child it became are one family.
        Counts above COMMON_NAME_SUBJECTS are not worked out: that many, plus one.
        """
        g, f = name_key(given), name_key(family)
        if not g or not f:
            return 1
        posting = self._postings.get(hash(f"np:{phonetic(f)}|{g}"))
        refs = tuple(_refs(posting))
        if len(refs) > COMMON_NAME_SUBJECTS:
            return COMMON_NAME_SUBJECTS + 1
        families = set()
        for ref in refs:
            record = self._records.get(ref)
            families.add(record.from_pregnancy_ref or ref if record else ref)
        return max(1, len(families))

    def _links(self, subject_ref: str) -> Iterator[str]:
        """The pregnancy a child came from and the child a pregnancy became."""
        record = self._records.get(subject_ref)
        if record is not None and record.from_pregnancy_ref:
            yield record.from_pregnancy_ref
        yield from _refs(self._children.get(subject_ref))
