"""A worker that dead-letters most of what it reads stops, and loses nothing it read."""

from __future__ import annotations

from pathlib import Path

from tests.support.stack import running_stack, wait_for

LIMIT = 5
POISON = 40


def test_a_worker_dead_lettering_everything_stops_instead_of_emptying_its_input(
    broker: str, inbox: str, tmp_path: Path
) -> None:
    extra = {"DVTRIGGER_DEAD_LETTER_LIMIT": str(LIMIT)}
    with running_stack(broker, inbox, tmp_path, **extra) as stack:
        decide = stack.workers[0]
        stack.produce_many("police-incidents", [b"not json %d" % n for n in range(POISON)])
        wait_for("the decide process to stop", lambda: decide.poll() is not None, timeout=60)
        letters = stack.read_topic("dead-letter")
        # It stopped at the limit (a batch already in hand may add a few), far short of
        # emptying the topic, and every message it let go of is in the dead-letter topic.
        assert LIMIT <= len(letters) < POISON
        assert decide.returncode != 0
        log = (tmp_path / f"{stack.settings.app_id}-decide.log").read_text()
        assert "stopping the worker: DeadLetterFlood" in log
