"""The "History (last 12 months)" section of a task's page: other tasks of the same family or
dwelling (`history.related_tasks`), each linked to its page, with what was found on it."""

from __future__ import annotations

from connectors.duty_inbox.acts import OUTCOME_WORDS
from connectors.duty_inbox.history import Related
from connectors.duty_inbox.render import TASK_TYPES, day, esc, tag, when
from streams.domain.ports.case_system import TaskRecord

NONE_EARLIER = "No earlier incidents for this family or dwelling in the last 12 months."
INTRO = (
    "Earlier incidents dvtrigger has seen for the same family or the same dwelling in the 12"
    " months before this one, with their tasks and outcomes. A later incident, or another child"
    " of the same incident, is marked as such."
)
TIES = {"family": "same family", "dwelling": "same dwelling"}
WHEN = {"earlier": "earlier", "same_incident": "same incident, another child", "later": "later"}


def history_html(related: list[Related]) -> str:
    """The section: a sentence when nothing earlier is known, and a table of what is."""
    html = f'<h2 id="history">History (last 12 months)</h2><p class="muted">{esc(INTRO)}</p>'
    if not any(r.when == "earlier" for r in related):
        html += f'<p class="empty" id="no-history">{esc(NONE_EARLIER)}</p>'
    if not related:
        return html
    head = "".join(
        f'<th scope="col">{esc(label)}</th>'
        for label in ("Incident", "Date", "When", "Tied by", "Task", "Status", "Outcome recorded")
    )
    rows = "".join(_row(r) for r in related)
    caption = '<caption class="visually-hidden">Other incidents, newest first</caption>'
    return f'{html}<table class="history">{caption}<thead><tr>{head}</tr></thead>{rows}</table>'


def _row(related: Related) -> str:
    record = related.record
    link = f'<a href="/tasks/{esc(record.task_id)}">{esc(record.task.incident_id)}</a>'
    ties = " and ".join(TIES[kind] for kind in related.ties)
    cells = [
        link,
        esc(when(record.task.incident.occurred_at)),
        esc(WHEN[related.when]),
        esc(ties),
        esc(TASK_TYPES[record.task_type]),
        tag(record.status, record.status),
        found_html(record),
    ]
    return f'<tr class="{esc(related.when)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def found_html(record: TaskRecord) -> str:
    """What people recorded on a task, in a line: review result, outcome, their reasons."""
    found = []
    if record.review_result is not None:
        found.append(_with_reason(OUTCOME_WORDS[record.review_result], record.review_reason))
    if record.resolution is not None:
        words = OUTCOME_WORDS[record.resolution]
        if record.strategy_discussion_on is not None:
            words += f" on {day(record.strategy_discussion_on)}"
        found.append(_with_reason(words, record.resolution_reason))
    return "; ".join(found) or '<span class="muted">none yet</span>'


def _with_reason(words: str, reason: str | None) -> str:
    return f"<strong>{esc(words)}</strong>" + (f": {esc(reason)}" if reason else "")
