"""An in-memory view over the register with blocking keys, so an incident never scans it all."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterable, Iterator
from datetime import date
from typing import NamedTuple, Protocol

import numpy as np

from schemas.police import INVOLVED_ROLES, PoliceIncident
from streams.domain.matching.blocking import (
    CAPPED,
    COMMON_NAME_SUBJECTS,
    PLACE_KEYS,
    incident_keys,
    phonetic,
    record_keys,
)
from streams.domain.matching.normalise import name_key
from streams.domain.register.codec import decode, encode
from streams.domain.register.postings import MEMTABLE_RECORDS, PackedPostings
from streams.domain.register.records import CarerRecord, Place, SubjectRecord, scope_window
from streams.domain.register.snapshot import IndexState


def key_hash(key: str) -> int:
    """A blocking key's hash, the same in every process (snapshots are read by another).

    Two CRC-32s of the key with different seeds give 40 bits (`postings.HASH_BITS`);
    Python's `hash()` differs between processes unless PYTHONHASHSEED is fixed. Two
    keys that collide only make a few more candidates, never fewer.
    """
    data = key.encode()
    return zlib.crc32(data) | (zlib.crc32(data, _SECOND_SEED) & 0xFF) << 32


#: The seed of `key_hash`'s second CRC-32.
_SECOND_SEED = 0x9E3779B9


class LookedUp(NamedTuple):
    """What one look-up of an incident finds (`RegisterIndex.look_up`)."""

    records: list[SubjectRecord]
    namesakes: dict[tuple[str | None, str | None], int]
    #: Subjects a key of a place found, and the records linked to them.
    placed: frozenset[str]


class RegisterView(Protocol):
    """What `decide` needs from the register: look-ups and the candidates of an incident."""

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, or None."""
        ...

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject (`from_pregnancy_ref`), or None."""
        ...

    def candidates(self, incident: PoliceIncident, day: date | None = None) -> list[SubjectRecord]:
        """The subjects an incident may involve, by blocking keys: a superset of the matches.

        With `day`, the incident day, only subjects that may be in scope on it.
        """
        ...

    def namesakes(self, given: str | None, family: str | None) -> int:
        """How many families have a carer of this name (1 when none or unknown)."""
        ...


class DecisionView:
    """One decision's view of the register: each record read (decoded) at most once.

    A decision reads a candidate, its linked pregnancy or child, and their
    links again while judging; the index holds records as bytes, so the view
    keeps what it read for as long as the decision lasts, and no longer.
    """

    def __init__(self, register: RegisterView) -> None:
        """A view over `register`, empty."""
        self._register = register
        self._records: dict[str, SubjectRecord | None] = {}
        self._children: dict[str, SubjectRecord | None] = {}
        self._namesakes: dict[tuple[str | None, str | None], int] = {}
        self._placed: frozenset[str] | None = None  # None: not known, every subject may be

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, or None."""
        if subject_ref not in self._records:
            self._records[subject_ref] = self._register.get(subject_ref)
        return self._records[subject_ref]

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject, or None."""
        if pregnancy_ref not in self._children:
            child = self._register.child_of_pregnancy(pregnancy_ref)
            if child is not None:
                child = self._records.setdefault(child.subject_ref, child)
            self._children[pregnancy_ref] = child
        return self._children[pregnancy_ref]

    def candidates(self, incident: PoliceIncident, day: date | None = None) -> list[SubjectRecord]:
        """The register's candidates, kept for the rest of the decision.

        From a `RegisterIndex`, the namesakes of the incident's involved persons
        come with them, in the same look-up.
        """
        if isinstance(self._register, RegisterIndex):
            looked = self._register.look_up(incident, day)
            found, self._placed = looked.records, looked.placed
            self._namesakes.update(looked.namesakes)
        else:
            found = self._register.candidates(incident, day)
        for record in found:
            self._records.setdefault(record.subject_ref, record)
        return found

    def shares_place(self, subject_ref: str) -> bool:
        """Whether a subject may live where the incident happened or where one of its
        persons lives: False only when the candidates were looked up in an index and no
        key of a place (`PLACE_KEYS`) found the subject or a record linked to it.

        Every address `compare_addresses` scores above nothing shares such a key with
        the home (`address_keys`), so a subject it is False for has no dwelling to
        compare: `rules.involvement` then compares none.
        """
        return self._placed is None or subject_ref in self._placed

    def namesakes(self, given: str | None, family: str | None) -> int:
        """As the register counts them."""
        known = self._namesakes.get((given, family))
        return self._register.namesakes(given, family) if known is None else known


def _namesake_key(given: str | None, family: str | None) -> str | None:
    """The name-alone key `namesakes` counts on (None without both names)."""
    g, f = name_key(given), name_key(family)
    return f"np:{phonetic(f)}|{g}" if g and f else None


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

    Memory per subject matters (every worker holds the whole register): each
    record is held in its compact form (`streams.domain.register.codec`, the same bytes
    the register changelog carries) and read back only when it is a candidate;
    postings are packed (`streams.domain.register.postings`), filed under the hash of their key
    (a collision only adds candidates, which the matcher rules out).
    """

    def __init__(
        self, records: Iterable[SubjectRecord] = (), memtable_records: int = MEMTABLE_RECORDS
    ) -> None:
        """An index holding `records` (`memtable_records`: see `postings`)."""
        self._postings = PackedPostings(memtable_records)
        self._children: dict[str, Posting] = {}  # pregnancy ref -> the child ref(s) it became
        self._pregnancy_of: dict[str, str] = {}  # child ref -> the pregnancy ref it came from
        self._unborn: set[str] = set()
        for record in records:
            self.upsert(record)

    def __len__(self) -> int:
        """How many subjects the register holds."""
        return len(self._postings)

    def __iter__(self) -> Iterator[SubjectRecord]:
        """Every subject record, in no particular order."""
        return (decode(value) for _, value in self._postings.items())

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, or None."""
        value = self._postings.get(subject_ref)
        return None if value is None else decode(value)

    def holds(self, subject_ref: str, value: bytes) -> bool:
        """Whether the index holds this subject in exactly this compact form (nothing to file)."""
        return self._postings.get(subject_ref) == value

    def upsert(self, record: SubjectRecord, value: bytes | None = None) -> None:
        """Add or replace one subject's record; `value` is its compact form when known."""
        ref = sys.intern(record.subject_ref)
        encoded = encode(record) if value is None else value
        window = scope_window(record, self.child_of_pregnancy(ref))
        self._postings.file(ref, [key_hash(key) for key in record_keys(record)], encoded, window)
        if record.kind == "unborn":
            self._unborn.add(ref)
        else:
            self._unborn.discard(ref)
        before = self._unlink(ref)
        if record.from_pregnancy_ref:
            pregnancy = sys.intern(record.from_pregnancy_ref)
            self._pregnancy_of[ref] = pregnancy
            self._children[pregnancy] = _added(self._children.get(pregnancy), ref)
            self._rewindow(pregnancy)
        if before is not None and before != record.from_pregnancy_ref:
            self._rewindow(before)

    def remove(self, subject_ref: str) -> None:
        """Forget one subject (nothing happens when it is unknown)."""
        self._postings.discard(subject_ref)
        self._unborn.discard(subject_ref)
        pregnancy = self._unlink(subject_ref)
        if pregnancy is not None:
            self._rewindow(pregnancy)

    def ended_by(self, day: int) -> list[str]:
        """The subjects whose scope window ends on or before the day ordinal `day` (retention)."""
        return self._postings.ended_by(day)

    def family(self, subject_ref: str) -> list[str]:
        """A subject with its pregnancy and that pregnancy's children (or its own), sorted."""
        found = {subject_ref, *self._links(subject_ref)}
        found |= {link for ref in list(found) for link in self._links(ref)}
        return sorted(found)

    def compact(self) -> None:
        """Pack every posting into one sorted run (after a rebuild of the whole register)."""
        self._postings.compact()

    def flush(self) -> None:
        """Sort the postings waiting in the memtable into a run.

        The memtable is two Python objects a posting; at a council's rate of register
        events it would take months to fill, and objects kept that long among each
        decision's short-lived ones keep CPython's arenas from being handed back. The
        worker flushes it on a timer (`streams.flows.register`)."""
        self._postings.flush()

    #: Strings whose key hashes tell whether postings filed by another process can be read here.
    KEY_HASH_PROBES = ("dvtrigger", "np:ANT|anna", "d:2025-01-01|ann")

    @classmethod
    def key_hash_fingerprint(cls) -> list[int]:
        """The hashes of `KEY_HASH_PROBES` as this index files keys (snapshot check)."""
        return [key_hash(probe) for probe in cls.KEY_HASH_PROBES]

    def state(self) -> IndexState:
        """What the index holds, copied, for a snapshot (`streams.domain.register.snapshot`)."""
        postings = self._postings.state()
        unborn = self._unborn
        flags = np.fromiter((ref in unborn for ref in postings.refs), np.bool_, len(postings.refs))
        return IndexState(postings, flags, dict(self._pregnancy_of))

    def restore(self, state: IndexState, memtable_records: int = MEMTABLE_RECORDS) -> None:
        """Hold `state` (as `state()` gave it) in place of everything held, reading no record.

        Raises UnusableSnapshot (and holds what it held) when `state` does not fit.
        """
        postings = PackedPostings.restored(state.postings, memtable_records)
        refs = [None if ref is None else sys.intern(ref) for ref in state.postings.refs]
        flags = state.unborn.tolist()
        unborn = {ref for ref, flag in zip(refs, flags, strict=True) if flag and ref}
        pregnancy_of: dict[str, str] = {}
        children: dict[str, Posting] = {}
        for child, pregnancy in state.pregnancy_of.items():
            child, pregnancy = sys.intern(child), sys.intern(pregnancy)
            pregnancy_of[child] = pregnancy
            children[pregnancy] = _added(children.get(pregnancy), child)
        self._postings, self._unborn = postings, unborn
        self._pregnancy_of, self._children = pregnancy_of, children

    def _unlink(self, ref: str) -> str | None:
        """Forget that a child record followed its pregnancy; the pregnancy's ref, if any."""
        pregnancy = self._pregnancy_of.pop(ref, None)
        if pregnancy is not None and pregnancy in self._children:
            left = _removed(self._children[pregnancy], ref)
            if left is None:
                del self._children[pregnancy]
            else:
                self._children[pregnancy] = left
        return pregnancy

    def _rewindow(self, pregnancy_ref: str) -> None:
        """Work out a pregnancy's scope window again: its child (a birth ends it) changed."""
        pregnancy = self.get(pregnancy_ref)
        if pregnancy is not None:
            window = scope_window(pregnancy, self.child_of_pregnancy(pregnancy_ref))
            self._postings.set_window(pregnancy_ref, window)

    def counts_by_kind(self) -> dict[str, int]:
        """How many children and unborn children the register holds."""
        counts = {"child": len(self._postings) - len(self._unborn), "unborn": len(self._unborn)}
        return {kind: count for kind, count in counts.items() if count}

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child record that follows an unborn subject (of twins, the first ref), or None."""
        refs = sorted(_refs(self._children.get(pregnancy_ref)))
        return self.get(refs[0]) if refs else None

    def refs_for_key(self, key: str) -> frozenset[str]:
        """The subjects filed under one blocking key."""
        return frozenset(self._postings.lookup([key_hash(key)])[0])

    def candidates(self, incident: PoliceIncident, day: date | None = None) -> list[SubjectRecord]:
        """Subjects sharing a blocking key with the incident, and their linked pregnancy/child.

        A name-alone or initial-and-year key (`CAPPED`) filed for more than
        COMMON_NAME_SUBJECTS subjects is skipped.
        With `day`, a subject whose scope window (`scope_window`) misses it is
        dropped before its record is read: it cannot be in scope that day.
        """
        return self.look_up(incident, day).records

    def look_up(self, incident: PoliceIncident, day: date | None = None) -> LookedUp:
        """`candidates`, the `namesakes` of each involved person's names, and the subjects
        a key of a place found (with their links), from one look-up.

        One `searchsorted` per run for the whole decision: at a million
        subjects each look-up is a walk of cache misses through the postings.
        """
        keys = list(incident_keys(incident))
        persons = [p for p in incident.persons if p.role in INVOLVED_ROLES]
        names = {(p.given_name, p.family_name) for p in persons}
        named = {name: key for name in names if (key := _namesake_key(*name)) is not None}
        found = self._postings.lookup([key_hash(k) for k in [*keys, *named.values()]])
        refs: set[str] = set()
        placed: set[str] = set()
        for key, filed in zip(keys, found, strict=False):
            if key.startswith(PLACE_KEYS):
                placed.update(filed)
            elif len(filed) > COMMON_NAME_SUBJECTS and key.startswith(CAPPED):
                continue
            refs.update(filed)
        refs |= {link for ref in list(refs) for link in self._links(ref)}
        placed |= {link for ref in list(placed) for link in self._links(ref)}
        kept = refs if day is None else self._postings.within(refs, day.toordinal())
        records = [record for ref in sorted(kept) if (record := self.get(ref)) is not None]
        counts = {name: 1 for name in names}
        counts.update(zip(named, map(self._families, found[len(keys) :]), strict=True))
        return LookedUp(records, counts, frozenset(placed))

    def namesakes(self, given: str | None, family: str | None) -> int:
        """How many families have a carer of this name (1 when none or unknown).

        Counted on the name-alone key of the whole names (a phonetic family name
        and the given name); a pregnancy and the child it became are one family.
        Counts above COMMON_NAME_SUBJECTS are not worked out: that many, plus one.
        """
        key = _namesake_key(given, family)
        return 1 if key is None else self._families(self._postings.lookup([key_hash(key)])[0])

    def _families(self, refs: list[str]) -> int:
        """How many families the refs filed under a name-alone key make (see `namesakes`)."""
        if len(refs) > COMMON_NAME_SUBJECTS:
            return COMMON_NAME_SUBJECTS + 1
        return max(1, len({self._pregnancy_of.get(ref, ref) for ref in refs}))

    def _links(self, subject_ref: str) -> Iterator[str]:
        """The pregnancy a child came from and the child a pregnancy became."""
        pregnancy = self._pregnancy_of.get(subject_ref)
        if pregnancy is not None:
            yield pregnancy
        yield from _refs(self._children.get(subject_ref))
