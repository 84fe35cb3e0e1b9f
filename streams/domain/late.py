"""Late knowledge, the pure part: which recent incidents a register change may concern, and
what re-deciding one of them changes.

The register often learns of a family after an incident: a pregnancy booked, or
a birth registered, weeks later. The rule is judged on the incident day, so the
incident should have triggered, and it still must. Each worker keeps the recent
incidents it owns (their latest revision, in the incident state) and an index
from blocking key to incident id beside them; a changed subject record finds the
incidents that share a blocking key with it or its linked pregnancy or child,
never by a scan. `streams.flows.late` re-decides those.

What a re-decision may do, and why:

- **Log** a new decision/1 record for the same revision when the outcomes by
  subject differ from the last one logged: the latest record of each incident
  then equals what replay (which folds the whole register first) decides.
- **Raise** tasks only for subjects no task was raised for yet, marked late
  with a reason that carries no personal data.
- **Upgrade** a review to an investigation: a subject whose task was raised
  as a review and now triggers gets its task updated (the command's
  `amendment` counts up, so the case system takes it on the same revision),
  marked late, saying what changed.
- **Follow the birth**: a child born of a pregnancy a task was raised for is
  that task, updated (`streams.domain.births`), never a second one; so is a
  child born after the incident day, whom the decision does not name: the
  task is updated once with the birth (the incident state's `births` records
  what it was told), and again only when the birth's words change (a
  corrected date of birth).
- **Follow the police report**: a register subject that is the baby a
  police-report task was raised for (`rules.covering`) is that task, updated
  with the register's record, never a second one.
- **Never withdraw or downgrade, never stay silent**: a task whose subject a
  re-decision no longer names keeps the outcome it was raised with and stays
  open, but is updated with why (the pregnancy had already ended, the family
  had already moved, the record was withdrawn, or the incident no longer
  matches: `streams.domain.stale`) and marked for a person to confirm or close
  (`needs_confirmation`). The incident state records the reason, so one change
  marks a task once; a subject the register puts back lifts the mark, saying
  so. Only a later police revision withdraws; a subject named with a weaker
  outcome keeps its task as raised.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from schemas.decision import Decision, DecisionSubject
from streams.domain.births import carriers, merged, task_of
from streams.domain.matching.blocking import record_keys
from streams.domain.newborns import birth_news, unnamed_births
from streams.domain.register.index import RegisterView, key_hash
from streams.domain.register.postings import PackedPostings
from streams.domain.register.records import SubjectRecord
from streams.domain.stale import Flag, unmarked_flags
from streams.domain.tasks import subject_key

#: Results of re-deciding one incident, the label values of `dvtrigger_incidents_redecided_total`.
LATE_TASK, DECISION_ONLY, UNCHANGED, FAILED = "late_task", "decision_only", "unchanged", "failed"
#: The result of a re-decision that only marked tasks for a person to confirm or close.
TASK_FLAGGED = "task_flagged"
#: What a task marked for confirmation says when the register puts its subject back.
RESTORED = (
    "the register's record again puts this subject in scope and matched on the day of the"
    " incident, so the earlier request to confirm or close this task no longer applies"
)
#: How a change is described when a worker finds it by re-checking its recent incidents
#: (after a restart or a rebalance) rather than as the register event arrived.
RECHECKED = "found when this worker re-checked its recent incidents after a restart or rebalance"


class RecentIncidents:
    """The recent incidents this worker owns, by blocking key and by incident day (in memory).

    Held packed (`PackedPostings`: each key a 40-bit hash in sorted NumPy runs, each
    incident's day its window), not as a set of incident ids per key: about 90
    keys an incident, 90 days of incidents, and every day's added and expired.
    Sets and key strings held that long, and allocated among each decision's
    short-lived objects, left CPython's allocator unable to give its arenas
    back: in the two-year soak they were a quarter of the decide worker's
    small objects and its memory grew month after month while what it held was
    flat. A hash shared by two keys only adds an incident to re-check, which
    re-deciding finds unchanged.
    """

    #: Incidents whose postings the memtable holds before they are sorted into a run:
    #: small, so few postings wait as Python objects.
    MEMTABLE_RECORDS = 128

    def __init__(self) -> None:
        """An empty index."""
        self._postings = PackedPostings(self.MEMTABLE_RECORDS)

    def __len__(self) -> int:
        """How many incidents the index holds."""
        return len(self._postings)

    def __contains__(self, incident_id: object) -> bool:
        """Whether the index holds this incident."""
        return incident_id in self._postings

    def add(self, incident_id: str, day: date, keys: Iterable[str]) -> None:
        """Index one incident (its latest revision replaces an earlier one)."""
        ordinal = day.toordinal()
        hashes = [key_hash(key) for key in set(keys)]
        self._postings.file(incident_id, hashes, b"", (ordinal, ordinal + 1))

    def remove(self, incident_id: str) -> None:
        """Forget one incident (nothing happens when it is unknown)."""
        self._postings.discard(incident_id)

    def expire(self, start: date) -> int:
        """Forget every incident whose day is before `start`; how many went."""
        old = self._postings.ended_by(start.toordinal())
        for incident_id in old:
            self._postings.discard(incident_id)
        return len(old)

    def clear(self) -> None:
        """Forget everything (before a rebuild)."""
        self._postings = PackedPostings(self.MEMTABLE_RECORDS)

    def ids(self) -> list[str]:
        """Every incident the index holds."""
        return [incident_id for incident_id, _ in self._postings.items()]

    def sharing(self, keys: Iterable[str]) -> set[str]:
        """The incidents that share at least one blocking key with `keys`."""
        found: set[str] = set()
        for hit in self._postings.lookup([key_hash(key) for key in set(keys)]):
            found.update(hit)
        return found


def local_today(now: datetime, timezone: str) -> date:
    """Today's date where incident days are judged."""
    return now.astimezone(ZoneInfo(timezone)).date()


def window_start(today: date, days: int) -> date:
    """The earliest incident day still re-decided: `days` before today."""
    return today - timedelta(days=days)


def changed_keys(
    register: RegisterView, before: SubjectRecord | None, after: SubjectRecord
) -> set[str]:
    """Blocking keys under which a changed subject can alter a decision.

    Its own keys, old and new, and those of its linked pregnancy and child:
    a child's family is judged with its pregnancy's carers and home, and the
    candidates of an incident include the links of each subject it hits.
    """
    records = [before, after]
    if after.from_pregnancy_ref:
        records.append(register.get(after.from_pregnancy_ref))
    records.append(register.child_of_pregnancy(after.subject_ref))
    keys: set[str] = set()
    for record in filter(None, records):
        keys |= record_keys(record)
    return keys


def late_reason(
    subject: DecisionSubject, before: SubjectRecord | None, after: SubjectRecord | None, on: date
) -> str:
    """Why a subject's task comes late, in words a duty worker reads (references only).

    `after` is None when the change was found by re-checking (`RECHECKED`), not
    as it happened: which record changed is then not known.
    """
    when = f": re-decided on {on.isoformat()}"
    if after is None:
        return f"the register changed after the incident ({RECHECKED}){when}"
    if subject.basis != "register" or subject.subject_ref != after.subject_ref:
        return f"the register changed after the incident{when}"
    if before is None:
        learned = "the pregnancy" if after.kind == "unborn" else "the birth"
        return f"the register learned of {learned} after the incident{when}"
    return f"the register's record of this subject changed after the incident{when}"


def named_outcomes(decision: Decision) -> dict[str, str]:
    """The decision's outcomes by subject key, for the subjects it names."""
    return {subject_key(s): s.outcome for s in decision.subjects if s.outcome}


@dataclass(frozen=True, slots=True)
class Redecision:
    """What re-deciding one incident changes: a record to log, late tasks, the new bookkeeping."""

    #: The decision/1 record to log, or None when the outcomes are as last logged.
    decision: Decision | None
    #: Subjects named for the first time, by subject key, with why they come late.
    late: dict[str, str] = field(default_factory=dict)
    #: Subjects whose task is updated, by subject key, with why: a review that now triggers,
    #: or a child now carried on its pregnancy's task (or a pregnancy on its child's).
    upgraded: dict[str, str] = field(default_factory=dict)
    #: Tasks raised, by task key (what a later revision updates or withdraws).
    outcomes: dict[str, str] = field(default_factory=dict)
    #: Outcomes of the latest decision logged.
    logged: dict[str, str] = field(default_factory=dict)
    #: Subjects carried on another subject's task (`streams.domain.births`).
    carried: dict[str, str] = field(default_factory=dict)
    #: Tasks to mark for a person to confirm or close, by task key, with why.
    flags: dict[str, Flag] = field(default_factory=dict)
    #: Tasks marked so far, by task key: the reason (what the state keeps).
    flagged: dict[str, str] = field(default_factory=dict)
    #: Births told on the tasks that carry them, by child key: the words (what the state keeps).
    births: dict[str, str] = field(default_factory=dict)

    @property
    def result(self) -> str:
        """The metric label of this re-decision."""
        if self.late or self.upgraded:
            return LATE_TASK
        if self.flags:
            return TASK_FLAGGED
        return DECISION_ONLY if self.decision is not None else UNCHANGED


@dataclass(frozen=True, slots=True)
class Known:
    """What the worker knows beside a fresh decision: the register, the incident day, and the
    incident state's carried subjects and marked tasks."""

    register: RegisterView
    day: date
    carried: Mapping[str, str] = field(default_factory=dict)
    flagged: Mapping[str, str] = field(default_factory=dict)
    #: Police-report subject keys to the register subject that is the same baby.
    covered: Mapping[str, str] = field(default_factory=dict)
    #: Births told on the tasks that carry them, by child key: the words.
    births: Mapping[str, str] = field(default_factory=dict)


def redecide(
    decision: Decision,
    raised: Mapping[str, str],
    logged: Mapping[str, str],
    before: SubjectRecord | None,
    after: SubjectRecord | None,
    on: date,
    known: Known | None = None,
) -> Redecision:
    """Compare a fresh decision of an incident with what was raised and logged for it.

    `raised` maps task keys to the outcomes tasks were raised with, `logged`
    those of the latest decision logged (by subject key); `before`/`after` are the
    subject record that changed (`after` None: a re-check, the change itself
    unknown) and `on` the day of the re-decision. With `known`, a child is kept on
    its pregnancy's task and a task no longer named is marked for confirmation.
    """
    carried = dict(known.carried) if known else {}
    links = carriers(decision, known.register, raised, carried, known.covered) if known else carried
    now_named = named_outcomes(decision)
    folded = merged(decision, links)
    tasks = {task_of(subject_key(s), links): s.outcome for s in folded.subjects if s.outcome}
    told = dict(known.births) if known else {}
    news: dict[str, str] = {}
    if known:
        links = unnamed_births(decision, known.register, set(tasks) & set(raised), links)
        news, births = birth_news(known.register, links, carried, told)
    else:
        births = told
    marked = dict(known.flagged) if known else {}
    back = {t for t in marked if t in tasks and (tasks[t], raised.get(t)) != ("review", "trigger")}
    flagged = {t: r for t, r in marked.items() if t not in back}
    flags = (
        unmarked_flags(raised, tasks, links, flagged, known.register, known.day, on)
        if known
        else {}
    )
    unchanged = links == carried and flagged == marked and births == told
    if now_named == dict(logged) and not flags and unchanged:
        return Redecision(None, {}, {}, dict(raised), dict(logged), carried, {}, flagged, told)
    restored = set(marked) - set(flagged)
    late, upgraded = _late_and_upgraded(
        folded, raised, (carried, links), restored, before, after, on
    )
    upgraded |= _births_told(folded, links, news, told, late.keys() | upgraded.keys(), on)
    record = None
    if now_named != dict(logged) or late or upgraded:
        record = _marked(decision, {**late, **upgraded}, after.subject_ref if after else None, on)
    changed = {(t := task_of(key, links)): str(tasks[t]) for key in (*late, *upgraded)}
    flagged |= {task: flag.reason for task, flag in flags.items()}
    return Redecision(
        record, late, upgraded, {**raised, **changed}, now_named, links, flags, flagged, births
    )


def _births_told(
    folded: Decision,
    links: Mapping[str, str],
    news: Mapping[str, str],
    told: Mapping[str, str],
    sent: Iterable[str],
    on: date,
) -> dict[str, str]:
    """The named subjects whose task is updated to tell a birth it was not told (`news`), with
    why; none where this re-decision updates the task already (`sent`), which tells it too."""
    tasks = {task_of(key, links) for key in sent}
    updates: dict[str, str] = {}
    for child, task in sorted((child, links[child]) for child in news):
        key = next(
            (
                subject_key(s)
                for s in folded.subjects
                if s.outcome and task_of(subject_key(s), links) == task
            ),
            None,
        )
        if key is None or task in tasks or key in updates:
            continue
        what = "corrected the birth" if child in told else "learned of the birth"
        updates[key] = f"the register {what} after the incident: re-decided on {on.isoformat()}"
    return updates


def _late_and_upgraded(
    folded: Decision,
    raised: Mapping[str, str],
    carriage: tuple[Mapping[str, str], Mapping[str, str]],
    restored: set[str],
    before: SubjectRecord | None,
    after: SubjectRecord | None,
    on: date,
) -> tuple[dict[str, str], dict[str, str]]:
    """Subjects (one per task) whose task is raised late, and those whose task is updated.

    `carriage`: the carried subjects before and after this decision; `restored`: tasks
    marked for confirmation whose subject is named again (the mark is lifted, saying so).
    """
    carried, links = carriage
    late: dict[str, str] = {}
    upgraded: dict[str, str] = {}
    for s in (s for s in folded.subjects if s.outcome):
        key = subject_key(s)
        task = task_of(key, links)
        why = late_reason(s, before, after, on)
        if task not in raised:
            late[key] = why
        elif s.outcome == "trigger" and raised[task] == "review":
            upgraded[key] = f"outcome changed from review to trigger: {why}"
        elif task != key and key not in carried:
            upgraded[key] = why  # newly carried: the task now follows the child
        elif task in restored:
            upgraded[key] = f"{RESTORED}: {why}"
    return late, upgraded


def _marked(
    decision: Decision, late: Mapping[str, str], changed_ref: str | None, on: date
) -> Decision:
    """The decision as logged after a re-decision: marked late, and why, subject by subject."""
    subjects = [
        s.model_copy(update={"late": True, "late_reason": late[subject_key(s)]})
        if subject_key(s) in late
        else s
        for s in decision.subjects
    ]
    why = (
        f"re-decided on {on.isoformat()} because the register record of {changed_ref}"
        " changed after the incident was decided"
        if changed_ref
        else f"re-decided on {on.isoformat()}: the register changed after the incident was"
        f" decided ({RECHECKED})"
    )
    return decision.model_copy(
        update={"subjects": subjects, "reasons": [*decision.reasons, why], "late": True}
    )
