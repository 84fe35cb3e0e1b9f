"""The inbox list: one line a task, the filter and search form above it, and its page links.

Filters and search are GET query parameters on `/`, so a list can be bookmarked; the form at the
top sets them. A page holds `PAGE_SIZE` tasks and says how many match in all, so no task is
dropped without a word. The full evidence stays on each task's own page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from connectors.duty_inbox.query import Councils, TaskPage, TaskQuery, narrowed
from connectors.duty_inbox.render import (
    TASK_TYPES,
    child_name,
    day,
    due_html,
    esc,
    flags_html,
    outcome_tag,
    priority_tag,
    tag,
)
from schemas.task import TaskSubject
from streams.domain.ports.case_system import TaskRecord

PAGE_SIZE = 50
#: The status filter's choices; "" (the default) is every task not closed.
STATUSES = {
    "": "Not closed",
    "open": "Open",
    "acknowledged": "Acknowledged",
    "closed": "Closed",
    "all": "All",
}
PRIORITIES = {"": "Any", "urgent": "Urgent", "high": "High", "normal": "Normal"}
QUEUES = {"": "Any", "duty": "Duty team", "emergency": "Emergency duty team"}
_HEAD = (
    '<thead><tr><th scope="col">Priority</th><th scope="col">Due</th><th scope="col">Child</th>'
    '<th scope="col">What happened</th><th scope="col">Status</th><th scope="col">Task</th>'
    "</tr></thead>"
)


@dataclass(frozen=True)
class Filters:
    """A list's filters as the query string holds them; unknown values are read as none."""

    council: str = ""
    status: str = ""
    priority: str = ""
    overdue: bool = False
    q: str = ""
    confirm: bool = False
    queue: str = ""

    @classmethod
    def of(cls, params: Mapping[str, str]) -> Filters:
        """The filters in a query string."""
        status, priority = params.get("status", ""), params.get("priority", "")
        queue = params.get("queue", "")
        return cls(
            council=params.get("council", "")[:64],
            status=status if status in STATUSES else "",
            priority=priority if priority in PRIORITIES else "",
            overdue=params.get("overdue", "") in ("1", "on", "true"),
            q=params.get("q", "")[:200],
            confirm=params.get("confirm", "") in ("1", "on", "true"),
            queue=queue if queue in QUEUES else "",
        )

    def query(self, councils: Councils, now: datetime) -> TaskQuery:
        """The store's query for these filters, within the councils a person may see."""
        statuses = {"": frozenset({"open", "acknowledged"}), "all": None}.get(
            self.status, frozenset({self.status})
        )
        return TaskQuery(
            narrowed(councils, self.council),
            statuses,
            self.priority or None,
            now if self.overdue else None,
            self.q,
            self.confirm,
            self.queue or None,
        )

    def link(self, **cursor: str) -> str:
        """The list's address with these filters and a cursor (`after` or `before`)."""
        fields = {
            "council": self.council,
            "status": self.status,
            "priority": self.priority,
            "overdue": "1" if self.overdue else "",
            "q": self.q,
            "confirm": "1" if self.confirm else "",
            "queue": self.queue,
            **cursor,
        }
        return "/?" + urlencode({k: v for k, v in fields.items() if v})


def filter_form(filters: Filters, councils: Councils) -> str:
    """The GET form that sets the filters and the search."""
    council = (
        _select(
            "council",
            "Council",
            {"": "All mine", **{c: c for c in sorted(councils)}},
            filters.council,
        )
        if councils is not None
        else f'<label>Council <input name="council" value="{esc(filters.council)}"'
        ' maxlength="64" size="10"></label>'
    )
    overdue = " checked" if filters.overdue else ""
    confirm = " checked" if filters.confirm else ""
    return (
        '<form class="filters" method="get" action="/" role="search">'
        f"{council}{_select('status', 'Status', STATUSES, filters.status)}"
        f"{_select('priority', 'Priority', PRIORITIES, filters.priority)}"
        f"{_select('queue', 'Queue', QUEUES, filters.queue)}"
        f'<label><input type="checkbox" name="overdue" value="1"{overdue}> Overdue only</label>'
        f'<label><input type="checkbox" name="confirm" value="1"{confirm}>'
        " Needs confirmation only</label>"
        f'<label>Search <input type="search" name="q" value="{esc(filters.q)}" maxlength="200"'
        ' placeholder="Incident, name or NHS number"></label>'
        '<button type="submit">Filter</button> <a href="/">Clear</a></form>'
    )


def _select(name: str, label: str, choices: Mapping[str, str], chosen: str) -> str:
    options = "".join(
        f'<option value="{esc(value)}"{" selected" if value == chosen else ""}>{esc(text)}</option>'
        for value, text in choices.items()
    )
    return f'<label>{esc(label)} <select name="{esc(name)}">{options}</select></label>'


def task_list(page: TaskPage, total: int, filters: Filters, now: datetime) -> str:
    """How many match, the page's tasks one a line, and the links to the pages beside it."""
    shown = len(page.tasks)
    matches = "task matches" if total == 1 else "tasks match"
    count = f'<p class="count" id="count">{esc(total)} {matches}'
    count += f"; this page shows {esc(shown)}.</p>" if shown < total else ".</p>"
    if not page.tasks:
        return count + '<p class="empty">No tasks match.</p>'
    rows = "".join(task_line(record, now) for record in page.tasks)
    caption = '<caption class="visually-hidden">Tasks, most urgent first</caption>'
    return f'{count}<table class="tasks">{caption}{_HEAD}{rows}</table>{_links(page, filters)}'


def _links(page: TaskPage, filters: Filters) -> str:
    links = []
    if page.previous_cursor:
        links.append(
            f'<a rel="prev" href="{esc(filters.link(before=page.previous_cursor))}">'
            "Previous page</a>"
        )
    if page.next_cursor:
        links.append(
            f'<a rel="next" href="{esc(filters.link(after=page.next_cursor))}">Next page</a>'
        )
    return f'<nav class="pages" aria-label="Pages">{" ".join(links)}</nav>' if links else ""


def task_line(record: TaskRecord, now: datetime) -> str:
    """One task on one line: priority, due, child, what happened, status, type and a link."""
    task = record.task
    link = f'<a href="/tasks/{esc(record.task_id)}">{esc(TASK_TYPES[record.task_type])}</a>'
    kind = "" if task.outcome == "trigger" else f"{outcome_tag(task)} "
    cells = [
        priority_tag(task),
        due_html(record, now),
        child_text(task.subject),
        esc(what_happened(record)) + flags_html(task),
        tag(record.status, record.status),
        f"{kind}{link}",
    ]
    body = "".join(f"<td>{cell}</td>" for cell in cells)
    row = f"{task.outcome} priority-{task.priority}"
    return f'<tr class="{esc(row)}" id="task-{esc(record.task_id)}">{body}</tr>'


def child_text(subject: TaskSubject) -> str:
    """'Name, born 11 Feb 2026' or 'Name, unborn, due 3 Jun 2026'; a child with no name yet
    (an unborn child, a newborn) by its first carer: 'Baby of Name (mother)'."""
    name = f"<strong>{esc(child_name(subject))}</strong>"
    if subject.kind == "unborn":
        due = subject.expected_delivery_date
        return f"{name}, unborn, {esc('due ' + day(due) if due else 'due date not known')}"
    born = subject.date_of_birth
    return f"{name}, {esc('born ' + day(born) if born else 'date of birth not known')}"


def what_happened(record: TaskRecord) -> str:
    """A few words: 'Victim is the baby's mother; at the home; DASH high; MPS-2026-004242'.

    From the task's `people` when it has them; else 'Domestic abuse incident at the home, …'.
    """
    task = record.task
    if task.outcome == "withdrawn":
        return f"Withdrawn: the police no longer report this, {task.incident_id}"
    at_home = any(r == "incident_at_home" or r.startswith("clause 2:") for r in task.reasons)
    dash = task.incident.dash_risk.replace("_", " ")
    if not task.people:
        where = " at the home" if at_home else ""
        return f"Domestic abuse incident{where}, DASH {dash}, {task.incident_id}"
    known = [p for p in task.people if p.known_as and p.role != "child"][:2]
    who = [f"{p.role.replace('_', ' ').capitalize()} is {p.known_as}" for p in known]
    parts = who or ["No adult matched to the family"]
    parts += ["at the home"] if at_home else []
    return "; ".join([*parts, f"DASH {dash}", task.incident_id])
