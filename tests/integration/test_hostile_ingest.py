"""Hostile messages on a real broker: each is dead-lettered with its reason, and the worker
keeps deciding incidents and applying register events."""

from __future__ import annotations

from typing import Any

import pytest

from schemas.decision import Decision
from streams.config.topics import H_REASON, H_REASON_CLASS
from streams.domain.parsing import DEAD_LETTER_MAX_BYTES
from tests.support.fakes import birth
from tests.support.samples import hostile_variants, sample_incident
from tests.support.stack import Stack, wait_for

pytestmark = pytest.mark.integration

CANARIES = (b"Imelda", b"Quarrington", b"1996-03-14", b"9434765919", b"Zebedee", b"4857773456")


def incident(n: int) -> bytes:
    return sample_incident(f"MPS-2026-{n:06d}").model_dump_json().encode()


def letters(stack: Stack) -> list[Any]:
    return stack.read_topic("dead-letter")


def decided(stack: Stack) -> set[str]:
    return {
        Decision.model_validate_json(r.value).incident_id for r in stack.read_topic("decisions")
    }


async def test_hostile_messages_are_dead_lettered_and_valid_ones_still_decided(
    stack: Stack,
) -> None:
    too_large = b'{"pad": "' + b"x" * DEAD_LETTER_MAX_BYTES + b'"}'  # dead-lettered as headers
    police = [*hostile_variants(incident(0)).values(), (too_large, "oversize")]
    register = list(hostile_variants(birth("C1").model_dump_json().encode()).values())
    for n in range(2):
        stack.produce_raw("police-incidents", incident(n), key=b"force-key")
    stack.produce_many("police-incidents", [raw for raw, _ in police], key=b"force-key")
    stack.produce_many("register-events", [raw for raw, _ in register], key=b"C1")
    stack.produce_raw("register-events", birth("C1").model_dump_json().encode(), key=b"C1")
    stack.produce_raw("police-incidents", incident(2), key=b"force-key")

    kept = sorted((b"" if raw is too_large else raw, reason) for raw, reason in police + register)
    wait_for("every hostile message dead-lettered", lambda: len(letters(stack)) >= len(kept))
    wait_for("the valid incidents decided", lambda: len(decided(stack)) == 3)
    wait_for("the valid register event applied", lambda: stack.register_size() == 1)

    found = [(bytes(r.value or b""), dict(r.headers)) for r in letters(stack)]
    assert sorted((value, h[H_REASON_CLASS].decode()) for value, h in found) == kept
    for _, headers in found:
        assert headers[H_REASON] and not [c for c in CANARIES if c in headers[H_REASON]]
    assert decided(stack) == {f"MPS-2026-{n:06d}" for n in range(3)}
    for reason in ("oversize", "not_json"):
        count = sum(1 for _, r in police if r == reason)
        assert stack.metric("dvtrigger_incidents_rejected_total", reason=reason) == count
        count = sum(1 for _, r in register if r == reason)
        assert stack.metric("dvtrigger_register_events_rejected_total", reason=reason) == count
    assert all(worker.poll() is None for worker in stack.workers)
    assert "Quarrington" not in stack.metrics_text()
