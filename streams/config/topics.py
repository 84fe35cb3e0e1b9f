"""The topics dvtrigger uses, by role, and the headers that explain a message set aside."""

from __future__ import annotations

#: Every topic dvtrigger uses, by role, with what flows on it.
TOPIC_ROLES: dict[str, str] = {
    "police-incidents": "police-incident/1 notifications as the forces publish them",
    "register-events": "register-event/1 events from maternity, child health, children's services",
    "incidents": "validated incidents, keyed by incident_id (internal)",
    "decisions": "the decision log: one decision/1 record per incident revision, at least once",
    "task-commands": "RaiseTask commands, keyed by idempotency key (internal)",
    "dead-letter": "messages that can never be valid, with the reason in headers",
    "task-retries": "RaiseTask commands waiting for another attempt, with retry headers",
    "tasks-parked": "tasks the case system would not take before the deadline",
    "receipts": "receipt/1 records for the police, keyed by the force's incident reference",
}

#: Headers of a dead letter or a parked task: why it was set aside and where it came from.
H_REASON = "dvtrigger-reason"
H_REASON_CLASS = "dvtrigger-reason-class"
H_SOURCE_TOPIC = "dvtrigger-source-topic"
H_SOURCE_PARTITION = "dvtrigger-source-partition"
H_SOURCE_OFFSET = "dvtrigger-source-offset"
