"""Offline replay folds the register and writes one decision/1 per incident's latest revision."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from connectors.cli.replay import main, replay
from schemas.decision import Decision

HOME = {"uprn": "100", "lines": ["Flat 3", "12 High Road"], "town": "London", "postcode": "N8 7DW"}
ELSEWHERE = {"uprn": None, "lines": ["bus stop, West Green Road"], "town": None, "postcode": None}


def register_event(ref: str, type_: str, **kw: Any) -> dict[str, Any]:
    """One register-event/1 message."""
    return {
        "schema": "register-event/1",
        "event_id": str(uuid.uuid4()),
        "source": "child_health",
        "local_authority": "E09000014",
        "recorded_at": "2026-02-23T11:30:00+00:00",
        "type": type_,
        "subject": {"subject_ref": ref, "kind": "child", "date_of_birth": "2026-02-21"},
        **kw,
    }


def police_incident(incident_id: str, revision: int, location: dict[str, Any]) -> dict[str, Any]:
    """One police-incident/1 message."""
    return {
        "schema": "police-incident/1",
        "notification_id": str(uuid.uuid4()),
        "incident_id": incident_id,
        "force": "MPS",
        "revision": revision,
        "occurred_at": "2026-07-30T06:22:00+00:00",
        "reported_at": "2026-07-30T09:52:00+00:00",
        "location": location,
        "dash_risk": "standard",
        "persons": [{"person_ref": "P1", "role": "victim", "given_name": "Ann"}],
    }


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write JSON lines (with a blank line, which replay skips)."""
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    return path


def files(tmp_path: Path) -> tuple[Path, Path]:
    """A register of one child at HOME (moved there) and three incidents, one revised twice."""
    register = write(
        tmp_path / "register.jsonl",
        [
            register_event("C1", "birth_registered", address=ELSEWHERE | {"lines": ["1 Old Road"]}),
            register_event("C1", "subject_moved", effective_date="2026-05-01", address=HOME),
        ],
    )
    incidents = write(
        tmp_path / "incidents.jsonl",
        [
            police_incident("A", 1, ELSEWHERE),
            police_incident("B", 1, ELSEWHERE),
            police_incident("A", 3, HOME),
            police_incident("A", 2, ELSEWHERE),  # arrives late: revision 3 still wins
            police_incident("C", 1, HOME) | {"occurred_at": "2026-04-30T10:00:00+00:00"},
        ],
    )
    return register, incidents


def decisions(path: Path) -> list[Decision]:
    """The decision/1 lines of a file."""
    return [Decision.model_validate_json(line) for line in path.read_text().splitlines()]


def test_replay_decides_the_latest_revision_of_each_incident_once(tmp_path: Path) -> None:
    register, incidents = files(tmp_path)
    stats = replay(register, incidents, tmp_path / "out.jsonl")
    out = {d.incident_id: d for d in decisions(tmp_path / "out.jsonl")}
    assert list(out) == ["A", "B", "C"]
    assert (out["A"].revision, out["A"].decision) == (3, "trigger")
    assert [s.subject_ref for s in out["A"].subjects] == ["C1"]
    assert out["B"].decision == "no_action"
    assert out["C"].decision == "no_action"  # before the move, HOME was not the child's home
    assert (stats.register_events, stats.subjects, stats.incident_messages, stats.incidents) == (
        2,
        1,
        5,
        3,
    )
    assert stats.decisions == {"trigger": 1, "no_action": 2}
    assert stats.subjects_by_kind == {"child": 1}
    assert "3 incidents" in stats.summary()


def test_replay_lines_carry_every_decision_field(tmp_path: Path) -> None:
    register, incidents = files(tmp_path)
    replay(register, incidents, tmp_path / "out.jsonl")
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert set(first) >= {"incident_id", "revision", "decision", "subjects", "reasons"}
    (subject,) = first["subjects"]
    assert subject["basis"] == "register"
    assert subject["outcome"] == "trigger"
    assert subject["person_ref"] is None
    assert subject["local_authority"] == "E09000014"


def test_invalid_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    register, incidents = files(tmp_path)
    with incidents.open("a", encoding="utf-8") as f:
        f.write('{"schema": "police-incident/1", "incident_id": "D"}\nnot json\n')
    stats = replay(register, incidents, tmp_path / "out.jsonl")
    assert [r.split(": ")[0] for r in stats.rejected] == ["incidents.jsonl:7", "incidents.jsonl:8"]
    assert all("validation errors" in r for r in stats.rejected)  # never the line's content
    assert stats.incidents == 3
    assert "2 invalid lines skipped" in stats.summary()


def test_a_change_of_an_unknown_subject_is_skipped_as_the_worker_dead_letters_it(
    tmp_path: Path,
) -> None:
    register, incidents = files(tmp_path)
    with register.open("a", encoding="utf-8") as f:
        f.write(json.dumps(register_event("C2", "subject_withdrawn")) + "\n")
    stats = replay(register, incidents, tmp_path / "out.jsonl")
    assert stats.rejected == ["register.jsonl: event 3: subject_withdrawn of an unknown subject"]
    assert (stats.register_events, stats.subjects) == (3, 1)


def test_main_runs_from_the_command_line(tmp_path: Path, capsys: Any) -> None:
    register, incidents = files(tmp_path)
    out = tmp_path / "cli.jsonl"
    argv = ["--register", str(register), "--incidents", str(incidents), "--out", str(out)]
    assert main(argv) == 0
    assert len(decisions(out)) == 3
    assert "register events" in capsys.readouterr().err
