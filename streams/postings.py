"""Postings packed in sorted arrays: which subjects each blocking key was filed for.

Every worker holds the whole register, about thirty keys per subject: at a
million subjects, Python sets and dicts of postings cost gigabytes. Here a
posting is 12 bytes, a 64-bit key hash and a 32-bit record number, kept the
way a log-structured merge tree keeps them:

- new postings go into a small dict (the memtable); past `MEMTABLE_RECORDS`
  records it is sorted into a run (two NumPy arrays, keys and record numbers);
- runs of similar size are merged, so there are only a few (about log2 of the
  register's size over the memtable's), each looked up with a binary search;
- a changed record takes a new record number and the old one dies: postings of
  dead numbers are skipped on look-up and dropped on the next merge. When dead
  postings outnumber a third of the live ones, every run is merged into one.

Look-ups batch all keys of an incident in one `searchsorted` per run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import numpy.typing as npt

#: Records whose postings the memtable holds before they are sorted into a run.
MEMTABLE_RECORDS = 4096
#: Two runs are merged when the newer is at least this share of the older's size.
MERGE_RATIO = 0.5
#: All runs are merged into one when dead postings exceed this share of the live ones.
DEAD_SHARE = 1 / 3

Keys = npt.NDArray[np.int64]
Numbers = npt.NDArray[np.uint32]


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
        self._memtable: dict[int, list[int]] = {}
        self._memtable_records = 0
        self._runs: list[tuple[Keys, Numbers]] = []
        self._live_postings = 0
        self._dead_postings = 0

    def __len__(self) -> int:
        """How many refs have postings."""
        return len(self._number)

    @property
    def postings(self) -> int:
        """Live postings held."""
        return self._live_postings

    @property
    def runs(self) -> int:
        """Sorted runs held (the memtable not counted)."""
        return len(self._runs)

    def nbytes(self) -> int:
        """Bytes held by the runs' arrays and the per-record arrays."""
        held = self._alive.nbytes + self._posted.nbytes
        return held + sum(keys.nbytes + numbers.nbytes for keys, numbers in self._runs)

    def __contains__(self, ref: object) -> bool:
        """Whether `ref` is filed."""
        return ref in self._number

    def get(self, ref: str) -> bytes | None:
        """The value filed with `ref`, or None."""
        number = self._number.get(ref)
        return None if number is None else self._values[number]

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every live ref with its value, in no particular order."""
        values = self._values
        return ((ref, values[number]) for ref, number in self._number.items())  # type: ignore[misc]

    def file(self, ref: str, hashes: Iterable[int], value: bytes) -> None:
        """File `ref` and its value under `hashes`, replacing what it was filed with before."""
        self.discard(ref)
        number = len(self._refs)
        self._refs.append(ref)
        self._values.append(value)
        self._number[ref] = number
        if number >= len(self._alive):
            self._alive = np.concatenate([self._alive, np.zeros_like(self._alive)])
            self._posted = np.concatenate([self._posted, np.zeros_like(self._posted)])
        memtable, count = self._memtable, 0
        for slot in set(hashes):
            bucket = memtable.get(slot)
            if bucket is None:
                memtable[slot] = [number]
            else:
                bucket.append(number)
            count += 1
        self._alive[number] = True
        self._posted[number] = min(count, 65535)
        self._live_postings += count
        self._memtable_records += 1
        if self._memtable_records >= self._memtable_limit:
            self.flush()

    def discard(self, ref: str) -> None:
        """Forget `ref`'s postings (nothing happens when it has none)."""
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
        keys = np.repeat(np.fromiter(self._memtable.keys(), np.int64, len(sizes)), sizes)
        numbers = np.fromiter(
            (n for bucket in self._memtable.values() for n in bucket), np.uint32, int(sum(sizes))
        )
        self._memtable, self._memtable_records = {}, 0
        order = np.argsort(keys, kind="stable")
        self._runs.append((keys[order], numbers[order]))
        if self._dead_postings > self._live_postings * DEAD_SHARE:
            self._merge(len(self._runs))
            return
        while len(self._runs) > 1 and len(self._runs[-1][0]) >= MERGE_RATIO * len(
            self._runs[-2][0]
        ):
            self._merge(2)

    def compact(self) -> None:
        """Everything into one run, dead postings dropped (after a bulk load, say)."""
        self.flush()
        if len(self._runs) > 1 or self._dead_postings:
            self._merge(len(self._runs))

    def _merge(self, count: int) -> None:
        """Merge the newest `count` runs into one, dropping dead postings."""
        merged = self._runs[-count:]
        keys = np.concatenate([k for k, _ in merged])
        numbers = np.concatenate([n for _, n in merged])
        live = self._alive[numbers]
        self._dead_postings -= len(live) - int(np.count_nonzero(live))
        keys, numbers = keys[live], numbers[live]
        order = np.argsort(keys, kind="stable")
        del self._runs[-count:]
        if len(order):
            self._runs.append((keys[order], numbers[order]))

    def lookup(self, hashes: Sequence[int]) -> list[list[str]]:
        """The live refs filed under each hash, in the order of `hashes`."""
        found: list[list[str]] = [[] for _ in hashes]
        if not hashes:
            return found
        refs = self._refs
        if self._runs:
            query = np.fromiter(hashes, np.int64, len(hashes))
            for keys, numbers in self._runs:
                lo = np.searchsorted(keys, query, "left")
                hi = np.searchsorted(keys, query, "right")
                for i in np.flatnonzero(hi > lo).tolist():
                    out = found[i]
                    for n in numbers[lo[i] : hi[i]].tolist():
                        ref = refs[n]
                        if ref is not None:
                            out.append(ref)
        memtable = self._memtable
        for i, slot in enumerate(hashes):
            bucket = memtable.get(slot)
            if bucket is not None:
                found[i].extend(ref for n in bucket if (ref := refs[n]) is not None)
        return found
