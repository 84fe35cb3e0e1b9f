"""One FHIR Task as the FHIR adapter sends it for `sample_raise_task()`, pretty-printed.

`python -m tests.support.fhir_example` prints it; docs/case-systems.md shows it, and a unit
test checks that the two agree.
"""

from __future__ import annotations

import json
from datetime import timedelta

from connectors.case_system.fhir_task import task_resource, validated_json
from streams.domain.ports.task_updates import apply_task_command
from tests.support.samples import OCCURRED_AT, sample_raise_task

#: When the example task is raised: a minute after the police reported the incident.
RAISED_AT = OCCURRED_AT + timedelta(hours=3, minutes=1)


def example_task_json() -> str:
    """The Task the adapter POSTs for the sample command, as indented JSON."""
    record = apply_task_command(None, sample_raise_task(), RAISED_AT, new_task_id="").record
    return json.dumps(json.loads(validated_json(task_resource(record))), indent=2)


if __name__ == "__main__":
    print(example_task_json())
