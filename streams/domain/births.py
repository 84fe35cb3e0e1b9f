"""One baby, one task: a pregnancy and the child born of it share one task; pure.

The register links a child to its pregnancy (`from_pregnancy_ref`). Whichever
of the two a task was raised for first, the other is *carried* on that task:
its commands land on the same idempotency key (an update, never a second task).
When a decision names both and neither has a task yet, the pregnancy's task
carries the child. Which key carries which is kept in the incident state
(`IncidentState.carried`), so a later revision or re-decision lands on the same
task whatever the register then names.

Twins: a task carries at most one child the decision names. The first child
linked to a pregnancy's task is carried on it (the task is updated to that
child); each further named child of the same pregnancy gets a task of its own,
which says which task its twin is on. So no baby is dropped and none has two tasks.

A birth after the incident day, which no decision names, is carried on its
pregnancy's task by `streams.domain.newborns`; the task then shows the child
(`onto_tasks`).

A baby the police report named (a pregnant victim, a baby in the report) and the
register later knows is one baby too: the register subject that `_covered` finds
to be that baby (`rules.covering`) is carried on the police-report task.

A task that carries two named subjects (the pregnancy and its child) is decided
by one of them (`merged`): the child when named, with the stronger outcome of
the two and the reasons of both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from schemas.decision import Decision, DecisionSubject
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.domain.register.index import RegisterView
from streams.domain.register.records import SubjectRecord
from streams.domain.task_policy import TaskPolicy
from streams.domain.tasks import rekeyed, showing, subject_key, task_commands

_STRENGTH = {"review": 1, "trigger": 2}


def record_of(register: RegisterView, key: str) -> SubjectRecord | None:
    """The register record behind a subject key (None for a police-report subject)."""
    basis, _, ref = key.partition(":")
    return register.get(ref) if basis == "subject" else None


def _holds_child(register: RegisterView, task: str, carried: Mapping[str, str]) -> bool:
    """Whether a task is already a child's: raised for one, or carrying one."""
    keys = [task, *(key for key, on in carried.items() if on == task)]
    return any((r := record_of(register, key)) is not None and r.kind == "child" for key in keys)


def _pregnancy_task(
    register: RegisterView, child_key: str, tasks: Iterable[str], carried: Mapping[str, str]
) -> str | None:
    """The task of this child's pregnancy, when it has one that holds no child yet."""
    child = record_of(register, child_key)
    if child is None or child.kind != "child" or not child.from_pregnancy_ref:
        return None
    pregnancy = f"subject:{child.from_pregnancy_ref}"
    task = carried.get(pregnancy, pregnancy)
    if task not in tasks or _holds_child(register, task, carried):
        return None
    return task


def _child_task(
    register: RegisterView, pregnancy_key: str, tasks: Iterable[str], carried: Mapping[str, str]
) -> str | None:
    """The task of a child born of this pregnancy, raised for the child before the pregnancy."""
    _, _, ref = pregnancy_key.partition(":")
    record = record_of(register, pregnancy_key)
    if record is None or record.kind != "unborn":
        return None
    for task in sorted(tasks):
        child = record_of(register, task)
        if child is not None and child.from_pregnancy_ref == ref and task not in carried:
            pregnancies = [k for k, on in carried.items() if on == task]
            if not any((r := record_of(register, k)) and r.kind == "unborn" for k in pregnancies):
                return task
    return None


def _reported_task(
    key: str,
    tasks: Iterable[str],
    carried: Mapping[str, str],
    covered: Mapping[str, str],
    named: Iterable[str],
) -> str | None:
    """The police-report task of the baby this register subject is (`covered`), when that
    task is no longer named itself and carries no register subject yet."""
    holding = {on for k, on in carried.items() if k.startswith("subject:")}
    for person, subject in sorted(covered.items()):
        if subject == key and person in tasks and person not in named and person not in holding:
            return person
    return None


def carriers(
    decision: Decision,
    register: RegisterView,
    raised: Iterable[str],
    carried: Mapping[str, str],
    covered: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`carried` with each subject this decision names that is the same baby as a task's.

    `raised` holds the keys tasks were raised under, `carried` maps subject keys
    to the task key that carries them, `covered` police-report subject keys to the
    register subject that is the same baby (`rules.covering`). Pregnancies are
    settled first, so a pregnancy named beside its child carries it.
    """
    result = dict(carried)
    named = sorted(
        (subject_key(s) for s in decision.subjects if s.outcome is not None),
        key=lambda key: ((r := record_of(register, key)) is None or r.kind != "unborn", key),
    )
    tasks = set(raised)
    for key in named:
        if key in result or key in tasks:
            continue
        task = (
            _reported_task(key, tasks, result, covered or {}, named)
            or _child_task(register, key, tasks, result)
            or _pregnancy_task(register, key, tasks, result)
        )
        if task is not None:
            result[key] = task
        else:
            tasks.add(key)  # raised now, under its own key
    return result


def face(task: str, carried: Mapping[str, str], register: RegisterView) -> str:
    """The subject a task now shows: the child it carries, else its own subject."""
    children = [
        key
        for key, on in carried.items()
        if on == task and (r := record_of(register, key)) is not None and r.kind == "child"
    ]
    return min(children, default=task)


def task_of(key: str, carried: Mapping[str, str]) -> str:
    """The key of the task a subject's commands land on."""
    return carried.get(key, key)


def merged(decision: Decision, carried: Mapping[str, str]) -> Decision:
    """The decision with one subject per task: a task's named subjects folded into one.

    The child is kept when named (the task now follows it), with the stronger
    outcome of the subjects folded and all their reasons.
    """
    by_task: dict[str, list[DecisionSubject]] = {}
    for s in decision.subjects:
        if s.outcome is not None:
            by_task.setdefault(task_of(subject_key(s), carried), []).append(s)
    subjects = [s for s in decision.subjects if s.outcome is None]
    for group in by_task.values():
        face = next((s for s in group if s.kind == "child"), group[0])
        outcome = max((s.outcome for s in group if s.outcome), key=_STRENGTH.__getitem__)
        reasons = [r for s in group for r in s.reasons]
        subjects.append(face.model_copy(update={"outcome": outcome, "reasons": reasons}))
    return decision.model_copy(update={"subjects": subjects})


def task_outcomes(decision: Decision, carried: Mapping[str, str]) -> dict[str, str]:
    """The outcomes of a decision by the key of the task each lands on."""
    return {
        task_of(subject_key(s), carried): s.outcome
        for s in merged(decision, carried).subjects
        if s.outcome
    }


def carried_words(register: RegisterView, key: str, task: str) -> list[str]:
    """What a duty worker reads when a subject is carried on another's task (empty if not)."""
    if key == task:
        return []
    record, carrier = record_of(register, key), record_of(register, task)
    if record is None:
        return []
    reported = task.startswith("person:")
    if reported and (record.kind == "unborn" or not record.from_pregnancy_ref):
        what = "pregnancy" if record.kind == "unborn" else "child"
        return [f"the register now knows this {what}: record {record.subject_ref}"]
    if carrier is None and not reported:
        return []
    if record.kind == "child":
        born = f"born on {record.date_of_birth.isoformat()}" if record.date_of_birth else "born"
        return [f"{born}, now child record {record.subject_ref}"]
    return [f"the register links this child to pregnancy record {record.subject_ref}"]


def twin_words(register: RegisterView, key: str, carried: Mapping[str, str]) -> list[str]:
    """For a child with a task of its own whose pregnancy's task is a twin's: where that is."""
    record = record_of(register, key)
    if key in carried or record is None or record.kind != "child" or not record.from_pregnancy_ref:
        return []
    task = task_of(f"subject:{record.from_pregnancy_ref}", carried)
    if task == key or not _holds_child(register, task, carried):
        return []
    _, _, ref = task.partition(":")
    return [f"a twin: the other child of this pregnancy is on this incident's task for {ref}"]


def onto_tasks(
    commands: list[RaiseTask], register: RegisterView, carried: Mapping[str, str]
) -> list[RaiseTask]:
    """Commands made for subjects, moved onto the tasks that carry them, saying so."""
    moved = []
    for command in commands:
        key = command.idempotency_key.split("/", 1)[1]
        task = task_of(key, carried)
        words = carried_words(register, key, task) + twin_words(register, key, carried)
        command = _showing_child(command, task, carried, register)
        moved.append(rekeyed(command, task, words) if task != key or words else command)
    return moved


def _showing_child(
    command: RaiseTask, task: str, carried: Mapping[str, str], register: RegisterView
) -> RaiseTask:
    """A command for a task that carries a child it does not show yet: showing the child, with
    each carried child's birth in its changes (a child born after the incident)."""
    child = record_of(register, face(task, carried, register))
    if child is None or child.kind != "child" or command.subject.subject_ref == child.subject_ref:
        return command
    words = [
        word
        for key, on in sorted(carried.items())
        if on == task and (r := record_of(register, key)) is not None and r.kind == "child"
        for word in carried_words(register, key, task)
    ]
    return showing(command, child, words)


def linked_commands(
    decision: Decision,
    incident: PoliceIncident,
    register: RegisterView,
    previous: Mapping[str, str],
    carried: Mapping[str, str],
    now: datetime,
    policy: TaskPolicy,
) -> list[RaiseTask]:
    """`task_commands` with each baby on one task: `previous` and the commands by task key.

    A task whose subject is not named but whose carried child (or pregnancy) is
    stays as it is, updated through the one named; it is not withdrawn.
    """
    folded = merged(decision, carried)
    tasks = {subject_key(s): task_of(subject_key(s), carried) for s in folded.subjects if s.outcome}
    earlier = {key: previous[task] for key, task in tasks.items() if task in previous}
    earlier |= {task: o for task, o in previous.items() if task not in tasks.values()}
    commands = task_commands(folded, incident, register, earlier, now, policy)
    return onto_tasks(commands, register, carried)
