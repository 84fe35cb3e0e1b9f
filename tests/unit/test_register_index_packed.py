"""Packed postings decide as the memtable alone does: runs, merges and compaction change nothing."""

from __future__ import annotations

from connectors.simulate import simulate
from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import apply_event
from streams.domain.rules import decide


def loaded(events: list[RegisterEvent], memtable_records: int) -> RegisterIndex:
    """An index fed event by event, as the register agent feeds it."""
    index = RegisterIndex(memtable_records=memtable_records)
    for event in events:
        index.upsert(apply_event(index.get(event.subject.subject_ref), event))
    return index


def test_decisions_are_the_same_whether_postings_sit_in_the_memtable_or_in_runs() -> None:
    scenario = simulate(5, 120, 200)
    events = [RegisterEvent.model_validate(e) for e in scenario.register]
    incidents = [PoliceIncident.model_validate(m) for m in scenario.incidents]
    in_memtable = loaded(events, memtable_records=1 << 20)
    in_runs = loaded(events, memtable_records=3)
    assert in_runs._postings.runs > 1 and len(in_runs) == len(in_memtable)
    expected = [decide(incident, in_memtable) for incident in incidents]
    assert {d.decision for d in expected} >= {"trigger", "no_action"}
    assert [decide(incident, in_runs) for incident in incidents] == expected
    in_runs.compact()
    assert in_runs._postings.runs == 1
    assert [decide(incident, in_runs) for incident in incidents] == expected
    assert in_runs.counts_by_kind() == in_memtable.counts_by_kind()
