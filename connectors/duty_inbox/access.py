"""Who may do what in the duty inbox, and what a view or action of tasks is recorded as.

The role matrix is the whole of the role rules; the council rule is applied by the store's
queries (a task of another council is not found). No "override" exists in the inbox yet, so
team managers act as duty workers do. Auditors read tasks and query the audit log
(`audit_view.py`) of their councils.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from fastapi import Request

from connectors.duty_inbox.auth import (
    Forbidden,
    Principal,
    caller,
    client_of,
    person,
    record,
)
from connectors.duty_inbox.task_rows import council_of
from connectors.duty_inbox.users import ALL_COUNCILS, Role
from streams.domain.ports.case_system import TaskRecord
from streams.domain.ports.task_outcomes import Outcome, audit_action

Action = Literal["view_tasks", "act_on_tasks", "raise_tasks", "manage_users", "query_audit"]

#: The role matrix: what each role of a person may do.
ROLE_MATRIX: dict[Role, frozenset[Action]] = {
    "duty_worker": frozenset({"view_tasks", "act_on_tasks"}),
    "team_manager": frozenset({"view_tasks", "act_on_tasks"}),
    "auditor": frozenset({"view_tasks", "query_audit"}),
    "administrator": frozenset({"manage_users"}),
}


def may(principal: Principal, action: Action, may_raise_tasks: bool = False) -> bool:
    """Whether a principal may do `action`; an API client may view, and raise if allowed."""
    if principal.via == "token":
        return action == "view_tasks" or (action == "raise_tasks" and may_raise_tasks)
    return any(action in ROLE_MATRIX[role] for role in principal.roles)


def councils_of(principal: Principal) -> frozenset[str] | None:
    """The councils whose tasks a principal reaches; None for a client of every council."""
    if principal.via == "token" and ALL_COUNCILS in principal.councils:
        return None
    return principal.councils


def _require(
    action: Action, resolve: Callable[[Request], Principal]
) -> Callable[[Request], Principal]:
    def dependency(request: Request) -> Principal:
        principal = resolve(request)
        client = client_of(request)
        if not may(principal, action, client is not None and client.may_raise_tasks):
            record(request, "denied", f"not_allowed:{action}", principal)
            raise Forbidden("your role does not allow this")
        return principal

    return dependency


def person_may(action: Action) -> Callable[[Request], Principal]:
    """Dependency of the pages: a signed-in person whose roles allow `action`."""
    return _require(action, person)


def caller_may(action: Action) -> Callable[[Request], Principal]:
    """Dependency of the API: a client or person whose roles allow `action`."""
    return _require(action, caller)


def task_refs(records: list[TaskRecord], whole_incident: bool = False) -> dict[str, list[str]]:
    """References of what was seen: tasks, incidents, subjects, people and councils, no names.

    A list shows each subject and its carers; a task's page shows the whole incident too.
    `task` holds each task's id, then its idempotency key (all the decide worker knows of
    it), so one query by either finds both the inbox's records and the worker's.
    """
    tasks: list[str] = []
    keys: list[str] = []
    incidents: set[str] = set()
    subjects: set[str] = set()
    persons: set[str] = set()
    councils: set[str] = set()
    for item in records:
        task = item.task
        tasks.append(item.task_id)
        keys.append(task.idempotency_key)
        incidents.add(task.incident_id)
        councils.add(council_of(task.local_authority))
        subject = task.subject
        subjects.update(ref for ref in (subject.subject_ref, subject.person_ref) if ref)
        persons.update(carer.person_ref for carer in subject.carers if carer.person_ref)
        if whole_incident:
            persons.update(p.person_ref for p in task.incident.persons)
    refs = {
        "task": list(dict.fromkeys([*tasks, *keys])),
        "incident": sorted(incidents),
        "subject": sorted(subjects),
        "person": sorted(persons),
        "council": sorted(councils),
    }
    return {key: value for key, value in refs.items() if value}


def view(request: Request, principal: Principal, records: list[TaskRecord], what: str) -> None:
    """Record that `principal` saw these tasks (`what`: list or detail, page or API)."""
    record(request, "view", what, principal, task_refs(records, what.endswith("detail")))


def outcome_recorded(
    request: Request, principal: Principal, task: TaskRecord, outcome: Outcome
) -> None:
    """Record that `principal` recorded `outcome` on the task: an override is named as one."""
    held_on: dict[str, object] | None = (
        {"held_on": outcome.held_on.isoformat()} if outcome.held_on else None
    )
    action = audit_action(task, outcome.name)
    record(request, "task_action", action, principal, task_refs([task]), outcome.reason, held_on)
