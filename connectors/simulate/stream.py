"""Streams: a register of any size in fixed chunks (in parallel if asked), and the demo feed."""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TypeVar

from connectors.simulate.addresses import Gazetteer
from connectors.simulate.clock import LONDON, local_day, utc_stamp
from connectors.simulate.households import Households
from connectors.simulate.model import Window
from connectors.simulate.names import scenario_tag
from connectors.simulate.scenario import DEFAULT_START, dumps, seeded, simulate

Row = dict[str, Any]
T = TypeVar("T")

#: Subjects per chunk: each chunk has its own random stream, streets and ids, so the output
#: is the same however many workers make it.
CHUNK = 10_000
_STREETS = 400  # 50,800 building numbers for the 10,500 buildings of a chunk
_IDS = CHUNK * 10  # people and subject refs a chunk may number

#: The roles of the demo feed's messages (the CLI maps them to topics).
REGISTER = "register"
INCIDENT = "incident"
#: A re-timed demo incident happened at most this long before it is reported.
RECENT = timedelta(hours=3)


def chunk_events(seed: int, chunk: int, subjects: int, start: date, days: int) -> list[Row]:
    """The register events of `subjects` subjects (twins count two) of chunk number `chunk`."""
    gazetteer = Gazetteer(seeded(seed, "towns"), first_street=chunk * _STREETS, streets=_STREETS)
    tag = scenario_tag(seeded(seed, "tag"))
    rng = seeded(seed, f"stream:{chunk}")
    households = Households(rng, gazetteer, Window(start, days), tag, first_id=chunk * _IDS)
    events: list[Row] = []
    made = 0
    with _cycles_collected_after():
        while made < subjects:
            story = households.any_story()
            if story == "twins" and made + 2 > subjects:
                continue
            events.extend(households.family(story).events)
            made += 2 if story == "twins" else 1
    return events


@contextmanager
def _cycles_collected_after() -> Iterator[None]:
    """Pause the cyclic garbage collector for one chunk (a third of its time otherwise).

    A family and its people refer to each other; a chunk's few megabytes of such cycles are
    freed by the collection that follows.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def chunk_lines(seed: int, chunk: int, subjects: int, start: date, days: int) -> str:
    """`chunk_events` as JSON lines, one string (cheap to hand back from a worker process)."""
    return "".join(dumps(e) + "\n" for e in chunk_events(seed, chunk, subjects, start, days))


def _chunks(
    make: Callable[[int, int, int, date, int], T],
    seed: int,
    subjects: int,
    start: date,
    days: int,
    workers: int,
) -> Iterator[T]:
    """`make` applied to every chunk in order, by `workers` processes (a few chunks ahead)."""
    sizes = [(k, min(CHUNK, subjects - k * CHUNK)) for k in range(-(-subjects // CHUNK))]
    if workers <= 1:
        for chunk, size in sizes:
            yield make(seed, chunk, size, start, days)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        ahead: deque[Future[T]] = deque()
        for chunk, size in sizes:
            ahead.append(pool.submit(make, seed, chunk, size, start, days))
            if len(ahead) > 2 * workers:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()


def iter_register_events(
    seed: int, subjects: int, *, start: date = DEFAULT_START, days: int = 365, workers: int = 1
) -> Iterator[Row]:
    """register-event/1 dicts for `subjects` subjects, family by family (unvalidated, fast).

    A pregnancy and the child born of it are one subject; twins are two. Events of one
    family come in `recorded_at` order; the stream as a whole is ordered by family. The
    invented gazetteer holds streets for 7,200,000 subjects. `workers` > 1 makes chunks
    in that many processes (the same events, in the same order).
    """
    for events in _chunks(chunk_events, seed, subjects, start, days, workers):
        yield from events


def iter_register_lines(
    seed: int, subjects: int, *, start: date = DEFAULT_START, days: int = 365, workers: int = 2
) -> Iterator[str]:
    """The same events as `iter_register_events`, as JSON-lines text a chunk at a time."""
    yield from _chunks(chunk_lines, seed, subjects, start, days, workers)


def write_register(
    seed: int,
    subjects: int,
    path: Path | str,
    *,
    start: date = DEFAULT_START,
    days: int = 365,
    workers: int = 2,
) -> int:
    """Write the streamed register of `subjects` subjects to `path`; the number of events."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as out:
        for text in iter_register_lines(seed, subjects, start=start, days=days, workers=workers):
            out.write(text)
            count += text.count("\n")
    return count


def iter_demo(
    seed: int,
    *,
    families: int = 24,
    incidents: int = 40,
    start: date = DEFAULT_START,
    days: int = 365,
) -> Iterator[tuple[str, Row]]:
    """(role, message) pairs for the demo: the register first, then incidents a kind at a time.

    Incidents take turns by kind, starting with a carer at home (a task at once); a revision
    comes three messages after the one it revises.
    """
    scenario = simulate(seed, families, incidents, start=start, days=days)
    for event in scenario.register:
        yield REGISTER, event
    for message in _demo_order(scenario.incidents, scenario.truth):
        yield INCIDENT, message


def iter_demo_on(seed: int, day: date) -> Iterator[tuple[str, Row]]:
    """`iter_demo` of a world whose incidents all happen on `day` (London), for a live demo.

    The register is built as for any window (births and pregnancies over the months
    before), so each incident's subjects are in scope on `day` as the simulator meant.
    The few incidents it places outside the window, to test a boundary, are left out.
    """
    for role, message in iter_demo(seed, start=day, days=1):
        if role == REGISTER or local_day(message["occurred_at"]) == day:
            yield role, message


def retimed(message: Row, now: datetime, day: date, occurred_at: str | None = None) -> Row:
    """A demo incident of `day` as if reported at `now`: it happened shortly before (as long
    before as the simulator said, at most `RECENT`), and still on `day` in London.

    A later revision keeps its first revision's `occurred_at` (given as `occurred_at`).
    """
    reported = now.astimezone(UTC).replace(microsecond=0)
    if occurred_at is None:
        parse = datetime.fromisoformat
        gap = parse(message["reported_at"]) - parse(message["occurred_at"])
        first = datetime.combine(day, time(0), LONDON)
        last = datetime.combine(day + timedelta(days=1), time(0), LONDON) - timedelta(seconds=1)
        moment = min(max(reported - min(gap, RECENT), first), last)
        occurred_at = moment.astimezone(LONDON).isoformat(timespec="seconds")
    return {**message, "occurred_at": occurred_at, "reported_at": utc_stamp(reported)}


def _demo_order(messages: list[Row], truth: list[Row]) -> list[Row]:
    """Round-robin over kinds (carer_at_home first); later revisions held back a little."""
    kinds = {line["incident_id"]: line["kind"] for line in truth}
    by_kind: dict[str, list[Row]] = {}
    for message in messages:
        if message["revision"] == 1:
            by_kind.setdefault(kinds[message["incident_id"]], []).append(message)
    order = sorted(by_kind, key=lambda kind: (kind != "carer_at_home", kind))
    queues = [deque(by_kind[kind]) for kind in order]
    firsts: list[Row] = []
    while any(queues):
        firsts.extend(queue.popleft() for queue in queues if queue)
    later = {m["incident_id"]: m for m in messages if m["revision"] > 1}
    out: list[Row] = []
    held: deque[tuple[int, Row]] = deque()
    for message in firsts:
        out.append(message)
        if message["incident_id"] in later:
            held.append((len(out) + 3, later[message["incident_id"]]))
        while held and held[0][0] <= len(out):
            out.append(held.popleft()[1])
    out.extend(message for _, message in held)
    return out
