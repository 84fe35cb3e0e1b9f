"""`dvtrigger reconcile --since DATE`: what became of each police notification, from receipts.

Reads the receipts topic from `--since` to its end as it was when the command started: on
each partition, from the first record whose timestamp is at or after `--since`
(`offsets_for_times`), without a consumer group (nothing is committed; run it as often as
you like). Each record is parsed here; one that is not a valid `receipt/1` is counted as
unreadable and skipped. `streams.domain.reconcile` does the rest.

Exit status: 0 no gap, 1 gaps (for cron and CI), 2 a usage or connection error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from schemas.receipt import Receipt
from streams.config.settings import Settings
from streams.domain.reconcile import reconcile
from streams.domain.reconcile_text import render_text

#: Exit status of a usage or connection error (argparse's own, too).
USAGE_ERROR = 2
#: The default grace period: what the pipeline may take before a missing stage is a gap.
DEFAULT_GRACE = timedelta(minutes=15)
_SPAN = re.compile(r"(\d+)([smhd]?)")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "": "minutes"}


def add_parser(sub: Any) -> None:
    """Add the `reconcile` subcommand to the `dvtrigger` parser."""
    rec = sub.add_parser("reconcile", help="receipts by force and day, and the gaps in them")
    rec.add_argument(
        "--since",
        required=True,
        metavar="DATE",
        help="a date (midnight where the council is) or an ISO 8601 time",
    )
    rec.add_argument(
        "--grace",
        type=grace_of,
        default=DEFAULT_GRACE,
        metavar="SPAN",
        help="how long a stage may take before it is a gap: 15m (default), 90s, 2h, 1d",
    )
    rec.add_argument("--force", metavar="CODE", help="only this force's receipts (e.g. MPS)")
    rec.add_argument("--json", action="store_true", help="print the report as JSON")
    rec.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds to wait for the cluster, or for a record, before giving up (default 30)",
    )
    rec.add_argument("--bootstrap", help="host:port of the Kafka cluster")
    rec.set_defaults(func=cmd_reconcile)


def grace_of(text: str) -> timedelta:
    """A grace period: a number and a unit (s, m, h, d; minutes when none)."""
    found = _SPAN.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 15m, 90s, 2h)")
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


def since_of(text: str, timezone: str) -> datetime:
    """`--since`: a date is its midnight in `timezone`; a time without an offset is there too."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
    else:
        moment = datetime.combine(day, datetime.min.time())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(UTC)


def cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    """Read the receipts since `--since`, reconcile them, print the report."""
    from kafka.errors import KafkaError

    timezone = settings.rules.timezone
    try:
        since = since_of(args.since, timezone)
    except ValueError:
        return _error(f"--since: not a date or time: {args.since!r}")
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        return _error("set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap host:port")
    now = datetime.now(UTC)  # before the end offsets are taken: the grace counts from here
    topic = settings.topic("receipts")
    try:
        receipts, unreadable = parse(read_since(settings, bootstrap, topic, since, args.timeout))
    except (KafkaError, OSError, ReadFailed) as failure:
        return _error(f"cannot read the receipts: {failure}")
    report = reconcile(
        receipts,
        since=since,
        now=now,
        grace=args.grace,
        timezone=timezone,
        force=args.force.upper() if args.force else None,
        unreadable=unreadable,
    )
    print(json.dumps(report.as_dict(), indent=2) if args.json else render_text(report).rstrip())
    return report.exit_status


def _error(problem: str) -> int:
    """Say what is wrong on stderr; the exit status of a usage or connection error."""
    print(f"dvtrigger reconcile: {problem}", file=sys.stderr)
    return USAGE_ERROR


def parse(values: Iterable[bytes | None]) -> tuple[list[Receipt], int]:
    """The valid receipts, and how many records were not one (never what they held)."""
    receipts: list[Receipt] = []
    unreadable = 0
    for value in values:
        try:
            receipts.append(Receipt.model_validate_json(value or b""))
        except ValidationError:
            unreadable += 1
    return receipts, unreadable


class ReadFailed(Exception):
    """The receipts topic is missing, or stopped answering before its end was read."""


def read_since(
    settings: Settings, bootstrap: str, topic: str, since: datetime, timeout_s: float = 30.0
) -> Iterator[bytes | None]:
    """The value of every record of `topic` from `since` to the end offsets taken at the start.

    Each partition is read until its position passes that end, then paused; the last fetch
    may carry a few records written since, which are kept (they are receipts like any other).
    Nothing is committed. A cluster that does not answer within `timeout_s`, or a read that
    gets no record for that long, fails rather than hang.

    The embedded Tansu reports an end below what is there (the last batch's first offset),
    finds a time by when records arrived rather than by their timestamps, and answers a time
    after its last record with offset 0 and timestamp -1 (Kafka: none). `reconcile` counts
    by each receipt's own time, so what more is read changes nothing in the report.
    """
    from kafka import KafkaConsumer, TopicPartition

    from connectors.kafka.security import client_options

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        bootstrap_timeout_ms=int(timeout_s * 1000),
        **client_options(settings),
    )
    try:
        known = consumer.partitions_for_topic(topic)
        if not known:
            raise ReadFailed(f"no topic {topic}")
        partitions = [TopicPartition(topic, p) for p in sorted(known)]
        consumer.assign(partitions)
        end = consumer.end_offsets(partitions)
        wanted = {tp: int(since.timestamp() * 1000) for tp in partitions}
        for tp, found in consumer.offsets_for_times(wanted).items():
            nothing_since = found is None or found.timestamp < 0
            consumer.seek(tp, end[tp] if nothing_since else found.offset)
        yield from _to_end(consumer, end, timeout_s)
    finally:
        consumer.close()


def _to_end(consumer: Any, end: dict[Any, int], timeout_s: float) -> Iterator[bytes | None]:
    """Poll until every partition's position is at or past its end, pausing those that are."""
    idle_since = time.monotonic()
    while short := [tp for tp, offset in end.items() if consumer.position(tp) < offset]:
        consumer.pause(*(tp for tp in end if tp not in short))
        batches = consumer.poll(timeout_ms=500)
        if batches:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > timeout_s:
            raise ReadFailed(f"no record for {timeout_s:.0f}s before the end of the topic")
        for batch in batches.values():
            yield from (record.value for record in batch)
