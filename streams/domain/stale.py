"""Why a task was raised on stale knowledge, in words a duty worker reads; pure.

The register often hears of a loss, a move or a withdrawal days after it
happened. A re-decision that no longer names a subject a task was raised for
says why, from the subject's register record as it now stands: the pregnancy had
already ended, the family had already moved, or the record was withdrawn, before
the incident; otherwise the incident no longer matches the family. The task is
then updated with these words and marked for a person to confirm or close
(`streams.domain.late`); it is never closed by the machine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from streams.domain.births import face
from streams.domain.register.index import RegisterView
from streams.domain.register.records import SubjectRecord

#: Why a task is marked for confirmation: the label values of `dvtrigger_tasks_flagged_total`.
PREGNANCY_ENDED, MOVED, WITHDRAWN, NO_LONGER_MATCHED = (
    "pregnancy_ended",
    "moved",
    "withdrawn",
    "no_longer_matched",
)
REASONS = (PREGNANCY_ENDED, MOVED, WITHDRAWN, NO_LONGER_MATCHED)
_ASK = "Please confirm whether this task is still needed, or close it."


@dataclass(frozen=True, slots=True)
class Flag:
    """Why a task needs a person to confirm or close it: a metric label and the words."""

    reason: str
    words: str


def _day(on: date) -> str:
    """A date as a duty worker writes it: 3 July 2026."""
    return f"{on.day} {on:%B %Y}"


def _moved_on(record: SubjectRecord, day: date) -> date | None:
    """When the family moved to the home they had on the incident day, if they had another
    before it (from the record alone, so every re-decision of one record says the same)."""
    spans = [span for span in record.addresses if span.effective_from <= day]
    if not spans:
        return None
    home = spans[-1]
    return home.effective_from if any(s.address != home.address for s in spans) else None


def stale_flag(record: SubjectRecord | None, day: date, on: date) -> Flag:
    """Why the task of `record` no longer stands on the incident `day`, as of `on`."""
    when = f" The register told us of this on {_day(on)}, after the task was raised. {_ASK}"
    if record is None:
        return Flag(NO_LONGER_MATCHED, f"This incident no longer matches this subject.{when}")
    if record.withdrawn_on is not None and record.withdrawn_on <= day:
        what = f"The register has withdrawn this record from {_day(record.withdrawn_on)}"
        return Flag(WITHDRAWN, f"{what}, on or before the day of the incident.{when}")
    end = record.pregnancy_end
    if record.kind == "unborn" and end is not None and end.outcome in ("loss", "termination"):
        what = f"The register has recorded that this pregnancy ended on {_day(end.on)}"
        if end.on < day:
            return Flag(PREGNANCY_ENDED, f"{what}, before the day of the incident.{when}")
    moved = _moved_on(record, day)
    if moved is not None:
        what = f"The register has recorded that the family moved home on {_day(moved)}"
        words = f"{what}, before the day of the incident, so the incident no longer matches them."
        return Flag(MOVED, f"{words}{when}")
    words = "With what the register has learned since, the incident no longer matches this family."
    return Flag(NO_LONGER_MATCHED, f"{words}{when}")


def unmarked_flags(
    raised: Mapping[str, str],
    named: Mapping[str, object],
    carried: Mapping[str, str],
    flagged: Mapping[str, str],
    register: RegisterView,
    day: date,
    on: date,
) -> dict[str, Flag]:
    """The register subjects' tasks (`raised`) that no task key in `named` covers, each with
    why, unless marked already for the same reason (`flagged`): one change marks a task once."""
    flags: dict[str, Flag] = {}
    for task in sorted(raised):
        if task in named or not task.startswith("subject:"):
            continue  # a police-report subject drops out only when a register one covers it
        ref = face(task, carried, register).partition(":")[2]
        flag = stale_flag(register.get(ref), day, on)
        if flagged.get(task) != flag.reason:
            flags[task] = flag
    return flags
