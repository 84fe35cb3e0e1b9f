"""Broker outages: the Kafka clients' connection failures open one, are counted instead of
logged while it lasts, and an answer from the broker closes it, each logged once."""

from __future__ import annotations

import ast
import asyncio
import importlib
import inspect
import logging
import types

import pytest
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError, UnknownTopicOrPartitionError
from kafka.errors import KafkaConnectionError as KafkaPythonConnectionError
from prometheus_client import CollectorRegistry

from streams.telemetry.broker_outage import (
    AIOKAFKA_FAILURES,
    AIOKAFKA_LOGGERS,
    DURING_AN_OUTAGE,
    KAFKA_PYTHON_FAILURES,
    LOGGERS,
    BrokerOutage,
    OutageFilter,
    attach,
    export,
    is_connection_failure,
    probe,
)
from streams.telemetry.metrics import Metrics

OUTAGE_LOG = "streams.telemetry.broker_outage"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, *args: object, name: str = "aiokafka.client") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


REFUSED = record(
    "Unable connect to node with id %s: %s", 111, ConnectionRefusedError(111, "Connect failed")
)
NOT_READY = record("Failed fetch messages from %s: %s", 111, NodeNotReadyError("node 111"))


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == OUTAGE_LOG]


@pytest.mark.parametrize(
    "failure",
    [
        REFUSED,
        NOT_READY,
        record("Unable to update metadata from %s", [111]),
        record("Group Coordinator Request failed: %s", KafkaConnectionError("closed")),
        record("Heartbeat session expired - marking coordinator dead"),
        record("Cannot send %r to %s: %r", object, 111, TimeoutError()),
    ],
)
def test_connection_failures_are_recognised(failure: logging.LogRecord) -> None:
    assert is_connection_failure(failure, AIOKAFKA_FAILURES)


@pytest.mark.parametrize(
    "other",
    [
        # the same message, but the broker answered: a refusal, not an outage
        record("Failed fetch messages from %s: %s", 111, UnknownTopicOrPartitionError()),
        record("Unexpected error in fetcher routine"),
        record("Heartbeat failed: %r", NodeNotReadyError("x")),
        record("Failed fetch messages from %s: %s", 111),  # its error missing
    ],
)
def test_other_records_are_not(other: logging.LogRecord) -> None:
    assert not is_connection_failure(other, AIOKAFKA_FAILURES)


def test_an_outage_is_logged_once_at_its_start_and_once_at_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock, counted = FakeClock(), []
    outage = BrokerOutage(clock, settle_s=2.0, on_suppressed=lambda: counted.append(1))
    found = OutageFilter(outage)
    caplog.set_level(logging.INFO)
    passed = []
    for _ in range(300):  # three seconds of two clients retrying every 10 ms
        passed += [found.filter(REFUSED), found.filter(NOT_READY)]
        clock.now += 0.01
    assert not any(passed)
    assert not outage.reachable
    assert outage.seconds() == pytest.approx(3.0)
    clock.now += 30
    assert outage.answered()
    assert outage.reachable and outage.seconds() == 0.0
    assert outage_lines(caplog) == [
        (
            "ERROR",
            "broker unreachable: Unable connect to node with id 111: [Errno 111] Connect failed;"
            " connection errors are counted, not logged, until it answers again",
        ),
        ("WARNING", "broker reachable again after 33 s, 600 log records suppressed"),
    ]
    assert len(counted) == 600
    assert not outage.answered()  # nothing more to close


def test_an_answer_closes_only_once_the_clients_have_stopped_failing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = BrokerOutage(clock, settle_s=2.0)
    outage.failed("refused", suppressed=True)
    clock.now += 1.0
    assert not outage.answered()  # the last failure is 1 s old: retries may still trail
    assert not outage.reachable
    clock.now += 1.5
    assert outage.answered()


def test_other_records_pass_through_during_an_outage() -> None:
    outage = BrokerOutage(FakeClock())
    found = OutageFilter(outage)
    assert not found.filter(REFUSED)
    assert found.filter(record("Unexpected error in fetcher routine"))
    assert outage.suppressed == 1


def test_attach_filters_the_named_loggers_and_detach_undoes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outage = BrokerOutage(FakeClock())
    detach = attach(outage)
    try:
        caplog.set_level(logging.WARNING)
        fetcher = logging.getLogger("aiokafka.consumer.fetcher")
        for _ in range(50):
            fetcher.error("Failed fetch messages from %s: %s", 111, NodeNotReadyError("x"))
        fetcher.error("Unexpected error in fetcher routine")
    finally:
        detach()
    fetched = [r.getMessage() for r in caplog.records if r.name == fetcher.name]
    assert fetched == ["Unexpected error in fetcher routine"]
    assert len(outage_lines(caplog)) == 1
    assert outage.suppressed == 50
    fetcher.error("Failed fetch messages from %s: %s", 111, NodeNotReadyError("x"))
    assert outage.suppressed == 50  # detached: logged as it comes


def test_the_gauges_and_the_counter() -> None:
    clock = FakeClock()
    metrics = Metrics(CollectorRegistry())
    outage = BrokerOutage(clock, on_suppressed=metrics.log_records_suppressed.inc)
    export(outage, metrics)
    registry = metrics.registry
    assert registry.get_sample_value("dvtrigger_broker_reachable") == 1.0
    assert registry.get_sample_value("dvtrigger_broker_outage_seconds") == 0.0
    OutageFilter(outage).filter(REFUSED)
    outage.failed("probe timed out")
    clock.now += 42
    assert registry.get_sample_value("dvtrigger_broker_reachable") == 0.0
    assert registry.get_sample_value("dvtrigger_broker_outage_seconds") == 42.0
    assert registry.get_sample_value("dvtrigger_log_records_suppressed_total") == 1.0


def test_a_probe_unanswered_opens_an_outage_and_an_answer_closes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    outage = BrokerOutage(clock)
    caplog.set_level(logging.INFO)

    async def hangs() -> None:
        await asyncio.sleep(10)

    async def refuses() -> None:
        raise KafkaConnectionError("closed")

    async def answers() -> None:
        return None

    asyncio.run(probe(outage, hangs, timeout_s=0.01))
    assert not outage.reachable
    asyncio.run(probe(outage, refuses, timeout_s=0.01))
    clock.now += 5
    asyncio.run(probe(outage, answers, timeout_s=0.01))
    assert outage.reachable
    assert outage_lines(caplog) == [
        (
            "ERROR",
            "broker unreachable: no answer to a metadata request (probe, 0.01 s timeout);"
            " connection errors are counted, not logged, until it answers again",
        ),
        ("WARNING", "broker reachable again after 5 s, 0 log records suppressed"),
    ]


def test_every_failure_message_is_aiokafkas_own_on_a_filtered_logger() -> None:
    """An aiokafka upgrade that rewords a message or moves it to another logger fails here,
    not silently in production (the flood back)."""
    modules = ["client", "conn", "consumer.fetcher", "consumer.group_coordinator"]
    modules += ["producer.sender"]
    sources = {}
    for name in modules:
        module = importlib.import_module(f"aiokafka.{name}")
        (logger,) = [v for v in vars(module).values() if isinstance(v, logging.Logger)]
        assert logger.name in AIOKAFKA_LOGGERS, name
        sources[name] = string_literals(module)
    for message in AIOKAFKA_FAILURES:
        assert any(message in literals for literals in sources.values()), message


def test_kafka_pythons_failures_too_and_its_disconnections_only_during_an_outage() -> None:
    outage = BrokerOutage(FakeClock())
    found = OutageFilter(outage)
    refused = KafkaPythonConnectionError("111 ECONNREFUSED")
    lost = record("%s: Connection lost: %s", "<conn>", refused, name="kafka.net.connection")
    assert found.filter(lost)  # a broker closing an idle connection: logged, no outage
    assert outage.reachable
    assert not found.filter(record("Connection failed: %s", refused, name="kafka.net.manager"))
    assert not outage.reachable
    assert not found.filter(lost)
    assert outage.suppressed == 2


def test_every_kafka_python_message_is_its_own_on_a_filtered_logger() -> None:
    sources = {}
    for name in ("net.manager", "cluster", "consumer.fetcher", "net.connection", "net.transport"):
        module = importlib.import_module(f"kafka.{name}")
        (logger,) = [v for v in vars(module).values() if isinstance(v, logging.Logger)]
        assert logger.name in LOGGERS, name
        sources[name] = string_literals(module)
    for message in [*KAFKA_PYTHON_FAILURES, *DURING_AN_OUTAGE]:
        assert any(message in literals for literals in sources.values()), message


def string_literals(module: types.ModuleType) -> set[str]:
    """Every string literal in a module's source, adjacent literals joined as Python joins
    them (a message split over two lines is one literal)."""
    tree = ast.parse(inspect.getsource(module))
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
