"""What the duty inbox's metrics read of its tasks: each task not closed, its type and times."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

#: What the inbox's metrics read of each task not closed: nothing of its body but its type
#: (a review a person found to be the same family, while that holds, is an investigation)
#: and due time. `unacknowledged_since`: when it was raised, or reopened by a revision.
CENSUS = """
SELECT CASE WHEN review_result = 'same_family'
                 AND (revised_at IS NULL OR reviewed_at >= revised_at)
            THEN 'child_protection_investigation'
            ELSE json_extract(body, '$.task_type') END AS task_type,
       status, due_at AS due_by,
       CASE WHEN acknowledged_at IS NULL AND closed_at IS NULL THEN created_at
            ELSE coalesce(revised_at, created_at) END AS unacknowledged_since
FROM tasks WHERE status != 'closed'
"""


@dataclass(frozen=True)
class Census:
    """One task not closed, as the inbox's metrics count it."""

    task_type: str
    status: str
    due_by: datetime | None
    unacknowledged_since: datetime
