"""A snapshot of the register index as bytes: what a worker reloads instead of the changelog.

A snapshot holds the index's state (`IndexState`: the packed postings, the
records' compact bytes, the links of pregnancies and children) with the
changelog offsets it reflects. A worker that loads one reads the changelog
only from those offsets on. Layout, every section padded to 8 bytes so its
arrays are read in place (memory-mapped):

    MAGIC | header length (u32) | header (JSON) | sections ... | BLAKE2b of all before

The header names the changelog topic, the offsets, a mark of the changelog
record at each offset (the loader checks that record again: a topic made anew
does not hold it), a fingerprint of the key hash the postings were filed
under (`index.key_hash`: a snapshot of another hash is refused), the time
it was made, and each section's length. `decode` refuses
anything it cannot trust with `UnusableSnapshot`; the caller then rebuilds
from the whole changelog.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

MAGIC = b"DVRSNAP\x01"
#: The layout's version: a snapshot of another version is refused.
FORMAT = 1
_DIGEST = 32
_ALIGN = 8


class UnusableSnapshot(ValueError):
    """A snapshot that must not be used: damaged, stale or made for something else."""


@dataclass(frozen=True)
class PostingsState:
    """What `PackedPostings` holds, by record number (a dead number: ref and value None)."""

    refs: list[str | None]
    values: list[bytes | None]
    posted: npt.NDArray[np.uint16]
    windows: npt.NDArray[np.int64]  # shape (records, 2)
    runs: list[npt.NDArray[np.uint64]]


@dataclass(frozen=True)
class IndexState:
    """What `RegisterIndex` holds: its postings, which subjects are unborn, and links."""

    postings: PostingsState
    unborn: npt.NDArray[np.bool_]  # by record number
    pregnancy_of: dict[str, str]  # child ref -> the pregnancy ref it came from


@dataclass(frozen=True)
class Mark:
    """The changelog record a snapshot reflects last, in one partition."""

    offset: int
    digest: str


@dataclass(frozen=True)
class Expect:
    """What a loaded snapshot must agree with to be used."""

    topic: str
    key_hash: Sequence[int]
    now: float
    max_age_s: float


@dataclass(frozen=True)
class Snapshot:
    """A decoded snapshot: the index's state and where in the changelog it stands."""

    state: IndexState
    marks: dict[int, Mark]  # partition -> the last record reflected
    created: float


def mark_of(offset: int, key: bytes | None, value: bytes | None) -> Mark:
    """The mark of one changelog record: its offset and a digest of its key and value."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(len(key or b"").to_bytes(4, "big") + (key or b""))
    digest.update(b"\x00" if value is None else b"\x01" + value)
    return Mark(offset, digest.hexdigest())


def _pad(size: int) -> bytes:
    return b"\x00" * (-size % _ALIGN)


#: Small parts (refs, records) written together in batches of this many.
_BATCH = 4096
Chunks = list[bytes | memoryview]


def _blob(parts: Sequence[bytes | str | None]) -> tuple[npt.NDArray[np.uint32], Iterator[bytes]]:
    """The lengths of `parts` (None: empty) and their bytes, in batches (never all at once)."""
    lengths = np.fromiter(
        (len(p.encode()) if isinstance(p, str) else len(p or b"") for p in parts),
        np.uint32,
        len(parts),
    )

    def batches() -> Iterator[bytes]:
        for at in range(0, len(parts), _BATCH):
            batch = parts[at : at + _BATCH]
            yield b"".join(p.encode() if isinstance(p, str) else (p or b"") for p in batch)

    return lengths, batches()


def _array(values: npt.NDArray[Any]) -> memoryview:
    return np.ascontiguousarray(values).data.cast("B")


def _sections(state: IndexState) -> Iterator[tuple[str, int, Iterable[bytes | memoryview]]]:
    """Each section's name, size and bytes (produced as they are written)."""
    postings = state.postings
    count = len(postings.refs)
    for name, plural, parts in (
        ("ref", "refs", postings.refs),
        ("value", "values", postings.values),
        ("child", "children", list(state.pregnancy_of)),
        ("pregnancy", "pregnancies", list(state.pregnancy_of.values())),
    ):
        lengths, data = _blob(parts)
        yield f"{name}_lengths", lengths.nbytes, [_array(lengths)]
        yield plural, int(lengths.sum(dtype=np.uint64)), data
    alive = np.fromiter((ref is not None for ref in postings.refs), np.bool_, count)
    yield "alive", alive.nbytes, [_array(alive)]
    unborn = np.asarray(state.unborn[:count], dtype=np.bool_)
    yield "unborn", unborn.nbytes, [_array(unborn)]
    posted = np.asarray(postings.posted[:count], dtype=np.uint16)
    yield "posted", posted.nbytes, [_array(posted)]
    windows = np.asarray(postings.windows[:count], dtype=np.int64)
    yield "windows", windows.nbytes, [_array(windows)]
    for run in postings.runs:
        yield "run", run.nbytes, [_array(np.asarray(run, dtype=np.uint64))]


def encode(
    state: IndexState, topic: str, marks: dict[int, Mark], key_hash: Sequence[int], created: float
) -> Iterator[bytes | memoryview]:
    """The snapshot of `state` as chunks of bytes, the last one the digest of all before.

    Records and postings are not copied into one buffer: the chunks are made as they
    are asked for (a million subjects' snapshot is about 600 MB).
    """
    sections = list(_sections(state))
    header = {
        "format": FORMAT,
        "topic": topic,
        "marks": {str(p): [m.offset, m.digest] for p, m in marks.items()},
        "key_hash": list(key_hash),
        "created": created,
        "records": len(state.postings.refs),
        "sections": [[name, size] for name, size, _ in sections],
    }
    head = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.blake2b(digest_size=_DIGEST)
    first = MAGIC + len(head).to_bytes(4, "big") + head
    for chunk in _padded([(len(first), [first]), *((size, data) for _, size, data in sections)]):
        digest.update(chunk)
        yield chunk
    yield digest.digest()


def _padded(
    sections: list[tuple[int, Iterable[bytes | memoryview]]],
) -> Iterator[bytes | memoryview]:
    for size, data in sections:
        yield from data
        if -size % _ALIGN:
            yield _pad(size)


def decode(buffer: Any, expect: Expect) -> Snapshot:
    """The snapshot in `buffer` (bytes, or a memory map: arrays are read in place).

    Raises UnusableSnapshot when it is damaged, of another format, for another
    topic, filed under another key hash, or older than `expect.max_age_s`.
    """
    view = memoryview(buffer)
    header, start = _header(view)
    _check_digest(view)
    if header.get("format") != FORMAT:
        raise UnusableSnapshot("another snapshot format")
    if header.get("topic") != expect.topic:
        raise UnusableSnapshot("a snapshot of another changelog topic")
    if header.get("key_hash") != list(expect.key_hash):
        raise UnusableSnapshot("postings filed under another key hash")
    created = float(header["created"])
    if not 0 <= expect.now - created <= expect.max_age_s:
        raise UnusableSnapshot("the snapshot is too old (or from the future)")
    marks = {int(p): Mark(int(o), str(d)) for p, (o, d) in header["marks"].items()}
    if not marks:
        raise UnusableSnapshot("the snapshot reflects no changelog record")
    sections = _split(view, start, header["sections"], len(view) - _DIGEST)
    try:
        state = _state(sections, int(header["records"]))
    except UnusableSnapshot:
        raise
    except ValueError:
        raise UnusableSnapshot("a section of the snapshot is unreadable") from None
    return Snapshot(state, marks, created)


def _header(view: memoryview) -> tuple[dict[str, Any], int]:
    if len(view) < len(MAGIC) + 4 + _DIGEST or bytes(view[: len(MAGIC)]) != MAGIC:
        raise UnusableSnapshot("not a register snapshot")
    size = int.from_bytes(view[len(MAGIC) : len(MAGIC) + 4], "big")
    end = len(MAGIC) + 4 + size
    if end > len(view) - _DIGEST:
        raise UnusableSnapshot("the snapshot is cut short")
    try:
        header = json.loads(bytes(view[len(MAGIC) + 4 : end]))
    except ValueError:
        raise UnusableSnapshot("the snapshot's header is unreadable") from None
    if not isinstance(header, dict):
        raise UnusableSnapshot("the snapshot's header is unreadable")
    return header, end + len(_pad(end))


def _check_digest(view: memoryview) -> None:
    body = view[: len(view) - _DIGEST]
    digest = hashlib.blake2b(body, digest_size=_DIGEST).digest()
    if digest != bytes(view[len(view) - _DIGEST :]):
        raise UnusableSnapshot("the snapshot's digest does not match (damaged)")


def _split(
    view: memoryview, start: int, layout: list[list[Any]], end: int
) -> list[tuple[str, memoryview]]:
    sections, at = [], start
    for name, size in layout:
        if at + int(size) > end:
            raise UnusableSnapshot("the snapshot is cut short")
        sections.append((str(name), view[at : at + int(size)]))
        at += int(size) + len(_pad(int(size)))
    if at != end:
        raise UnusableSnapshot("the snapshot's sections do not fill it")
    return sections


def _strings(lengths: npt.NDArray[np.uint32], blob: memoryview) -> Iterator[bytes]:
    if int(lengths.sum(dtype=np.uint64)) != len(blob):
        raise UnusableSnapshot("a section's lengths do not add up")
    ends = np.cumsum(lengths, dtype=np.uint64).tolist()
    begin = 0
    for end in ends:
        yield bytes(blob[begin:end])
        begin = end


def _state(sections: list[tuple[str, memoryview]], count: int) -> IndexState:
    named = {name: data for name, data in sections if name != "run"}
    try:
        ref_lengths = np.frombuffer(named["ref_lengths"], np.uint32)
        value_lengths = np.frombuffer(named["value_lengths"], np.uint32)
        alive = np.frombuffer(named["alive"], np.bool_)
        unborn = np.frombuffer(named["unborn"], np.bool_).copy()
        posted = np.frombuffer(named["posted"], np.uint16).copy()
        windows = np.frombuffer(named["windows"], np.int64).reshape(-1, 2).copy()
        runs = [np.frombuffer(data, np.uint64) for name, data in sections if name == "run"]
        child_lengths = np.frombuffer(named["child_lengths"], np.uint32)
        pregnancy_lengths = np.frombuffer(named["pregnancy_lengths"], np.uint32)
        children = [c.decode() for c in _strings(child_lengths, named["children"])]
        pregnancies = [p.decode() for p in _strings(pregnancy_lengths, named["pregnancies"])]
    except (KeyError, ValueError, UnicodeDecodeError):
        raise UnusableSnapshot("a section of the snapshot is missing or unreadable") from None
    sizes = {len(a) for a in (ref_lengths, value_lengths, alive, unborn, posted, windows)}
    if sizes != {count}:
        raise UnusableSnapshot("the snapshot's sections disagree on the number of records")
    live = alive.tolist()
    refs_raw = _strings(ref_lengths, named["refs"])
    refs = [r.decode() if ok else None for r, ok in zip(refs_raw, live, strict=True)]
    values_raw = _strings(value_lengths, named["values"])
    values = [v if ok else None for v, ok in zip(values_raw, live, strict=True)]
    if len(children) != len(pregnancies):
        raise UnusableSnapshot("the snapshot's links disagree")
    pregnancy_of = dict(zip(children, pregnancies, strict=True))
    postings = PostingsState(refs, values, posted, windows, runs)
    return IndexState(postings, unborn, pregnancy_of)
