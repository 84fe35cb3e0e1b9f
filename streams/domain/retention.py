"""Retention, the pure part: when a register subject or an incident's state may be purged.

A register subject is held while the rule could find it in scope and for a
grace period after (`purge_after_days`): a police report may arrive late for
an incident that happened while the child was in scope, and the recent
incidents (`recent_incidents_days`) are re-decided against the register as it
is now. The last day a subject can be in scope is its scope window's end
(`scope_window`, a superset of `rules.scope`): its first birthday, the end of
a pregnancy (a birth recorded, a loss, or its expected date a year past), or
its withdrawal. A subject whose window has no end (a child whose date of
birth the register does not know, a pregnancy with no date at all) is never
purged: missing a child is worse than holding a record too long.

A pregnancy and the child records that follow it are judged as one family: a
child is matched with its pregnancy's carers and home, and a pregnancy's scope
ends with its child's birth, so one is never purged while another is held.

An incident's state is held while the incident is recent (re-decided on
register changes) and a margin after, counted from the later of its incident
day and the day its latest revision was reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from streams.domain.register.index import RegisterView
from streams.domain.register.records import LATEST, SubjectRecord, scope_window


def leaves_scope(record: SubjectRecord, register: RegisterView) -> date | None:
    """The day from which the subject is out of scope for good; None when there is none."""
    _, end = scope_window(record, register.child_of_pregnancy(record.subject_ref))
    if end >= LATEST:
        return None
    return date.fromordinal(end)


def purge_from(record: SubjectRecord, register: RegisterView, purge_after_days: int) -> date | None:
    """The first day the subject alone may be purged (None: never, its scope has no end)."""
    left = leaves_scope(record, register)
    return None if left is None else left + timedelta(days=purge_after_days)


def family_purge_from(
    refs: Iterable[str], register: RegisterView, purge_after_days: int
) -> date | None:
    """The first day a family (a pregnancy and its children) may be purged: when all may be.

    A member the register does not hold is left out; None when one member is
    never purged, or none is held.
    """
    latest: date | None = None
    for ref in refs:
        record = register.get(ref)
        if record is None:
            continue
        day = purge_from(record, register, purge_after_days)
        if day is None:
            return None
        latest = day if latest is None else max(latest, day)
    return latest


def family_purgeable(
    refs: Iterable[str], register: RegisterView, today: date, purge_after_days: int
) -> bool:
    """Whether every held member of a family may be purged on `today`."""
    day = family_purge_from(refs, register, purge_after_days)
    return day is not None and today >= day


def ended_by(today: date, purge_after_days: int) -> int:
    """The day ordinal a scope window must end by for its subject to be purged on `today`.

    A subject whose window ends after it is not purged today; the index finds
    the others without reading their records (`RegisterIndex.ended_by`).
    """
    return today.toordinal() - purge_after_days


def incident_purge_from(day: date, reported: date, recent_days: int, margin_days: int) -> date:
    """The first day an incident's state may be purged: past the recent window, and a margin.

    Counted from the later of the incident day and the day the latest revision
    was reported, so an old incident reported late is still held a full window.
    """
    return max(day, reported) + timedelta(days=recent_days + margin_days + 1)


def incident_purgeable(
    day: date, reported: date, today: date, recent_days: int, margin_days: int
) -> bool:
    """Whether an incident's state may be purged on `today`."""
    return today >= incident_purge_from(day, reported, recent_days, margin_days)
