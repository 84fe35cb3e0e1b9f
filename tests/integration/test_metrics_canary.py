"""No personal data in any /metrics: people with planted canary names go through the whole stack.

Register events and incidents whose people, refs, addresses, NHS numbers and dates are
canaries run through a real broker, the decide and deliver processes and a real duty inbox,
with one poison message besides. Then every /metrics (decide, deliver, duty inbox) is
scraped: no canary may appear, and the new metrics must say what happened.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.kafka.publish import producer
from streams.flows.retries import RetryState
from tests.support.samples import sample_raise_task
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
HOME = {"lines": ["17 Canaryquill Lane"], "town": "Canarytown", "postcode": "ZZ9 9CQ"}
ELSEWHERE = {"lines": ["2 Canarywren Court"], "town": "Canarytown", "postcode": "ZZ8 8CW"}
CHILD_DOB = (NOW - timedelta(days=40)).date().isoformat()
MOTHER_DOB, PREGNANT_DOB = "1994-03-17", "1997-08-29"
NHS = ("4010232137", "4029384757", "4038475611")
REGISTER_RECORDED = NOW - timedelta(hours=2)
REPORTED = NOW - timedelta(seconds=30)
#: Every planted value; none may reach a /metrics. Names, refs and ids all hold "canary".
CANARIES = (
    "canary",
    "ZZ9 9CQ",
    "ZZ8 8CW",
    *NHS,
    CHILD_DOB,
    MOTHER_DOB,
    PREGNANT_DOB,
    "17/03/1994",
    "Zzcanaryvole",
)


@pytest.fixture(autouse=True)
def times_of_this_test() -> None:
    """Take the times when each test starts, not when the suite was collected: in a full run
    that was many minutes earlier, and a notification reported then is past the 15-minute SLO."""
    global NOW, CHILD_DOB, REGISTER_RECORDED, REPORTED
    NOW = datetime.now(UTC).replace(microsecond=0)
    CHILD_DOB = (NOW - timedelta(days=40)).date().isoformat()
    REGISTER_RECORDED = NOW - timedelta(hours=2)
    REPORTED = NOW - timedelta(seconds=30)


def register_events() -> list[dict[str, Any]]:
    """A child of the mother Canarymum Zzcanaryvole, at HOME."""
    return [
        {
            "schema": "register-event/1",
            "event_id": str(uuid.uuid4()),
            "source": "child_health",
            "local_authority": "E09000014",
            "recorded_at": REGISTER_RECORDED.isoformat(),
            "type": "birth_registered",
            "effective_date": CHILD_DOB,
            "subject": {
                "subject_ref": "CANARY-SUBJ-0001",
                "kind": "child",
                "given_name": "Canaryqzx",
                "family_name": "Zzcanaryvole",
                "date_of_birth": CHILD_DOB,
                "nhs_number": NHS[0],
            },
            "carers": [
                {
                    "person_ref": "CANARY-CARER-0001",
                    "relationship": "mother",
                    "given_name": "Canarymum",
                    "family_name": "Zzcanaryvole",
                    "date_of_birth": MOTHER_DOB,
                    "nhs_number": NHS[1],
                }
            ],
            "address": HOME,
        }
    ]


def incident(
    number: int, location: dict[str, Any], persons: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "schema": "police-incident/1",
        "notification_id": str(uuid.uuid4()),
        "incident_id": f"CANARY-INC-{number:04d}",
        "force": "MPS",
        "revision": 1,
        "occurred_at": (REPORTED - timedelta(minutes=20)).isoformat(),
        "reported_at": REPORTED.isoformat(),
        "location": location,
        "dash_risk": "high",
        "persons": persons,
        "summary": "Canarysummary: argument at Canaryquill Lane.",
    }


def incidents() -> list[dict[str, Any]]:
    """The mother a victim at home (register trigger); a pregnant victim (report trigger)."""
    mother = {
        "person_ref": "CANARY-P1",
        "role": "victim",
        "given_name": "Canarymum",
        "family_name": "Zzcanaryvole",
        "date_of_birth": MOTHER_DOB,
        "address": HOME,
        "nhs_number": NHS[1],
    }
    suspect = {"person_ref": "CANARY-P2", "role": "suspect", "given_name": "Canarydad"}
    pregnant = {
        "person_ref": "CANARY-P3",
        "role": "victim",
        "given_name": "Canarypreg",
        "family_name": "Zzcanarywren",
        "date_of_birth": PREGNANT_DOB,
        "pregnant": True,
        "nhs_number": NHS[2],
    }
    return [incident(1, HOME, [mother, suspect]), incident(2, ELSEWHERE, [pregnant])]


def scrape(url: str) -> str:
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        return str(response.read().decode())


def samples(text: str, name: str, **labels: str) -> list[float]:
    """The values of every sample of `name` whose labels include `labels`."""
    return [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(samples(text, name, **labels))


def test_no_canary_reaches_any_metrics_page_and_the_metrics_tell_what_happened(
    stack: Stack,
) -> None:
    decide, deliver = stack.web_urls
    stack.publish("register", register_events())
    wait_for("the register subject", lambda: stack.register_size() == 1)
    stack.publish("incidents", incidents())
    poison = json.dumps({"schema": "police-incident/1", "given_name": "Canaryqzx"}).encode()
    stack.produce_raw("police-incidents", poison, key=b"CANARY-INC-9999")

    def raised() -> bool:
        text = scrape(deliver)
        return total(text, "dvtrigger_seconds_reported_to_task_count", kind="investigation") >= 2

    wait_for("two investigations raised", raised, timeout=45)
    wait_for("the poison message dead-lettered", lambda: len(stack.read_topic("dead-letter")) == 1)
    texts = {"decide": scrape(decide), "deliver": scrape(deliver), "inbox": scrape(stack.inbox_url)}

    for process, text in texts.items():
        found = [c for c in (*CANARIES, CHILD_DOB) if c.casefold() in text.casefold()]
        assert found == [], f"{process} /metrics carries {found}"

    decided, delivered, inbox = texts["decide"], texts["deliver"], texts["inbox"]
    poisoned = total(
        decided, "dvtrigger_dead_letters_total", source="police-incidents", reason="schema"
    )
    assert poisoned == 1
    outcomes = "dvtrigger_subject_outcomes_total"
    assert total(decided, outcomes, outcome="trigger", rule="police_report_pregnant") == 1
    assert total(decided, outcomes, outcome="trigger") == 2
    assert samples(decided, outcomes, rule="unknown") == []
    fresh = total(
        delivered, "dvtrigger_seconds_reported_to_task_bucket", kind="investigation", le="900.0"
    )
    assert fresh == 2  # reported 30 s before publishing: within the 15-minute SLO
    assert total(inbox, "dvtrigger_duty_inbox_tasks_unacknowledged", kind="investigation") == 2
    waited = total(inbox, "dvtrigger_duty_inbox_oldest_unacknowledged_age_seconds")
    assert 0 <= waited < 60
    newest = "dvtrigger_police_newest_notification_timestamp_seconds"
    assert total(decided, newest) == REPORTED.timestamp()
    register = "dvtrigger_register_newest_event_timestamp_seconds"
    assert total(decided, register) == REGISTER_RECORDED.timestamp()
    assert total(decided, "dvtrigger_register_newest_event_age_seconds") >= 2 * 3600
    read = "dvtrigger_consumer_last_message_timestamp_seconds"
    assert total(decided, read, topic="police-incidents") >= NOW.timestamp() - 60
    assert total(delivered, read, topic="task-commands") >= NOW.timestamp() - 60

    def caught_up() -> bool:
        text = scrape(decide)
        waiting = samples(text, "dvtrigger_consumer_offset_lag", topic="police-incidents")
        behind = samples(text, "dvtrigger_consumer_lag_seconds", topic="police-incidents")
        return waiting == [0] and behind == [0]

    wait_for("the decide process to have nothing waiting", caught_up, timeout=15)


def test_a_worker_held_up_on_a_message_shows_it_waiting_then_catches_up(stack: Stack) -> None:
    """The retry agent sleeps until a command is due: meanwhile its message is not processed."""
    _, deliver = stack.web_urls
    now = time.time()
    due_soon = RetryState(attempts=1, first_attempt_at=now, due_at=now + 10, reason_class="5xx")
    kafka = producer(stack.bootstrap)
    try:
        value = sample_raise_task().model_dump_json().encode()
        topic = stack.settings.topic("task-retries")
        kafka.send(topic, key=b"k", value=value, headers=due_soon.headers()).get(timeout=30)
    finally:
        kafka.close()

    def retries_lag() -> tuple[list[float], float]:
        text = scrape(deliver)
        waiting = samples(text, "dvtrigger_consumer_offset_lag", topic="task-retries")
        return waiting, total(text, "dvtrigger_consumer_lag_seconds", topic="task-retries")

    def held_up() -> bool:
        waiting, seconds = retries_lag()
        return waiting == [1] and seconds >= 2

    wait_for("one message waiting 2 s", held_up, timeout=9)
    assert samples(scrape(deliver), "dvtrigger_consumer_offset_lag", topic="task-commands") == [0]
    wait_for("the retry delivered, nothing waiting", lambda: retries_lag() == ([0], 0), timeout=20)
