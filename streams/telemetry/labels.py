"""Bounded label values of the metrics: rules, task kinds, topic roles; never personal data."""

from __future__ import annotations

import re
from functools import lru_cache

from schemas.decision import DecisionSubject
from streams.config.topics import TOPIC_ROLES

#: The rule that fired for a subject, by the clause its strongest evidence names in the
#: decision log (`clause N: ...`); a police-report subject by what the report says.
CLAUSE_RULES = {"1": "carer_involved", "2": "incident_at_home", "3": "resident_involved"}
REPORT_RULES = {"unborn": "police_report_pregnant", "child": "police_report_infant"}
UNKNOWN = "unknown"
#: The task kind of each task type (`RaiseTask.task_type`).
TASK_KINDS = {"child_protection_investigation": "investigation", "match_review": "review"}
_CLAUSE = re.compile(r"clause ([0-9]+):")
#: `police-incidents` is tried before `incidents`, which ends it.
_ROLES_LONGEST_FIRST = sorted(TOPIC_ROLES, key=len, reverse=True)


def rule_of(subject: DecisionSubject) -> str:
    """The rule that fired for one decided subject, as a bounded label value."""
    if subject.basis == "police_report":
        return REPORT_RULES.get(subject.kind, UNKNOWN)
    for reason in subject.reasons:
        found = _CLAUSE.match(reason)
        if found:
            return CLAUSE_RULES.get(found.group(1), UNKNOWN)
    return UNKNOWN


def task_kind(task_type: str) -> str:
    """`investigation` or `review` for a task type (`unknown` for any other)."""
    return TASK_KINDS.get(task_type, UNKNOWN)


@lru_cache(maxsize=256)  # called for each message the worker processes
def topic_role(topic: str) -> str | None:
    """The role of a topic from its full name (`<prefix><role>`), or None for another topic."""
    return next((role for role in _ROLES_LONGEST_FIRST if topic.endswith(role)), None)
