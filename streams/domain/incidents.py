"""What is remembered of one incident between its revisions, and what a new one changes; pure.

The state keeps the latest decided revision, the notification ids already seen
(a repeat is dropped), the outcomes a task was raised for (what a later revision
updates or withdraws) and the revision itself with its incident day, so a
register change can re-decide it (late knowledge).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain.config import DEFAULT_CONFIG, RULES_VERSION, RulesConfig
from streams.domain.late import named_outcomes
from streams.domain.rules import incident_day

KEEP_NOTIFICATION_IDS = 50


class IncidentState(BaseModel):
    """What the worker remembers of one incident: its latest decided revision and outcomes.

    `outcomes` are the subjects a task was raised for (what a later revision
    updates or withdraws); `logged` those the latest logged decision names. They
    differ only after a re-decision dropped a subject, whose task stays open.
    """

    revision: int = 0
    notification_ids: list[str] = Field(default_factory=list)
    outcomes: dict[str, str] = Field(default_factory=dict)
    #: The latest decided revision, validated JSON, to re-decide it when the register changes.
    incident: str | None = None
    #: Its incident day (Europe/London), to tell whether it is still recent.
    day: date | None = None
    logged: dict[str, str] = Field(default_factory=dict)
    #: Re-decisions of this revision that updated a task (`RaiseTask.amendment`).
    amendments: int = 0


def duplicate_kind(state: IncidentState, incident: PoliceIncident) -> str | None:
    """Why this notification needs no new decision, or None when it does."""
    if incident.notification_id in state.notification_ids:
        return "notification"
    if incident.revision < state.revision:
        return "older_revision"
    return None


def next_state(
    state: IncidentState,
    incident: PoliceIncident,
    decision: Decision,
    config: RulesConfig = DEFAULT_CONFIG,
) -> IncidentState:
    """The incident's state once this revision is decided."""
    ids = [*state.notification_ids, incident.notification_id][-KEEP_NOTIFICATION_IDS:]
    outcomes = named_outcomes(decision)
    return IncidentState(
        revision=incident.revision,
        notification_ids=ids,
        outcomes=outcomes,
        incident=incident.model_dump_json(),
        day=incident_day(incident, config),
        logged=dict(outcomes),
    )


def log_record(decision: Decision, decided_at: datetime) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    stamped = decision.model_copy(
        update={"decided_at": decided_at.isoformat(), "rules_version": RULES_VERSION}
    )
    return stamped.model_dump_json().encode()
