"""Postings packed in sorted arrays: which subjects each blocking key was filed for.

Every worker holds the whole register, about thirty keys per subject: at a
million subjects, Python sets and dicts of postings cost gigabytes. Here a
posting is one 64-bit integer, the key's hash (`HASH_BITS`) above a record
number (`NUMBER_BITS`), kept the way a log-structured merge tree keeps them:

- new postings go into a small dict (the memtable); past `MEMTABLE_RECORDS`
  records it is sorted into a run (a NumPy array);
- runs of similar size are merged, so there are only a few (about log2 of the
  register's size over the memtable's), each looked up with a binary search;
- a changed record takes a new record number and the old one dies: postings of
  dead numbers are skipped on look-up and dropped on the next merge. When dead
  postings outnumber a third of the live ones, every run is merged into one,
  and the record numbers are dealt again from 0 when dead ones have piled up.

Look-ups batch all keys of an incident in one `searchsorted` per run. Two keys
whose hashes agree in their low 40 bits share a posting: that only adds
candidates, which the matcher rules out (about one key in 50,000 at a million
subjects).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

from streams.domain.register.snapshot import PostingsState, UnusableSnapshot

#: Records whose postings the memtable holds before they are sorted into a run.
MEMTABLE_RECORDS = 4096
#: Two runs are merged when the newer is at least this share of the older's size.
MERGE_RATIO = 0.5
#: All runs are merged into one when dead postings exceed this share of the live ones.
DEAD_SHARE = 1 / 3
#: Bits of a posting for the key's hash and for the record number.
HASH_BITS, NUMBER_BITS = 40, 24
#: Record numbers available: the register holds at most this many subjects.
MAX_NUMBERS = 1 << NUMBER_BITS
_HASH_MASK = (1 << HASH_BITS) - 1
_NUMBER_INT_MASK = MAX_NUMBERS - 1
_NUMBER_MASK = np.uint64(_NUMBER_INT_MASK)
_SHIFT = np.uint64(NUMBER_BITS)

Run = npt.NDArray[np.uint64]


class RegisterFull(RuntimeError):
    """More subjects than record numbers (MAX_NUMBERS)."""


def slot(key_hash: int) -> int:
    """The part of a key's hash a posting keeps."""
    return key_hash & _HASH_MASK


class PackedPostings:
    """Blocking-key hash -> subject refs, packed, with one value (bytes) per ref.

    A ref's postings and value are replaced as a whole (`file`) or dropped (`discard`).
    """

    def __init__(self, memtable_records: int = MEMTABLE_RECORDS) -> None:
        """An empty set of postings; the memtable is sorted into a run past `memtable_records`."""
        self._memtable_limit = max(1, memtable_records)
        self._refs: list[str | None] = []  # record number -> ref (None once dead)
        self._values: list[bytes | None] = []  # record number -> value (None once dead)
        self._number: dict[str, int] = {}  # ref -> its live record number
        self._alive = np.zeros(1024, dtype=np.bool_)
        self._posted = np.zeros(1024, dtype=np.uint16)  # record number -> postings filed
        self._windows = np.zeros((1024, 2), dtype=np.int64)  # record number -> [first, end) days
        self._memtable: dict[int, list[int]] = {}
        self._memtable_records = 0
        self._runs: list[Run] = []
        self._live_postings = 0
        self._dead_postings = 0

    def __len__(self) -> int:
        """How many refs are filed."""
        return len(self._number)

    def __contains__(self, ref: object) -> bool:
        """Whether `ref` is filed."""
        return ref in self._number

    @property
    def postings(self) -> int:
        """Live postings held."""
        return self._live_postings

    @property
    def runs(self) -> int:
        """Sorted runs held (the memtable not counted)."""
        return len(self._runs)

    def nbytes(self) -> int:
        """Bytes held by the runs and the per-record arrays."""
        held = self._alive.nbytes + self._posted.nbytes + self._windows.nbytes
        return held + sum(run.nbytes for run in self._runs)

    def get(self, ref: str) -> bytes | None:
        """The value filed with `ref`, or None."""
        number = self._number.get(ref)
        return None if number is None else self._values[number]

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every live ref with its value, in no particular order."""
        values = self._values
        return ((ref, values[number]) for ref, number in self._number.items())  # type: ignore[misc]

    def window(self, ref: str) -> tuple[int, int] | None:
        """The window filed with `ref` (see `file`), or None."""
        number = self._number.get(ref)
        if number is None:
            return None
        first, end = self._windows[number].tolist()
        return first, end

    def set_window(self, ref: str, window: tuple[int, int]) -> None:
        """Change the window of a filed ref (nothing happens when it is not filed)."""
        number = self._number.get(ref)
        if number is not None:
            self._windows[number] = window

    def ended_by(self, day: int) -> list[str]:
        """The live refs filed with a window ending (exclusive end) on or before `day`."""
        count = len(self._refs)
        ended = self._alive[:count] & (self._windows[:count, 1] <= day)
        refs = self._refs
        return [refs[n] for n in np.flatnonzero(ended).tolist()]  # type: ignore[misc]

    def within(self, refs: Iterable[str], day: int) -> list[str]:
        """The refs among `refs` that are filed with a window holding `day`."""
        number, windows = self._number, self._windows
        kept = []
        for ref in refs:
            n = number.get(ref)
            if n is not None:
                first, end = windows[n].tolist()
                if first <= day < end:
                    kept.append(ref)
        return kept

    def file(
        self,
        ref: str,
        hashes: Iterable[int],
        value: bytes,
        window: tuple[int, int] = (-(2**62), 2**62),
    ) -> None:
        """File `ref` and its value under `hashes`, replacing what it was filed with before.

        `window` is a range of day ordinals [first, end) kept with the ref for `within`.
        """
        self.discard(ref)
        if len(self._refs) >= MAX_NUMBERS:
            self.compact()  # deals the numbers again
            if len(self._refs) >= MAX_NUMBERS:
                raise RegisterFull(f"the register holds {MAX_NUMBERS} subjects, its limit")
        number = len(self._refs)
        self._refs.append(ref)
        self._values.append(value)
        self._number[ref] = number
        if number >= len(self._alive):
            self._alive = np.concatenate([self._alive, np.zeros_like(self._alive)])
            self._posted = np.concatenate([self._posted, np.zeros_like(self._posted)])
            self._windows = np.concatenate([self._windows, np.zeros_like(self._windows)])
        memtable = self._memtable
        slots = {slot(h) for h in hashes}
        for key in slots:
            bucket = memtable.get(key)
            if bucket is None:
                memtable[key] = [number]
            else:
                bucket.append(number)
        self._alive[number] = True
        self._posted[number] = min(len(slots), 65535)
        self._windows[number] = window
        self._live_postings += len(slots)
        self._memtable_records += 1
        if self._memtable_records >= self._memtable_limit:
            self.flush()

    def discard(self, ref: str) -> None:
        """Forget `ref`'s postings and value (nothing happens when it has none)."""
        number = self._number.pop(ref, None)
        if number is None:
            return
        self._refs[number] = self._values[number] = None
        self._alive[number] = False
        count = int(self._posted[number])
        self._live_postings -= count
        self._dead_postings += count

    def flush(self) -> None:
        """Sort the memtable into a run, then merge runs as the size rule says."""
        if not self._memtable:
            return
        sizes = [len(bucket) for bucket in self._memtable.values()]
        keys = np.repeat(np.fromiter(self._memtable.keys(), np.uint64, len(sizes)), sizes)
        numbers = np.fromiter(
            (n for bucket in self._memtable.values() for n in bucket), np.uint64, sum(sizes)
        )
        self._memtable, self._memtable_records = {}, 0
        run = (keys << _SHIFT) | numbers
        run.sort()
        self._runs.append(run)
        if self._dead_postings > self._live_postings * DEAD_SHARE:
            self._merge(len(self._runs))
            return
        while len(self._runs) > 1 and len(self._runs[-1]) >= MERGE_RATIO * len(self._runs[-2]):
            self._merge(2)

    def compact(self) -> None:
        """Everything into one run, dead postings dropped, numbers dealt again from 0."""
        self.flush()
        self._merge(len(self._runs))
        self._renumber()

    def _merge(self, count: int) -> None:
        """Merge the newest `count` runs into one, dropping dead postings."""
        if count < 1:
            return
        merged = np.concatenate(self._runs[-count:])
        live = self._alive[(merged & _NUMBER_MASK).astype(np.intp)]
        self._dead_postings -= len(live) - int(np.count_nonzero(live))
        merged = merged[live]
        merged.sort()
        del self._runs[-count:]
        if len(merged):
            self._runs.append(merged)
        if len(self._runs) <= 1 and 2 * len(self._refs) > 3 * len(self._number):
            self._renumber()

    def _renumber(self) -> None:
        """Deal record numbers again from 0 to the live refs (the memtable must be empty)."""
        if self._memtable or len(self._runs) > 1 or len(self._refs) == len(self._number):
            return
        alive = self._alive[: len(self._refs)]
        new_of = np.cumsum(alive, dtype=np.uint64) - np.uint64(1)
        if self._runs:
            run = self._runs[0]
            old = (run & _NUMBER_MASK).astype(np.intp)
            renumbered = (run & ~_NUMBER_MASK) | new_of[old]
            renumbered.sort()
            self._runs[0] = renumbered
        kept = np.flatnonzero(alive).tolist()
        self._refs = [self._refs[n] for n in kept]
        self._values = [self._values[n] for n in kept]
        self._number = {ref: n for n, ref in enumerate(self._refs)}  # type: ignore[misc]
        size = max(1024, 2 * len(kept))
        posted, windows = self._posted[kept], self._windows[kept]
        self._alive = np.zeros(size, dtype=np.bool_)
        self._alive[: len(kept)] = True
        self._posted = np.zeros(size, dtype=np.uint16)
        self._posted[: len(kept)] = posted
        self._windows = np.zeros((size, 2), dtype=np.int64)
        self._windows[: len(kept)] = windows

    def state(self) -> PostingsState:
        """What these postings hold, copied (for a snapshot): runs are never changed in place."""
        memtable = self._memtable
        sizes = [len(bucket) for bucket in memtable.values()]
        keys = np.repeat(np.fromiter(memtable.keys(), np.uint64, len(sizes)), sizes)
        numbers = np.fromiter((n for b in memtable.values() for n in b), np.uint64, sum(sizes))
        pending = (keys << _SHIFT) | numbers
        pending.sort()
        runs = [*self._runs, pending] if len(pending) else list(self._runs)
        count = len(self._refs)
        posted, windows = self._posted[:count].copy(), self._windows[:count].copy()
        return PostingsState(list(self._refs), list(self._values), posted, windows, runs)

    @classmethod
    def restored(
        cls, state: PostingsState, memtable_records: int = MEMTABLE_RECORDS
    ) -> PackedPostings:
        """Postings holding `state` (from `state()`); its runs are used as they are (read-only)."""
        count = len(state.refs)
        if count > MAX_NUMBERS or len(state.values) != count:
            raise UnusableSnapshot("the postings' records do not fit")
        for run in state.runs:
            if len(run) and int((run & _NUMBER_MASK).max()) >= count:
                raise UnusableSnapshot("a posting names a record that is not held")
        postings = cls(memtable_records)
        postings._refs, postings._values = list(state.refs), list(state.values)
        postings._number = {ref: n for n, ref in enumerate(state.refs) if ref is not None}
        size = max(1024, 2 * count)
        postings._alive = np.zeros(size, dtype=np.bool_)
        postings._alive[:count] = [ref is not None for ref in state.refs]
        postings._posted = np.zeros(size, dtype=np.uint16)
        postings._posted[:count] = state.posted
        postings._windows = np.zeros((size, 2), dtype=np.int64)
        postings._windows[:count] = state.windows
        postings._runs = list(state.runs)
        alive = postings._alive[:count]
        postings._live_postings = int(postings._posted[:count][alive].sum())
        postings._dead_postings = sum(map(len, state.runs)) - postings._live_postings
        return postings

    def lookup(self, hashes: Sequence[int]) -> list[list[str]]:
        """The live refs filed under each hash, in the order of `hashes`."""
        found: list[list[str]] = [[] for _ in hashes]
        if not hashes:
            return found
        refs = self._refs
        slots = [h & _HASH_MASK for h in hashes]
        if self._runs:
            positions: dict[int, list[int]] = {}
            for i, key in enumerate(slots):
                positions.setdefault(key, []).append(i)
            ordered = sorted(positions)  # sorted needles: each search starts where the last ended
            wanted = np.array(ordered, dtype=np.uint64)
            first = wanted << _SHIFT
            for run in self._runs:
                at = run.searchsorted(first)
                landed = run.take(at, mode="clip")
                for j in np.flatnonzero((landed >> _SHIFT) == wanted).tolist():
                    start, key = int(at[j]), ordered[j]
                    if start + 1 < len(run) and int(run[start + 1]) >> NUMBER_BITS == key:
                        end = int(run.searchsorted(first[j] | _NUMBER_MASK, "right"))
                        numbers = (run[start:end] & _NUMBER_MASK).tolist()
                    else:
                        numbers = [int(landed[j]) & _NUMBER_INT_MASK]
                    hit = [ref for n in numbers if (ref := refs[n]) is not None]
                    for i in positions[key]:
                        found[i].extend(hit)
        memtable = self._memtable
        if memtable:
            for i, key in enumerate(slots):
                bucket = memtable.get(key)
                if bucket is not None:
                    found[i].extend(ref for n in bucket if (ref := refs[n]) is not None)
        return found
