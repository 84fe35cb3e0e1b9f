"""Loaded by a worker process a memory bench traces (`python -m tests.bench.soak --trace DIR`).

With `DVTRIGGER_MEMTRACE_DIR` set, and `DVTRIGGER_MEMTRACE_ROLE` (if set) among the
process's arguments, it starts a thread that answers requests the bench leaves in
that folder. For `<name>.request` it writes `<name>.json`: live objects by type (from
the garbage collector), the blocks Python's allocator holds, glibc's heap figures
(`mallinfo2`: in use, free, mapped) and the process's resident memory by kind of
mapping (`/proc/self/smaps`: glibc's brk heap, other anonymous memory, which holds CPython's
object arenas and glibc's mapped blocks, and files), with the raw reports beside it:
`<name>.pymalloc.txt` (CPython's pools by size class) and `<name>.malloc_info.xml`
(glibc's arenas). With `DVTRIGGER_MEMTRACE_FRAMES` above 0
the first request also starts tracemalloc with that many frames, and each request
writes `<name>.snapshot` too (tracing slows a worker tenfold, so it starts late).
Then it removes the request. Nothing else in the process changes.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _heap() -> dict[str, int]:
    """glibc's heap: bytes in use, free but kept, and mapped on their own (or {})."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _Mallinfo2
        info = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {
        "heap_in_use": info.uordblks,
        "heap_free": info.fordblks,
        "heap_arena": info.arena,
        "heap_mmapped": info.hblkhd,
    }


def _resident() -> dict[str, int]:
    """Resident bytes by kind of mapping, from /proc/self/smaps (or {})."""
    try:
        text = Path("/proc/self/smaps").read_text(encoding="ascii", errors="replace")
    except OSError:
        return {}
    out = {"rss_heap": 0, "rss_anon": 0, "rss_files": 0}
    kind = "rss_anon"
    for line in text.splitlines():
        head = line.split()
        if not head:
            continue
        if "-" in head[0] and not head[0].endswith(":"):  # a mapping's first line
            path = head[5] if len(head) > 5 else ""
            if path == "[heap]":
                kind = "rss_heap"
            elif path.startswith("/"):
                kind = "rss_files"
            else:
                kind = "rss_anon"
        elif head[0] == "Rss:":
            out[kind] += int(head[1]) * 1024
    return out


def _arenas(folder: Path, name: str) -> dict[str, int]:
    """glibc's figures over every arena (`malloc_info`; mallinfo2 sees the main one only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.fopen.restype = ctypes.c_void_p
        libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
        libc.fclose.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):
        return {}
    path = folder / f"{name}.malloc_info.xml"  # kept: per-arena figures, month by month
    stream = libc.fopen(str(path).encode(), b"w")
    if not stream:
        return {}
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    text = path.read_text(encoding="ascii")
    tail = text[text.rfind("</heap>") :]  # the totals follow the last arena
    out = {"glibc_arenas": text.count("<heap nr=")}
    for kind, key in (("fast", "glibc_free_fast"), ("rest", "glibc_free"), ("mmap", "glibc_mmap")):
        found = re.search(rf'<total type="{kind}" count="\d+" size="(\d+)"', tail)
        if found:
            out[key] = int(found.group(1))
    for kind in ("current", "max"):
        found = re.search(rf'<system type="{kind}" size="(\d+)"', tail)
        if found:
            out[f"glibc_system_{kind}"] = int(found.group(1))
    return out


def _pymalloc(folder: Path, name: str) -> dict[str, int]:
    """CPython's object allocator (`sys._debugmallocstats`, written to fd 2, caught in a file).

    For the moment it runs, whatever the process writes to its standard error goes
    to that file too: this is a bench's diagnostic, not a worker's.
    """
    path = folder / f"{name}.pymalloc.txt"  # kept: pools by size class, month by month
    saved = os.dup(2)
    try:
        with path.open("wb") as out:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    out = {}
    for line in path.read_text(encoding="ascii", errors="replace").splitlines():
        found = re.match(
            r"# (arenas allocated current|bytes in allocated blocks|bytes in"
            r" available blocks|bytes lost to pool headers|bytes lost to quantization"
            r"|bytes lost to arena alignment)\s*=\s*([\d,]+)",
            line,
        )
        if found:
            key = "pymalloc_" + found.group(1).replace(" ", "_")
            out[key] = int(found.group(2).replace(",", ""))
    return out


def _lists(sample: int = 100) -> dict[str, object]:
    """Lists by length, and what holds a sample of them: the commonest long-lived object."""
    lists = [o for o in gc.get_objects() if type(o) is list]
    lengths = Counter(min(len(x), 10) for x in lists)
    holders: Counter[str] = Counter()
    for x in lists[:: max(1, len(lists) // sample)][:sample]:
        for holder in gc.get_referrers(x):
            if holder is not lists:
                holders[f"{type(holder).__module__}.{type(holder).__qualname__}"] += 1
                if isinstance(holder, dict) and len(holder) > 1000:
                    holders[f"  big dict of {len(holder)}"] += 1
    return {"lengths": dict(lengths), "holders": dict(holders.most_common(20))}


def _dump(folder: Path, name: str) -> None:
    """One count of live objects by type (and, when tracing, a snapshot), named `name`."""
    frames = int(os.environ.get("DVTRIGGER_MEMTRACE_FRAMES", "0"))
    if frames > 0 and not tracemalloc.is_tracing():
        tracemalloc.start(frames)
    gc.collect()
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot()
        snapshot.dump(str(folder / f"{name}.snapshot.part"))
        os.replace(folder / f"{name}.snapshot.part", folder / f"{name}.snapshot")
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    traced, peak = tracemalloc.get_traced_memory()
    body = {
        "traced": traced,
        "peak": peak,
        "python_blocks": sys.getallocatedblocks(),
        **_heap(),
        **_resident(),
        **_arenas(folder, name),
        **_pymalloc(folder, name),
        "types": dict(types.most_common(300)),
        "lists": _lists(),
    }
    (folder / f"{name}.json.part").write_text(json.dumps(body), encoding="utf-8")
    os.replace(folder / f"{name}.json.part", folder / f"{name}.json")


def _watch(folder: Path) -> None:
    """Answer each `<name>.request` in `folder`, once a second."""
    while True:
        for request in sorted(folder.glob("*.request")):
            try:
                _dump(folder, request.stem)
            finally:
                request.unlink(missing_ok=True)
        time.sleep(1.0)


def _start() -> None:
    folder = os.environ.get("DVTRIGGER_MEMTRACE_DIR")
    role = os.environ.get("DVTRIGGER_MEMTRACE_ROLE")
    if not folder or (role and role not in sys.argv):
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    threading.Thread(target=_watch, args=(Path(folder),), name="memtrace", daemon=True).start()


_start()
