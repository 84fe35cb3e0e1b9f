"""Where a traced worker's memory went between two moments of a bench.

`python -m tests.bench.memtrace DIR [FIRST LAST] [--top 25]`

A bench started with `--trace DIR` (`tests.bench.soak`) runs its decide worker with
`tests/support/memtrace/sitecustomize.py` loaded: each time the bench asks
(`request`), a count of live objects by type, Python's allocated blocks and glibc's
heap figures are written to DIR, and with `--trace-frames` above 0 a tracemalloc
snapshot too. With DIR alone this prints those figures, one line per request; with
FIRST and LAST it compares two: which types of object there are more of and, when
traced, what grew by line and by traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path

#: The folder whose sitecustomize a traced worker loads (put on its PYTHONPATH).
SHIM = Path(__file__).resolve().parents[1] / "support" / "memtrace"


def env(folder: Path, role: str, frames: int = 0) -> dict[str, str]:
    """The settings that make the worker of `role` traced, answering requests in `folder`."""
    return {
        "PYTHONPATH": str(SHIM),
        "DVTRIGGER_MEMTRACE_DIR": str(folder.resolve()),
        "DVTRIGGER_MEMTRACE_ROLE": role,
        "DVTRIGGER_MEMTRACE_FRAMES": str(frames),
    }


def request(folder: Path, name: str, timeout: float = 300.0) -> dict[str, object]:
    """Ask the traced worker for a snapshot named `name`; wait for it; its summary."""
    (folder / f"{name}.request").write_text("", encoding="ascii")
    answer = folder / f"{name}.json"
    deadline = time.monotonic() + timeout
    while not answer.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"no memory snapshot {name} in {folder}")
        time.sleep(0.5)
    return dict(json.loads(answer.read_text(encoding="utf-8")))


def compare(folder: Path, first: str, last: str, top: int) -> str:
    """What grew from `first` to `last`: object types and, when traced, lines and tracebacks."""
    lines = []
    if (folder / f"{first}.snapshot").exists() and (folder / f"{last}.snapshot").exists():
        old = tracemalloc.Snapshot.load(str(folder / f"{first}.snapshot"))
        new = tracemalloc.Snapshot.load(str(folder / f"{last}.snapshot"))
        filters = [tracemalloc.Filter(False, tracemalloc.__file__)]
        old, new = old.filter_traces(filters), new.filter_traces(filters)
        lines.append(f"=== grown from {first} to {last}, by line ===")
        lines += [str(s) for s in new.compare_to(old, "lineno")[:top]]
        lines.append(f"=== by traceback (top {min(top, 10)}) ===")
        for stat in new.compare_to(old, "traceback")[: min(top, 10)]:
            lines.append(f"{stat.size_diff / 2**20:+.2f} MiB, {stat.count_diff:+,} blocks")
            lines += [f"    {frame}" for frame in stat.traceback.format()]
    lines.append(f"=== live objects by type, {first} to {last}: most grown ===")
    before = json.loads((folder / f"{first}.json").read_text(encoding="utf-8"))
    after = json.loads((folder / f"{last}.json").read_text(encoding="utf-8"))
    grown = {k: v - before["types"].get(k, 0) for k, v in after["types"].items()}
    for name, diff in sorted(grown.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{diff:+12,} {after['types'][name]:12,}  {name}")
    lines.append(f"traced {before['traced'] / 2**20:.1f} -> {after['traced'] / 2**20:.1f} MiB")
    return "\n".join(lines)


#: The figures `figures` prints from each request's summary: (key, title, divisor).
FIGURES = (
    ("python_blocks", "py blocks", 1),
    ("pymalloc_bytes_in_allocated_blocks", "py used", 2**20),
    ("pymalloc_arenas_allocated_current", "py arenas", 1),
    ("glibc_arenas", "c arenas", 1),
    ("glibc_system_current", "c system", 2**20),
    ("glibc_free", "c free", 2**20),
    ("glibc_mmap", "c mmap", 2**20),
    ("rss_heap", "rss brk", 2**20),
    ("rss_anon", "rss anon", 2**20),
    ("rss_files", "rss files", 2**20),
)


def figures(folder: Path) -> str:
    """One line per request in `folder` (MiB but for counts): CPython's allocator, glibc's
    arenas, resident memory by kind of mapping, and the objects the collector tracks."""
    titles = " ".join(f"{title:>10}" for _, title, _ in FIGURES)
    lines = [f"name     {titles}    objects"]
    for path in sorted(folder.glob("month-*.json")):
        body = json.loads(path.read_text(encoding="utf-8"))
        cells = []
        for key, _, divisor in FIGURES:
            value = body.get(key)
            if value is None:
                cells.append(f"{'-':>10}")
            elif divisor == 1:
                cells.append(f"{value:>10,}")
            else:
                cells.append(f"{value / divisor:>10.1f}")
        lines.append(f"{path.stem:<9}{' '.join(cells)} {sum(body['types'].values()):>10,}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison."""
    p = argparse.ArgumentParser(prog="python -m tests.bench.memtrace", description=__doc__)
    p.add_argument("folder", type=Path)
    p.add_argument("first", nargs="?")
    p.add_argument("last", nargs="?")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    if args.first and args.last:
        print(compare(args.folder, args.first, args.last, args.top))
    else:
        print(figures(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
