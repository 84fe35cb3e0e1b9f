"""What a person does on a task's page (acknowledge it, record its outcome), and what they recorded.

A review is resolved as the same family (it becomes an investigation, still in hand) or not
this family (closed). An investigation is closed by a strategy discussion held on a date, or by
no further action with a reason: for an automated trigger, the person overriding it. Every form
is a plain POST carrying the session's CSRF token.
"""

from __future__ import annotations

from datetime import datetime

from connectors.duty_inbox.render import LONDON, day, esc, hidden_csrf, when
from streams.domain.ports.case_system import TaskRecord
from streams.domain.ports.task_outcomes import is_override

OUTCOME_WORDS = {
    "strategy_discussion_held": "Strategy discussion held",
    "no_further_action": "No further action",
    "same_family": "Same family",
    "not_this_family": "Not this family",
}


def actions_html(record: TaskRecord, csrf: str, now: datetime) -> str:
    """The forms that fit the task now: acknowledge it, or record its outcome."""
    base = f"/tasks/{esc(record.task_id)}"
    if record.status == "open":
        return (
            f'<form class="inline" method="post" action="{base}/acknowledge">{hidden_csrf(csrf)}'
            '<button type="submit">Acknowledge</button></form>'
            '<p class="muted">Acknowledge the task to record its outcome.</p>'
        )
    if record.status == "closed":
        return ""
    if record.task_type == "match_review":
        return _review_form(base, csrf)
    return _strategy_form(base, csrf, now) + _no_action_form(base, csrf, record)


def _review_form(base: str, csrf: str) -> str:
    return (
        f'<form class="outcome" method="post" action="{base}/outcome">{hidden_csrf(csrf)}'
        "<fieldset><legend>Review result</legend>"
        '<label><input type="radio" name="outcome" value="same_family" required>'
        " Same family: investigate</label>"
        '<label><input type="radio" name="outcome" value="not_this_family">'
        " Not this family: close</label>"
        '<label>Reason <textarea name="reason" required maxlength="500"></textarea></label>'
        '<button type="submit">Record review result</button></fieldset></form>'
    )


def _strategy_form(base: str, csrf: str, now: datetime) -> str:
    today = now.astimezone(LONDON).date().isoformat()
    return (
        f'<form class="outcome" method="post" action="{base}/outcome">{hidden_csrf(csrf)}'
        '<input type="hidden" name="outcome" value="strategy_discussion_held">'
        "<fieldset><legend>Strategy discussion held</legend>"
        f'<label>Held on <input type="date" name="held_on" required max="{esc(today)}"></label>'
        '<label>Note <textarea name="reason" maxlength="500"></textarea></label>'
        '<button type="submit">Record strategy discussion and close</button></fieldset></form>'
    )


def _no_action_form(base: str, csrf: str, record: TaskRecord) -> str:
    override = (
        '<p class="muted">This overrides the automated trigger: the reason is kept.</p>'
        if record.task.outcome == "trigger"
        else ""
    )
    return (
        f'<form class="outcome" method="post" action="{base}/outcome">{hidden_csrf(csrf)}'
        '<input type="hidden" name="outcome" value="no_further_action">'
        f"<fieldset><legend>No further action</legend>{override}"
        '<label>Reason <textarea name="reason" required maxlength="500"></textarea></label>'
        '<button type="submit" class="secondary">Record no further action and close</button>'
        "</fieldset></form>"
    )


def recorded_rows(record: TaskRecord) -> list[tuple[str, str]]:
    """What people recorded on the task, as (label, HTML) rows; history marked as such."""
    rows = []
    if record.review_result is not None:
        text = _act(
            record,
            OUTCOME_WORDS[record.review_result],
            record.reviewed_by,
            record.reviewed_at,
            record.review_reason,
        )
        rows.append(("Review result", text))
    if record.resolution is not None:
        words = OUTCOME_WORDS[record.resolution]
        if record.strategy_discussion_on is not None:
            words += f" on {day(record.strategy_discussion_on)}"
        if is_override(record):
            words += " (overrides the automated trigger)"
        text = _act(record, words, record.resolved_by, record.resolved_at, record.resolution_reason)
        rows.append(("Outcome", text))
    return rows


def _act(
    record: TaskRecord, words: str, by: str | None, at: datetime | None, reason: str | None
) -> str:
    """One act: what, by whom, when, why; and whether a newer revision has since reopened it."""
    html = f'<strong class="recorded">{esc(words)}</strong>'
    html += f" by {esc(by or 'unknown')}" + (f", {esc(when(at))}" if at else "")
    if reason:
        html += f'<br><span class="reason">Reason: {esc(reason)}</span>'
    if not record.in_force(at):
        html += (
            f'<br><span class="muted">Recorded before revision {esc(record.revision)} reopened'
            " the task: kept as history.</span>"
        )
    return html
