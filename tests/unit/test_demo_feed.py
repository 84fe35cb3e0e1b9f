"""The live demo of `make run`: a world whose incidents happen today, each re-timed to when it
is published, deciding as the simulator meant."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from functools import cache

import pytest

from connectors.simulate import INCIDENT, REGISTER, iter_demo_on, retimed, simulate
from connectors.simulate.clock import LONDON, local_day
from connectors.simulate.stream import RECENT
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.register.index import RegisterIndex
from streams.domain.rules import decide
from tests.support.fakes import register_of

DAY = date(2026, 12, 3)
SEED = 7


@cache
def feed() -> tuple[tuple[str, dict[str, object]], ...]:
    """The demo feed of `DAY` (built once: it takes a moment)."""
    return tuple(iter_demo_on(SEED, DAY))


@cache
def register() -> RegisterIndex:
    """The register the demo publishes first."""
    events = [m for role, m in feed() if role == REGISTER]
    return register_of(*(RegisterEvent.model_validate_json(json.dumps(e)) for e in events))


def incidents() -> list[dict[str, object]]:
    """The demo's incident messages, in the order published."""
    return [m for role, m in feed() if role == INCIDENT]


def test_the_register_comes_first_then_incidents_all_of_the_day() -> None:
    roles = [role for role, _ in feed()]
    first = roles.index(INCIDENT)
    assert set(roles[:first]) == {REGISTER} and set(roles[first:]) == {INCIDENT}
    assert len(incidents()) >= 20
    assert {local_day(str(m["occurred_at"])) for m in incidents()} == {DAY}
    truth = simulate(SEED, 24, 40, start=DAY, days=1).truth
    kinds = {line["incident_id"]: line["kind"] for line in truth}
    assert kinds[str(incidents()[0]["incident_id"])] == "carer_at_home"


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 3, 0, 10, tzinfo=LONDON),  # just after midnight
        datetime(2026, 12, 3, 14, 0, tzinfo=LONDON),
        datetime(2026, 12, 3, 23, 55, tzinfo=LONDON),
        datetime(2026, 12, 4, 0, 20, tzinfo=LONDON),  # the feed ran past midnight
    ],
)
def test_a_retimed_incident_is_reported_now_and_happened_shortly_before_on_the_day(
    now: datetime,
) -> None:
    for message in incidents():
        live = retimed(message, now, DAY)
        incident = PoliceIncident.model_validate_json(json.dumps(live))
        assert incident.reported_at == now
        assert now - RECENT <= incident.occurred_at <= now
        assert incident.occurred_at.astimezone(LONDON).date() == DAY
        assert (incident.incident_id, incident.persons) == (
            message["incident_id"],
            PoliceIncident.model_validate_json(json.dumps(message)).persons,
        )


def test_a_later_revision_keeps_the_first_ones_occurred_at() -> None:
    first = retimed(incidents()[0], datetime(2026, 12, 3, 14, 0, tzinfo=UTC), DAY)
    later = retimed(incidents()[0], datetime(2026, 12, 3, 15, 0, tzinfo=UTC), DAY, "x")
    assert later["occurred_at"] == "x"
    assert later["reported_at"] == "2026-12-03T15:00:00+00:00"
    assert first["occurred_at"] != "x"


@pytest.mark.parametrize(
    "now", [datetime(2026, 12, 3, 16, 30, tzinfo=UTC), datetime(2026, 12, 3, 0, 5, tzinfo=UTC)]
)
def test_a_retimed_incident_decides_as_the_simulator_meant(now: datetime) -> None:
    outcomes = []
    for message in incidents():
        original = PoliceIncident.model_validate_json(json.dumps(message))
        live = PoliceIncident.model_validate_json(json.dumps(retimed(message, now, DAY)))
        before, after = decide(original, register()), decide(live, register())
        assert after.decision == before.decision, message["incident_id"]
        assert [(s.subject_ref, s.outcome) for s in after.subjects] == [
            (s.subject_ref, s.outcome) for s in before.subjects
        ]
        outcomes.append(after.decision)
    assert "trigger" in outcomes  # the demo raises tasks


def test_the_demo_is_not_months_old() -> None:
    now = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
    live = [retimed(m, now, DAY) for m in incidents()]
    assert min(datetime.fromisoformat(str(m["occurred_at"])) for m in live) >= now - timedelta(
        hours=14
    )
