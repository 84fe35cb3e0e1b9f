"""Retention rules: a subject is purged a grace period after it leaves scope, and never while
the rule could find it in scope; an incident's state outlives its recent window."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.config.settings import Settings
from streams.domain.config import RulesConfig
from streams.domain.late import window_start
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import (
    MAX_GESTATION_DAYS,
    PregnancyEnd,
    SubjectRecord,
    first_anniversary,
)
from streams.domain.retention import (
    ended_by,
    family_purge_from,
    family_purgeable,
    incident_purge_from,
    incident_purgeable,
    leaves_scope,
)
from streams.domain.rules import scope

DAYS = st.dates(date(2024, 1, 1), date(2027, 12, 31))
MAYBE_DAY = st.none() | DAYS
GRACE = 180
BORN = date(2026, 2, 11)


def child(ref: str = "C1", **kw: object) -> SubjectRecord:
    """A child record (born BORN unless told otherwise)."""
    kw.setdefault("date_of_birth", BORN)
    return SubjectRecord(subject_ref=ref, kind="child", **kw)  # type: ignore[arg-type]


def pregnancy(ref: str = "U1", **kw: object) -> SubjectRecord:
    """An unborn subject due on 2026-02-20 unless told otherwise."""
    kw.setdefault("expected_delivery_date", date(2026, 2, 20))
    return SubjectRecord(subject_ref=ref, kind="unborn", **kw)  # type: ignore[arg-type]


def purgeable(index: RegisterIndex, ref: str, today: date, grace: int = GRACE) -> bool:
    """Whether the family of `ref` may be purged on `today`."""
    return family_purgeable(index.family(ref), index, today, grace)


def first_purge_day(index: RegisterIndex, ref: str, grace: int = GRACE) -> date | None:
    """The first day the family of `ref` may be purged."""
    return family_purge_from(index.family(ref), index, grace)


# --- when a subject leaves scope, and when it may be purged ---------------------------------


def test_a_child_is_purged_the_grace_period_after_its_first_birthday() -> None:
    index = RegisterIndex([child()])
    birthday = first_anniversary(BORN)
    assert leaves_scope(child(), index) == birthday
    assert first_purge_day(index, "C1") == birthday + timedelta(days=GRACE)
    assert not purgeable(index, "C1", birthday + timedelta(days=GRACE - 1))
    assert purgeable(index, "C1", birthday + timedelta(days=GRACE))


def test_a_lost_pregnancy_leaves_scope_the_day_after_it_ended() -> None:
    lost = pregnancy(pregnancy_end=PregnancyEnd(on=date(2025, 11, 3), outcome="loss"))
    index = RegisterIndex([lost])
    assert leaves_scope(lost, index) == date(2025, 11, 4)
    assert first_purge_day(index, "U1") == date(2025, 11, 4) + timedelta(days=GRACE)


def test_a_pregnancy_with_no_end_is_held_until_a_year_past_its_expected_date() -> None:
    index = RegisterIndex([pregnancy()])
    assert leaves_scope(pregnancy(), index) == date(2027, 2, 20)
    assert not purgeable(index, "U1", date(2027, 2, 20) + timedelta(days=GRACE - 1))
    assert purgeable(index, "U1", date(2027, 2, 20) + timedelta(days=GRACE))


def test_a_withdrawn_subject_leaves_scope_on_its_withdrawal() -> None:
    withdrawn = child(withdrawn_on=date(2026, 3, 1))
    index = RegisterIndex([withdrawn])
    assert leaves_scope(withdrawn, index) == date(2026, 3, 1)
    assert purgeable(index, "C1", date(2026, 3, 1) + timedelta(days=GRACE))


@pytest.mark.parametrize(
    "record",
    [
        SubjectRecord(subject_ref="C1", kind="child"),  # no date of birth: in scope every day
        SubjectRecord(subject_ref="U1", kind="unborn"),  # no date at all
    ],
)
def test_a_subject_whose_scope_has_no_end_is_never_purged(record: SubjectRecord) -> None:
    index = RegisterIndex([record])
    assert leaves_scope(record, index) is None
    assert first_purge_day(index, record.subject_ref) is None
    assert not purgeable(index, record.subject_ref, date(2999, 1, 1))
    assert record.subject_ref not in index.ended_by(ended_by(date(2999, 1, 1), GRACE))


def test_a_pregnancy_is_held_as_long_as_the_child_it_became() -> None:
    """The child is matched with its pregnancy's carers and home: they go together."""
    born = child("C1", from_pregnancy_ref="U1", date_of_birth=date(2026, 2, 18))
    index = RegisterIndex([pregnancy(), born])
    assert index.family("U1") == index.family("C1") == ["C1", "U1"]
    # The pregnancy alone left scope at the birth; the family waits for the first birthday.
    assert leaves_scope(pregnancy(), index) == date(2026, 2, 18)
    expected = first_anniversary(date(2026, 2, 18)) + timedelta(days=GRACE)
    assert first_purge_day(index, "U1") == first_purge_day(index, "C1") == expected
    assert not purgeable(index, "U1", expected - timedelta(days=1))


def test_twins_are_held_until_both_may_go() -> None:
    first = child("C1", from_pregnancy_ref="U1", date_of_birth=date(2026, 2, 18))
    second = child("C2", from_pregnancy_ref="U1", date_of_birth=None)  # never leaves scope
    index = RegisterIndex([pregnancy(), first, second])
    assert index.family("C1") == ["C1", "C2", "U1"]
    assert first_purge_day(index, "C1") is None


def test_the_index_finds_every_purgeable_subject_without_reading_a_record() -> None:
    records = [child("C1"), child("C2", date_of_birth=date(2026, 9, 1)), pregnancy()]
    index = RegisterIndex(records)
    today = date(2027, 8, 20)
    assert sorted(index.ended_by(ended_by(today, GRACE))) == ["C1", "U1"]
    assert [r.subject_ref for r in records if purgeable(index, r.subject_ref, today)] == [
        "C1",
        "U1",
    ]


# --- the property: nothing in scope is purged -----------------------------------------------

pregnancies = st.builds(
    SubjectRecord,
    subject_ref=st.just("U1"),
    kind=st.sampled_from(["unborn", "child"]),
    date_of_birth=MAYBE_DAY,
    expected_delivery_date=MAYBE_DAY,
    registered_on=MAYBE_DAY,
    pregnancy_end=st.none()
    | st.builds(
        PregnancyEnd, on=DAYS, outcome=st.sampled_from([None, "live_birth", "loss", "termination"])
    ),
    withdrawn_on=MAYBE_DAY,
)
children = st.builds(
    SubjectRecord,
    subject_ref=st.sampled_from(["C1", "C2"]),
    kind=st.just("child"),
    date_of_birth=MAYBE_DAY,
    registered_on=MAYBE_DAY,
    expected_delivery_date=MAYBE_DAY,
    from_pregnancy_ref=st.sampled_from(["U1", None]),
    withdrawn_on=MAYBE_DAY,
)
families = st.tuples(
    st.none() | pregnancies, st.lists(children, max_size=2, unique_by=lambda r: r.subject_ref)
).filter(lambda family: family[0] is not None or family[1])


def turning_days(record: SubjectRecord, day: date) -> list[date]:
    """`day`, and the days either side of each date the rule turns on for `record`."""
    end = record.pregnancy_end
    dates = [record.date_of_birth, record.registered_on, record.withdrawn_on, end and end.on]
    dates.append(record.expected_delivery_date)
    dates += [first_anniversary(d) for d in list(dates) if d]
    return [day, *(d + timedelta(days=k) for d in dates if d for k in (-1, 0, 1))]


@settings(max_examples=1500, deadline=None)
@given(families, DAYS, st.integers(0, MAX_GESTATION_DAYS), st.integers(0, 400))
def test_no_subject_in_scope_on_a_day_is_purged_within_the_grace_period_after_it(
    family: tuple[SubjectRecord | None, list[SubjectRecord]], day: date, gestation: int, grace: int
) -> None:
    """For every member in scope on a day: its family is not purged on that day, nor on any
    day of the grace period after it (the late police report of an incident that day)."""
    held = [r for r in (family[0], *family[1]) if r is not None]
    index = RegisterIndex(held)
    config = RulesConfig(gestation_days=gestation)
    for record in held:
        refs = index.family(record.subject_ref)
        first = family_purge_from(refs, index, grace)
        for when in turning_days(record, day):
            if scope(record, index, when, config) is not None:
                assert first is None or first > when + timedelta(days=grace), (record, when)
                assert not family_purgeable(refs, index, when, grace)
                assert not family_purgeable(refs, index, when + timedelta(days=grace), grace)


@settings(max_examples=500, deadline=None)
@given(families, DAYS, st.integers(0, 400))
def test_the_index_names_every_subject_that_may_be_purged(
    family: tuple[SubjectRecord | None, list[SubjectRecord]], today: date, grace: int
) -> None:
    held = [r for r in (family[0], *family[1]) if r is not None]
    index = RegisterIndex(held)
    named = set(index.ended_by(ended_by(today, grace)))
    for record in held:
        if family_purgeable(index.family(record.subject_ref), index, today, grace):
            assert record.subject_ref in named


# --- incident state --------------------------------------------------------------------------


def test_an_incident_state_outlives_its_recent_window_by_the_margin() -> None:
    day = date(2026, 1, 10)
    assert incident_purge_from(day, day, 90, 30) == day + timedelta(days=121)
    assert not incident_purgeable(day, day, day + timedelta(days=120), 90, 30)
    assert incident_purgeable(day, day, day + timedelta(days=121), 90, 30)


def test_an_incident_reported_late_is_held_from_its_report() -> None:
    day, reported = date(2025, 6, 1), date(2026, 1, 10)
    assert incident_purge_from(day, reported, 90, 30) == reported + timedelta(days=121)


@given(DAYS, st.integers(0, 400), st.integers(0, 400), st.integers(0, 400), st.integers(0, 90))
def test_a_recent_incident_is_never_purged(
    today: date, back: int, late: int, recent: int, margin: int
) -> None:
    day = today - timedelta(days=back)
    reported = day + timedelta(days=late)
    if day >= window_start(today, recent):
        assert not incident_purgeable(day, reported, today, recent, margin)


# --- settings -------------------------------------------------------------------------------


def test_retention_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    retention = Settings().retention
    assert (retention.register_purge_after_days, retention.incident_state_margin_days) == (180, 30)
    assert (retention.purge_interval_s, retention.inbox_task_days) == (3600.0, 365)
    monkeypatch.setenv("DVTRIGGER_RETENTION__INBOX_TASK_DAYS_BY_COUNCIL", '{"E09000033": 730}')
    monkeypatch.setenv("DVTRIGGER_RETENTION__PURGE_INTERVAL_S", "60")
    retention = Settings().retention
    assert retention.inbox_task_days_by_council == {"E09000033": 730}
    assert retention.purge_interval_s == 60.0


def test_subjects_are_held_at_least_as_long_as_incidents_are_re_decided() -> None:
    with pytest.raises(ValidationError, match="register_purge_after_days"):
        Settings(recent_incidents_days=200)
    assert Settings(recent_incidents_days=180).recent_incidents_days == 180


def test_a_council_period_is_not_negative() -> None:
    with pytest.raises(ValidationError, match="negative"):
        Settings(retention={"inbox_task_days_by_council": {"E09000033": -1}})  # type: ignore[arg-type]
