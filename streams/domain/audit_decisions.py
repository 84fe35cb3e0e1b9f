"""Decisions in the audit log, pure: what a decision's record holds, and its reproduction.

A decision's record names its inputs by reference in the envelope (incident,
revision, where it was read, the register subjects and events considered, the
rules version and a digest of the configuration) and keeps in its detail what is
needed to decide it again: the incident as parsed, every answer the register gave
(`RecordingView`), the configuration in force and the decision. `reproduce` runs
the pure `decide` again on those answers (`RecordedRegister`), under the recorded
configuration and under today's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from pydantic_core import to_jsonable_python

from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.domain.audit import digest
from streams.domain.config import RULES_VERSION, RulesConfig
from streams.domain.ports.audit import AuditEvent
from streams.domain.register.index import RegisterView
from streams.domain.register.records import SubjectRecord
from streams.domain.rules import decide


class RecordingView:
    """A register view that notes every answer it gives one decision (to record them)."""

    def __init__(self, register: RegisterView) -> None:
        """A view over `register` that has answered nothing yet."""
        self._register = register
        self.records: dict[str, SubjectRecord | None] = {}
        self.candidate_refs: list[str] = []
        self.children: dict[str, str | None] = {}
        self.namesakes_seen: dict[tuple[str | None, str | None], int] = {}

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The record of one subject, noted."""
        record = self._register.get(subject_ref)
        self.records[subject_ref] = record
        return record

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The child of a pregnancy, noted."""
        child = self._register.child_of_pregnancy(pregnancy_ref)
        self.children[pregnancy_ref] = child.subject_ref if child else None
        if child is not None:
            self.records[child.subject_ref] = child
        return child

    def candidates(self, incident: PoliceIncident, day: date | None = None) -> list[SubjectRecord]:
        """The register's candidates, noted."""
        found = self._register.candidates(incident, day)
        self.candidate_refs = [record.subject_ref for record in found]
        for record in found:
            self.records[record.subject_ref] = record
        return found

    def namesakes(self, given: str | None, family: str | None) -> int:
        """As the register counts them, noted."""
        count = self._register.namesakes(given, family)
        self.namesakes_seen[(given, family)] = count
        return count

    def recording(self) -> dict[str, Any]:
        """Every answer given, as JSON values (it holds personal data: the detail's part)."""
        return {
            "candidates": self.candidate_refs,
            "records": {ref: to_jsonable_python(r) for ref, r in self.records.items()},
            "children": self.children,
            "namesakes": [[g, f, n] for (g, f), n in self.namesakes_seen.items()],
        }


@dataclass
class RecordedRegister:
    """A register view answering from a recording; `misses` counts questions it never heard."""

    records: dict[str, SubjectRecord | None]
    candidate_refs: list[str]
    children: dict[str, str | None]
    namesakes_seen: dict[tuple[str | None, str | None], int]
    misses: int = 0

    @classmethod
    def of(cls, recording: dict[str, Any]) -> RecordedRegister:
        """The register of a recorded decision."""
        records = {
            ref: None if value is None else SubjectRecord.model_validate_json(json.dumps(value))
            for ref, value in recording["records"].items()
        }
        namesakes = {(g, f): int(n) for g, f, n in recording["namesakes"]}
        return cls(records, list(recording["candidates"]), dict(recording["children"]), namesakes)

    def get(self, subject_ref: str) -> SubjectRecord | None:
        """The recorded record, or None (a miss when never asked)."""
        if subject_ref not in self.records:
            self.misses += 1
        return self.records.get(subject_ref)

    def child_of_pregnancy(self, pregnancy_ref: str) -> SubjectRecord | None:
        """The recorded child of a pregnancy, or None."""
        if pregnancy_ref not in self.children:
            self.misses += 1
        ref = self.children.get(pregnancy_ref)
        return self.records.get(ref) if ref else None

    def candidates(self, incident: PoliceIncident, day: date | None = None) -> list[SubjectRecord]:
        """The recorded candidates (whatever the day asked)."""
        return [r for ref in self.candidate_refs if (r := self.records.get(ref)) is not None]

    def namesakes(self, given: str | None, family: str | None) -> int:
        """The recorded count, or 1 (a miss) when this name was never asked."""
        if (given, family) not in self.namesakes_seen:
            self.misses += 1
        return self.namesakes_seen.get((given, family), 1)


def decision_refs(
    incident: PoliceIncident, decision: Decision, view: RecordingView, config: RulesConfig
) -> dict[str, list[str]]:
    """A decision's references: identifiers only, kept after retention purges its detail."""
    considered = [r for r in view.records.values() if r is not None]
    subjects = [s.subject_ref for s in decision.subjects if s.subject_ref]
    councils = {getattr(s, "local_authority", None) for s in decision.subjects} - {None}
    return {
        "incident": [incident.incident_id],
        "revision": [str(incident.revision)],
        "notification": [incident.notification_id],
        "outcome": [decision.decision],
        "subject": subjects,
        "candidate": list(view.candidate_refs),
        "person": sorted({p.person_ref for p in incident.persons}),
        "register_event": sorted({r.last_event_id for r in considered if r.last_event_id}),
        "council": sorted(str(c) for c in councils),
        "rules": [RULES_VERSION],
        "config": [settings_of(config)[1]],
    }


@lru_cache(maxsize=8)
def settings_of(config: RulesConfig) -> tuple[dict[str, Any], str]:
    """A configuration as JSON values, and their digest (worked out once per configuration)."""
    dumped = config.model_dump(mode="json")
    return dumped, digest(dumped)


def decision_event(
    incident: PoliceIncident,
    decision: Decision,
    view: RecordingView,
    config: RulesConfig,
    at: datetime,
    *,
    actor: str,
    action: str = "decided",
    source: str | None = None,
) -> AuditEvent:
    """The audit event of one decision; `source`: where its input was read (topic:part:offset)."""
    refs = decision_refs(incident, decision, view, config)
    if source:
        refs["input"] = [source]
    detail = {
        "rules_version": RULES_VERSION,
        "config": settings_of(config)[0],
        "incident": incident.model_dump(mode="json"),
        "register": view.recording(),
        "decision": decision.model_dump(mode="json"),
    }
    reason = decision.reasons[-1] if decision.reasons else None
    return AuditEvent(
        kind="decision", at=at, actor=actor, action=action, reason=reason, refs=refs, detail=detail
    )


def command_event(command: RaiseTask, at: datetime, *, actor: str) -> AuditEvent:
    """The audit event of one task command sent; no personal data, not even in its detail."""
    subject = command.subject
    refs = {
        "incident": [command.incident_id],
        "revision": [str(command.revision)],
        "task": [command.idempotency_key],
        "outcome": [command.outcome],
        "subject": [subject.subject_ref] if subject.subject_ref else [],
        "person": [subject.person_ref] if subject.person_ref else [],
        "council": [command.local_authority] if command.local_authority else [],
    }
    detail = {
        "task_type": command.task_type,
        "priority": command.priority,
        "due_by": command.due_by,
        "queue": command.queue,
        "amendment": command.amendment,
        "score": command.score,
        "late": command.late,
        # How many, not the words: a birth's ("born on <date>, now child record …") and a
        # stale task's carry the child's date of birth or a family's dates.
        "changes": len(command.changes),
        "needs_confirmation": command.needs_confirmation,
    }
    action = "withdraw" if command.outcome == "withdrawn" else "raise"
    return AuditEvent(
        kind="task_command", at=at, actor=actor, action=action, refs=refs, detail=detail
    )


@dataclass
class Reproduction:
    """A recorded decision decided again: under its own configuration, and under today's."""

    recorded: Decision
    again: Decision
    today: Decision
    recorded_version: str
    today_version: str
    config_changed: list[str] = field(default_factory=list)
    misses: int = 0

    @property
    def reproduced(self) -> bool:
        """Whether the recorded inputs and configuration give the recorded decision."""
        return bool(_outcome(self.again) == _outcome(self.recorded))

    @property
    def same_today(self) -> bool:
        """Whether today's rules would decide the same."""
        return bool(_outcome(self.today) == _outcome(self.recorded))


def _outcome(decision: Decision) -> Any:
    """What a decision says, without the rules version in its reasons."""
    dumped = decision.model_dump(mode="json", exclude={"reasons"})
    return dumped, [r for r in decision.reasons if not r.startswith("rules ")]


def reproduce(detail: dict[str, Any], today: RulesConfig, today_version: str) -> Reproduction:
    """Decide a recorded decision's incident again from its detail, as recorded and as today."""
    incident = PoliceIncident.model_validate_json(json.dumps(detail["incident"]))
    recorded = Decision.model_validate_json(json.dumps(detail["decision"]))
    config = RulesConfig.model_validate(detail["config"])
    again = decide(incident, RecordedRegister.of(detail["register"]), config)
    register = RecordedRegister.of(detail["register"])
    now = decide(incident, register, today)
    before, after = config.model_dump(mode="json"), today.model_dump(mode="json")
    changed = _changed(before, after)
    return Reproduction(
        recorded, again, now, detail["rules_version"], today_version, changed, register.misses
    )


def _changed(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """The settings (dotted names) whose values differ."""
    names = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            names.extend(_changed(old, new, f"{prefix}{key}."))
        elif old != new:
            names.append(f"{prefix}{key}")
    return names
