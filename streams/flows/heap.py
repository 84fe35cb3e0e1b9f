"""The worker process's heap after a big load: freed memory handed back, live objects frozen.

Folding a register leaves the C heap full of freed gaps; glibc keeps them unless
asked (`malloc_trim`), so resident memory would stay at its loading peak. The
objects then alive (a million records' dicts and lists among them) are moved
out of the garbage collector's reach (`gc.freeze`): a full collection would
otherwise walk every entry of them, a pause of milliseconds mid-decision.
Both act on the whole process, so the worker calls `settle` (after it rebuilt
the register index), never a data structure.
"""

from __future__ import annotations

import ctypes
import gc


def trim() -> None:
    """Return the C heap's free pages to the operating system (glibc only; else nothing)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    libc.malloc_trim(0)


def settle() -> None:
    """Hand freed memory back, then freeze what is alive out of the collector's walks."""
    trim()
    gc.freeze()
