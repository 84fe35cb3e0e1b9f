"""The task commands of one re-decision (`streams.domain.late.Redecision`); pure.

Late tasks and updates come from `tasks.late_commands`, moved onto the task
that carries each subject (`births.onto_tasks`), showing the child a task carries
(a birth after the incident, told once: `streams.domain.newborns`); each task the register has
since put out of scope gets `tasks.confirmation_command`. Every update carries
the re-decision's `amendment`, so the case system takes it on the same revision.
"""

from __future__ import annotations

from datetime import datetime

from schemas.decision import Decision, DecisionSubject
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.domain.births import face, merged, onto_tasks
from streams.domain.late import Redecision
from streams.domain.register.index import RegisterView
from streams.domain.task_policy import TaskPolicy
from streams.domain.tasks import confirmation_command, late_commands, rekeyed


def redecision_commands(
    change: Redecision,
    decision: Decision,
    incident: PoliceIncident,
    register: RegisterView,
    now: datetime,
    policy: TaskPolicy,
    amendment: int,
) -> list[RaiseTask]:
    """The commands `change` calls for: late tasks, updates, and tasks to confirm or close."""
    folded = merged(decision, change.carried)
    commands = late_commands(
        folded, incident, register, change.late, now, policy, change.upgraded, amendment
    )
    commands = onto_tasks(commands, register, change.carried)
    for task, flag in sorted(change.flags.items()):
        shown = _shown(task, change.outcomes[task], change.carried, register)
        command = confirmation_command(incident, shown, register, policy, flag.words, now)
        commands.append(rekeyed(command, task, []).model_copy(update={"amendment": amendment}))
    return commands


def _shown(
    task: str, outcome: str, carried: dict[str, str], register: RegisterView
) -> DecisionSubject:
    """The subject a task to confirm shows, with the outcome the task was raised with."""
    ref = face(task, carried, register).partition(":")[2]
    record = register.get(ref)
    return DecisionSubject.model_validate(
        {
            "basis": "register",
            "kind": record.kind if record else "unborn",
            "subject_ref": ref,
            "outcome": outcome,
            "local_authority": record.local_authority if record else None,
        }
    )
