"""End to end on a real broker: labelled incidents become exactly the expected tasks, once each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connectors.cli.replay import replay
from connectors.simulate import simulate, write_scenario
from schemas.decision import Decision
from streams.domain.decision_log import latest_by_incident, read_log
from streams.domain.tasks import idempotency_key, subject_key
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration


def _subjects(register: list[dict[str, Any]]) -> int:
    return len({event["subject"]["subject_ref"] for event in register})


def _replayed(scenario: Any, tmp_path: Path) -> dict[str, Decision]:
    """The offline replay's decisions for the same files: the expected stream decisions."""
    write_scenario(scenario, tmp_path / "data")
    out = tmp_path / "replay.jsonl"
    replay(tmp_path / "data" / "register.jsonl", tmp_path / "data" / "incidents.jsonl", out)
    decisions = [Decision.model_validate_json(line) for line in out.read_text().splitlines()]
    return {d.incident_id: d for d in decisions}


def _logged(stack: Stack) -> dict[str, Decision]:
    """The decision of each incident on the decision log, its copies dropped."""
    return latest_by_incident(read_log(r.value for r in stack.read_topic("decisions")))


def _outcomes(decision: Decision) -> dict[str, str | None]:
    return {subject_key(s): s.outcome for s in decision.subjects}


def _expected_tasks(decisions: dict[str, Decision]) -> dict[str, str]:
    return {
        idempotency_key(d.incident_id, subject_key(s)): str(s.outcome)
        for d in decisions.values()
        for s in d.subjects
        if s.outcome
    }


async def _settled(stack: Stack, messages: int) -> None:
    """Wait until every incident message was decided or recognised as a duplicate."""

    def done() -> bool:
        decided = sum(stack.metric("dvtrigger_decisions_total", decision=d) for d in OUTCOMES)
        dup = sum(stack.metric("dvtrigger_incidents_duplicate_total", kind=k) for k in DUPS)
        commands = stack.metric("dvtrigger_tasks_total", result="created")
        commands += stack.metric("dvtrigger_tasks_total", result="updated")
        commands += stack.metric("dvtrigger_tasks_total", result="unchanged")
        return decided + dup >= messages and commands >= len(stack.read_topic("task-commands"))

    wait_for(f"{messages} incident messages to be handled", done, timeout=120)


OUTCOMES = ("trigger", "review", "no_action")
DUPS = ("notification", "older_revision")


async def test_incidents_become_exactly_the_expected_tasks(stack: Stack, tmp_path: Path) -> None:
    scenario = simulate(2024, 40, 90)
    expected = _replayed(scenario, tmp_path)
    assert any(d.decision == "trigger" for d in expected.values()), "scenario has no trigger"

    stack.publish("register", scenario.register)
    wanted = _subjects(scenario.register)
    wait_for(f"{wanted} register subjects", lambda: stack.register_size() == wanted)
    sent = stack.publish("incidents", scenario.incidents)
    await _settled(stack, sent)

    logged = _logged(stack)
    assert set(logged) == set(expected)
    for incident_id, decision in expected.items():
        assert logged[incident_id].decision == decision.decision, incident_id
        assert _outcomes(logged[incident_id]) == _outcomes(decision), incident_id

    tasks = await stack.inbox_tasks()
    by_key = {t.task.idempotency_key: t for t in tasks}
    assert len(by_key) == len(tasks)
    for key, outcome in _expected_tasks(expected).items():
        assert by_key[key].task.outcome == outcome, key
    extra = set(by_key) - set(_expected_tasks(expected))
    assert all(by_key[key].task.outcome == "withdrawn" for key in extra)

    # The same messages a second time, keyed as some forces key them (not by incident), take
    # the re-keyed path through the incidents topic and raise nothing new.
    raw = [json.dumps(message).encode() for message in scenario.incidents]
    again = stack.produce_many("police-incidents", raw, key=b"force-batch-7")
    await _settled(stack, sent + again)
    assert stack.metric("dvtrigger_incidents_routed_total", path="in_place") == sent
    assert stack.metric("dvtrigger_incidents_routed_total", path="re_keyed") == again
    assert sorted(t.task_id for t in await stack.inbox_tasks()) == sorted(t.task_id for t in tasks)
    assert stack.metric("dvtrigger_tasks_total", result="created") == len(tasks)


async def test_invalid_notification_is_dead_lettered_and_replayable(stack: Stack) -> None:
    from connectors.kafka.dead_letters import replay_dead_letters
    from streams.config.topics import H_REASON, H_REASON_CLASS

    bad = json.dumps({"schema": "police-incident/1", "given_name": "Zebedee Quuxley"}).encode()
    stack.produce_raw("police-incidents", bad, key=b"x")
    stack.produce_raw("police-incidents", b"{not json", key=b"y")
    wait_for("two dead letters", lambda: len(stack.read_topic("dead-letter")) == 2)

    letters = {bytes(r.value): dict(r.headers) for r in stack.read_topic("dead-letter")}
    assert letters[bad][H_REASON_CLASS] == b"schema"
    assert b"Zebedee" not in letters[bad][H_REASON]
    assert letters[b"{not json"][H_REASON_CLASS] == b"not_json"
    assert stack.metric("dvtrigger_incidents_rejected_total", reason="schema") == 1
    assert "Zebedee" not in stack.metrics_text()

    assert replay_dead_letters(stack.settings, stack.bootstrap) == 2
    wait_for("replayed letters refused again", lambda: len(stack.read_topic("dead-letter")) == 4)
    assert replay_dead_letters(stack.settings, stack.bootstrap) == 2  # only the two new ones


async def test_replaying_one_reason_class_leaves_the_others_for_a_later_replay(
    stack: Stack,
) -> None:
    from connectors.kafka.dead_letters import replay_dead_letters

    bad = json.dumps({"schema": "police-incident/1"}).encode()
    stack.produce_raw("police-incidents", bad, key=b"x")
    stack.produce_raw("police-incidents", b"{not json", key=b"y")
    wait_for("two dead letters", lambda: len(stack.read_topic("dead-letter")) == 2)

    assert replay_dead_letters(stack.settings, stack.bootstrap, "not_json") == 1
    wait_for("the replayed letter refused again", lambda: len(stack.read_topic("dead-letter")) == 3)
    # The whole topic: the schema letter the class replay skipped, and the new not_json one.
    assert replay_dead_letters(stack.settings, stack.bootstrap) == 2
    wait_for("both refused again", lambda: len(stack.read_topic("dead-letter")) == 5)
    assert replay_dead_letters(stack.settings, stack.bootstrap, "not_json") == 1  # the newest
