"""Broker outages reported once: opened, kept in a gauge, closed, instead of a log flood.

While the broker cannot be reached, aiokafka logs every failed reconnection, metadata
refresh, fetch and coordinator lookup, about a hundred ERROR lines a second per worker,
and says nothing when it can reach the broker again. `BrokerOutage` turns that into two
lines: the first connection failure opens an outage (one ERROR line); later ones are
counted, not logged (`dvtrigger_log_records_suppressed_total`); and the outage closes
(one WARNING line, with its length and the records suppressed) once the broker answers a
probe and the clients have stopped failing for `settle_s`.

A broker that hangs rather than refuses (a frozen process, a black-holed network) makes
aiokafka log nothing for a minute or more: the probe, a metadata request on a timer with a
timeout, opens the outage then. Only connection failures are touched: any other record of
the Kafka clients (a refused request, an unexpected error) is logged as it was.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.errors import KafkaError

from streams.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

#: aiokafka's connection-failure messages (their format strings), each with the position of
#: the error among its arguments (None: the message alone says the broker was not reached).
AIOKAFKA_FAILURES: dict[str, int | None] = {
    "Unable connect to node with id %s: %s": 1,
    "Unable to update metadata from %s": None,
    "Unable to request metadata from node with id %s: %r": 1,
    'Unable to request metadata from "%s:%s": %s': 2,
    "Failed fetch messages from %s: %s": 1,
    "Failed fetch offsets from %s: %s": 1,
    "Group Coordinator Request failed: %s": 0,
    "FindCoordinator Request failed: %s": 0,
    "Heartbeat send request failed: %s. Will retry.": 0,
    "Error sending %s to node %s [%s] -- marking coordinator dead": 2,
    "Heartbeat session expired - marking coordinator dead": None,
    "Cannot send %r to %s: %r": 2,
    "Could not send %r: %r": 1,
    "Got error produce response: %s": 0,  # a produce in flight, retried: 8 a second
}
#: The loggers those messages come from. A logger's filter sees only its own records (not
#: its children's), so each module's logger is named (`aiokafka.client` logs as `aiokafka`).
AIOKAFKA_LOGGERS = (
    "aiokafka",
    "aiokafka.conn",
    "aiokafka.consumer.fetcher",
    "aiokafka.consumer.group_coordinator",
    "aiokafka.producer.sender",
)
#: kafka-python's (the deliver worker's receipts tail; its clients back off, so these come
#: a few a second, not a hundred).
KAFKA_PYTHON_FAILURES: dict[str, int | None] = {
    "Connection failed: %s": 0,
    "Metadata refresh: failed %s": 0,
    "Fetch to node %s failed: %s": 1,
    "No node available for metadata refresh - backoff/retry": None,
    "Bootstrap connection to %s failed: %s (backoff %.2f secs)": 1,
    "Bootstrap failed: %s": 0,
}
KAFKA_PYTHON_LOGGERS = ("kafka.net.manager", "kafka.cluster", "kafka.consumer.fetcher")
#: Messages that also come when a broker closes an idle connection, so never open an outage,
#: but are counted, not logged, while one is under way.
DURING_AN_OUTAGE: dict[str, int | None] = {
    "%s: Connection lost: %s": 1,  # kafka-python
    "%s: socket disconnected": None,
    "%s: Abort (%s)": 1,
    "%s: Error receiving network data closing socket": None,
    "Bootstrap %s not ready; waiting %.2f secs": None,
}
DURING_LOGGERS = ("kafka.net.connection", "kafka.net.transport")
FAILURES = {**AIOKAFKA_FAILURES, **KAFKA_PYTHON_FAILURES}
LOGGERS = AIOKAFKA_LOGGERS + KAFKA_PYTHON_LOGGERS + DURING_LOGGERS
#: Errors that mean the broker was not reached (by class name: aiokafka's and kafka-python's
#: trees are apart), besides `OSError` and timeouts.
CONNECTION_ERRORS = frozenset(
    {"KafkaConnectionError", "NodeNotReadyError", "RequestTimedOutError", "KafkaTimeoutError"}
)


class BrokerOutage:
    """Whether the broker is reachable now, and the outage under way if not.

    Thread-safe: kafka-python's clients log from their own threads.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        settle_s: float = 2.0,
        on_suppressed: Callable[[], None] | None = None,
    ) -> None:
        """`settle_s`: how long the clients must have stopped failing before an answer
        closes the outage (their last retries can trail the broker's return).
        `on_suppressed`: told of each record suppressed (the counter)."""
        self._clock = clock
        self._settle_s = settle_s
        self._on_suppressed = on_suppressed or (lambda: None)
        self._lock = threading.Lock()
        #: When the outage under way began (the clock's time); None while reachable.
        self.since: float | None = None
        #: Records suppressed in the outage under way.
        self.suppressed = 0
        self._last_failure: float | None = None

    @property
    def reachable(self) -> bool:
        """Whether no outage is under way."""
        return self.since is None

    def seconds(self) -> float:
        """How long the outage under way has lasted; 0 while reachable."""
        since = self.since
        return 0.0 if since is None else max(0.0, self._clock() - since)

    def failed(self, why: str, suppressed: bool = False) -> None:
        """The broker was not reached (`why`: no personal data); the first failure opens an
        outage. `suppressed`: the failure was a log record, now not logged."""
        with self._lock:
            now = self._last_failure = self._clock()
            if suppressed:
                self.suppressed += 1
            opening = self.since is None
            if opening:
                self.since = now
        if suppressed:
            self._on_suppressed()
        if opening:
            log.error(
                "broker unreachable: %s; connection errors are counted, not logged, until"
                " it answers again",
                why,
            )

    def suppress(self) -> bool:
        """Count a record that says no more than the outage under way; whether one is."""
        with self._lock:
            if self.since is None:
                return False
            self.suppressed += 1
        self._on_suppressed()
        return True

    def answered(self) -> bool:
        """The broker answered a probe; close the outage unless the clients are still
        failing. Whether an outage was closed."""
        with self._lock:
            now = self._clock()
            if self.since is None:
                return False
            if self._last_failure is not None and now - self._last_failure < self._settle_s:
                return False
            lasted, suppressed = now - self.since, self.suppressed
            self.since, self.suppressed = None, 0
        log.warning(
            "broker reachable again after %.0f s, %d log records suppressed", lasted, suppressed
        )
        return True


class OutageFilter(logging.Filter):
    """Hands the Kafka clients' connection failures to a `BrokerOutage` instead of the log."""

    def __init__(
        self,
        outage: BrokerOutage,
        failures: dict[str, int | None] = FAILURES,
        during: dict[str, int | None] = DURING_AN_OUTAGE,
    ) -> None:
        super().__init__()
        self.outage = outage
        self.failures = failures
        self.during = during

    def filter(self, record: logging.LogRecord) -> bool:
        """False (not logged) for a connection failure, which the outage counts."""
        if is_connection_failure(record, self.failures):
            self.outage.failed(describe(record), suppressed=True)
            return False
        if is_connection_failure(record, self.during):
            return not self.outage.suppress()
        return True


def is_connection_failure(record: logging.LogRecord, failures: dict[str, int | None]) -> bool:
    """Whether `record` is one of `failures` and, where it carries an error, a connection one."""
    if not isinstance(record.msg, str) or record.msg not in failures:
        return False
    position = failures[record.msg]
    if position is None:
        return True
    args = record.args if isinstance(record.args, tuple) else ()
    return position < len(args) and is_connection_error(args[position])


def is_connection_error(error: Any) -> bool:
    """Whether an error says the broker was not reached (refused, reset, timed out)."""
    if isinstance(error, OSError):  # refused, reset, unreachable; and TimeoutError
        return True
    return any(cls.__name__ in CONNECTION_ERRORS for cls in type(error).__mro__)


def describe(record: logging.LogRecord) -> str:
    """The record's message, cut short: a host, a port, a node id, an error; never a payload."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = str(record.msg)
    return message if len(message) <= 200 else message[:197] + "..."


def attach(outage: BrokerOutage, loggers: Iterable[str] = LOGGERS) -> Callable[[], None]:
    """Filter the connection failures of `loggers` into `outage`; returns the undoing."""
    found = OutageFilter(outage)
    targets = [logging.getLogger(name) for name in loggers]
    for target in targets:
        target.addFilter(found)

    def detach() -> None:
        for target in targets:
            target.removeFilter(found)

    return detach


def export(outage: BrokerOutage, metrics: Metrics) -> None:
    """Make `outage` the source of the broker gauges of `metrics`."""
    metrics.broker_reachable.source = lambda: {(): 1.0 if outage.reachable else 0.0}
    metrics.broker_outage_seconds.source = lambda: {(): outage.seconds()}


async def probe(outage: BrokerOutage, ask: Callable[[], Any], timeout_s: float) -> None:
    """Ask the broker once (`ask`: a metadata request); tell `outage` what came of it."""
    try:
        await asyncio.wait_for(ask(), timeout_s)
    except (KafkaError, OSError) as error:  # OSError: TimeoutError too
        timed_out = isinstance(error, TimeoutError)
        why = "no answer to a metadata request" if timed_out else type(error).__name__
        outage.failed(f"{why} (probe, {timeout_s:g} s timeout)")
    else:
        outage.answered()


def install(app: Any, metrics: Metrics, interval_s: float, timeout_s: float) -> BrokerOutage:
    """Track a faust worker's broker outages: its clients' log filtered from the worker's
    start, a probe every `interval_s` through its producer's client, the gauges exported."""
    outage = BrokerOutage(clock=time.monotonic, on_suppressed=metrics.log_records_suppressed.inc)
    export(outage, metrics)
    timer, task = getattr(app, "timer", None), getattr(app, "task", None)
    if interval_s <= 0 or timer is None or task is None:  # off, or a unit test's fake app
        return outage

    async def attach_filters() -> None:
        attach(outage)  # at start, not at build: a worker only built (a test's) leaves the log be

    asking: set[asyncio.Task[None]] = set()

    async def probe_broker() -> None:
        # In a task of its own: an unanswered probe would hold the timer past its interval
        # (mode logs each overlap). One at a time.
        client = _producer_client(app)
        if client is not None and not asking:
            found = asyncio.ensure_future(probe(outage, client.fetch_all_metadata, timeout_s))
            asking.add(found)
            found.add_done_callback(asking.discard)

    task(attach_filters)
    timer(interval_s, on_leader=False, name="broker-probe")(probe_broker)
    return outage


def _producer_client(app: Any) -> Any:
    """The aiokafka client of the app's producer; None before it has started."""
    producer = getattr(app.producer, "_producer", None)
    return getattr(producer, "client", None)
