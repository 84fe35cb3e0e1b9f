"""What is remembered of one incident between its revisions, and what a new one changes; pure.

The state keeps the latest decided revision, the notification ids already seen
(a repeat is dropped), the outcomes a task was raised for (what a later revision
updates or withdraws, by the key of the task), the subjects carried on another's
task (a child born of a pregnancy: `streams.domain.births`), the births told on
those tasks, the tasks marked for a person to confirm, and the revision itself
with its incident day, so a register change can re-decide it (late knowledge).
Every field added since the first has a default, so a state written before it
still reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime

from pydantic import BaseModel, Field

from schemas.decision import Decision
from schemas.police import PoliceIncident
from streams.domain.births import task_outcomes
from streams.domain.config import DEFAULT_CONFIG, RULES_VERSION, RulesConfig
from streams.domain.late import named_outcomes
from streams.domain.rules import incident_day

KEEP_NOTIFICATION_IDS = 50


class IncidentState(BaseModel):
    """What the worker remembers of one incident: its latest decided revision and outcomes.

    `outcomes` are the tasks raised, by task key (what a later revision updates
    or withdraws); `logged` the subjects the latest logged decision names, by
    subject key. They differ after a re-decision dropped a subject, whose task
    stays open, and where a subject is carried on another's task (`carried`).
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
    #: Subjects whose commands land on another subject's task, by subject key: the task key.
    carried: dict[str, str] = Field(default_factory=dict)
    #: Tasks of this revision marked for a person to confirm or close, by task key: the reason
    #: (`streams.domain.stale`), so one change marks a task once.
    flagged: dict[str, str] = Field(default_factory=dict)
    #: Births told on the task that carries each child, by child subject key: the words told
    #: (`streams.domain.births.birth_news`), so a birth updates its task once, and a
    #: correction of it once more.
    births: dict[str, str] = Field(default_factory=dict)


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
    carried: Mapping[str, str] | None = None,
    births: Mapping[str, str] | None = None,
) -> IncidentState:
    """The incident's state once this revision is decided, `carried` as `births.carriers` gave
    and `births` as `births.birth_news` gave."""
    ids = [*state.notification_ids, incident.notification_id][-KEEP_NOTIFICATION_IDS:]
    carried = dict(state.carried if carried is None else carried)
    return IncidentState(
        revision=incident.revision,
        notification_ids=ids,
        outcomes=task_outcomes(decision, carried),
        incident=incident.model_dump_json(),
        day=incident_day(incident, config),
        logged=named_outcomes(decision),
        carried=carried,
        births=dict(state.births if births is None else births),
    )


def log_record(decision: Decision, decided_at: datetime) -> bytes:
    """The decision/1 record for the decision log, with when and under which rules."""
    stamped = decision.model_copy(
        update={"decided_at": decided_at.isoformat(), "rules_version": RULES_VERSION}
    )
    return stamped.model_dump_json().encode()
