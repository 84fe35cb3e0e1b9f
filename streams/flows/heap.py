"""The worker process's heap after a big load: freed memory handed back, live objects frozen,
and the oldest generation collected on a timer rather than in the middle of a decision.

Folding a register leaves the C heap full of freed gaps; glibc keeps them unless
asked (`malloc_trim`), so resident memory would stay at its loading peak. The
objects then alive (a million records' dicts and lists among them) are moved
out of the garbage collector's reach (`gc.freeze`): a full collection would
otherwise walk every entry of them, a pause of milliseconds mid-decision.

What decisions leave alive afterwards (the matcher's caches of names and
identities: about 250,000 objects after a few thousand decisions) is walked by
every full collection, and in a heap of a million subjects each object is a
cache miss: about 0.7 µs each, a pause of 150-200 ms. CPython starts one when
enough objects have survived two collections, which happens in whichever
decision allocates last, so it lands in the p99 of decisions. After `settle`
the automatic collector keeps its two young generations (their pauses are
short: they walk at most a few thousand objects) and the oldest is left to
`collect`, which the worker runs on a timer between events
(`FULL_COLLECTION_INTERVAL_S`): cyclic garbage still goes, at a time of the
worker's choosing.

`collect` then trims the C heap too, and the worker's timer trims it even before
the register is settled (a worker that started with an empty register never is).
A worker that runs for months frees as much as it allocates (subjects and
incidents purged, index runs merged), and glibc keeps the freed pages between live
blocks: in the time-compressed soak the brk heap's resident part grew from 63 to
86 MiB in ten simulated months untrimmed, and stayed near 52 MiB trimmed once a
minute (a few milliseconds).

These act on the whole process, so the worker calls `settle` (after it rebuilt
or loaded the register index), never a data structure.
"""

from __future__ import annotations

import ctypes
import gc
import time

#: Seconds between the worker's full collections (`collect`) once the register is settled.
FULL_COLLECTION_INTERVAL_S = 60.0
#: A threshold for the oldest generation that allocation counts never reach.
_NEVER = 1 << 30


def trim() -> None:
    """Return the C heap's free pages to the operating system (glibc only; else nothing)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def settle() -> None:
    """Hand freed memory back, freeze what is alive out of the collector's walks, and leave
    full collections to `collect`."""
    trim()
    gc.freeze()
    hold_full_collections()


def hold_full_collections() -> None:
    """Keep the automatic collector to its young generations: full collections only by `collect`.

    The young generations' thresholds are kept as they are (CPython's defaults, or
    what the process set).
    """
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, _NEVER)


def full_collections_held() -> bool:
    """Whether automatic collections leave the oldest generation alone (`hold_full_collections`)."""
    return gc.get_threshold()[2] >= _NEVER


def collect() -> float:
    """Collect every generation now (cyclic garbage included), then hand the C heap's free
    pages back (`trim`); the seconds it took."""
    started = time.perf_counter()
    gc.collect()
    trim()
    return time.perf_counter() - started
