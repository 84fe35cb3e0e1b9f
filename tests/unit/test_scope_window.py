"""Scope windows: a subject is never dropped on a day the rule could find it in scope."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.simulate import simulate
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.config import RulesConfig
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import (
    MAX_GESTATION_DAYS,
    PregnancyEnd,
    SubjectRecord,
    apply_event,
    first_anniversary,
    scope_window,
)
from streams.domain.rules import decide, incident_day, scope

DAYS = st.dates(date(2024, 1, 1), date(2027, 12, 31))
MAYBE_DAY = st.none() | DAYS


class OneChild:
    """A register view that knows one subject's child, and nothing else."""

    def __init__(self, child: SubjectRecord | None) -> None:
        self.child = child

    def get(self, subject_ref: str) -> SubjectRecord | None:
        return None

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        return self.child


def boundaries(record: SubjectRecord, child: SubjectRecord | None, gestation: int) -> list[date]:
    """The days either side of every date the rule turns on: where a window could be off by one."""
    end = record.pregnancy_end
    dates = [record.date_of_birth, record.registered_on, record.withdrawn_on, end and end.on]
    dates += [child.date_of_birth if child else None]
    edd = record.expected_delivery_date
    dates += [edd, edd - timedelta(days=gestation) if edd else None]
    dates += [first_anniversary(d) for d in list(dates) if d]
    return [d + timedelta(days=k) for d in dates if d for k in (-1, 0, 1)]


records = st.builds(
    SubjectRecord,
    subject_ref=st.just("S1"),
    kind=st.sampled_from(["child", "unborn"]),
    date_of_birth=MAYBE_DAY,
    expected_delivery_date=MAYBE_DAY,
    registered_on=MAYBE_DAY,
    pregnancy_end=st.none()
    | st.builds(
        PregnancyEnd,
        on=DAYS,
        outcome=st.sampled_from([None, "live_birth", "loss", "termination"]),
    ),
    withdrawn_on=MAYBE_DAY,
)
children = st.none() | st.builds(
    SubjectRecord, subject_ref=st.just("C1"), kind=st.just("child"), date_of_birth=MAYBE_DAY
)


@settings(max_examples=2000)
@given(records, children, DAYS, st.integers(0, MAX_GESTATION_DAYS))
def test_a_subject_in_scope_on_a_day_has_a_window_holding_it(
    record: SubjectRecord, child: SubjectRecord | None, day: date, gestation: int
) -> None:
    config = RulesConfig(gestation_days=gestation)
    first, end = scope_window(record, child)
    for when in (day, *boundaries(record, child, gestation)):
        if scope(record, OneChild(child), when, config) is not None:  # type: ignore[arg-type]
            assert first <= when.toordinal() < end, when


def test_a_window_is_narrow_for_a_child_born_and_a_pregnancy_that_ended() -> None:
    born = date(2026, 3, 1)
    child = SubjectRecord(subject_ref="C1", kind="child", date_of_birth=born)
    assert scope_window(child) == (born.toordinal(), date(2027, 3, 1).toordinal())
    lost = SubjectRecord(
        subject_ref="U1",
        kind="unborn",
        expected_delivery_date=date(2026, 9, 1),
        pregnancy_end=PregnancyEnd(on=date(2026, 2, 1), outcome="loss"),
    )
    begun = date(2026, 9, 1) - timedelta(days=MAX_GESTATION_DAYS)
    assert scope_window(lost) == (begun.toordinal(), date(2026, 2, 2).toordinal())


def test_a_pregnancy_window_ends_at_its_childs_birth_whichever_is_filed_first() -> None:
    pregnancy = SubjectRecord(
        subject_ref="U1", kind="unborn", expected_delivery_date=date(2026, 9, 1)
    )
    child = SubjectRecord(
        subject_ref="C1", kind="child", date_of_birth=date(2026, 8, 20), from_pregnancy_ref="U1"
    )
    for order in ([pregnancy, child], [child, pregnancy]):
        index = RegisterIndex(order)
        assert index._postings.window("U1") == scope_window(pregnancy, child)
    index.remove("C1")
    assert index._postings.window("U1") == scope_window(pregnancy)


def test_decisions_are_the_same_with_the_windows_as_without() -> None:
    scenario = simulate(9, 150, 300)
    index = RegisterIndex()
    for body in scenario.register:
        event = RegisterEvent.model_validate(body)
        index.upsert(apply_event(index.get(event.subject.subject_ref), event))

    class NoWindows:
        def __getattr__(self, name: str) -> object:
            return getattr(index, name)

        def candidates(self, incident: PoliceIncident, day: date | None = None) -> object:
            return index.candidates(incident)

    dropped = 0
    for body in scenario.incidents:
        incident = PoliceIncident.model_validate(body)
        windowed, plain = decide(incident, index), decide(incident, NoWindows())  # type: ignore[arg-type]
        assert (windowed.decision, windowed.subjects) == (plain.decision, plain.subjects)
        day = incident_day(incident)
        dropped += len(index.candidates(incident)) - len(index.candidates(incident, day))
    assert dropped > 0  # the windows did drop candidates out of scope
