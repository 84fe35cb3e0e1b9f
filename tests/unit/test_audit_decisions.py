"""Decisions in the audit log: what the decide and late flows record, and its reproduction."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.audit import FileAuditLog, read, verify_directory
from connectors.cli.main import main
from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.task import RaiseTask
from streams.bootstrap import Worker
from streams.config.settings import Settings
from streams.domain.audit import canonical, digest, envelope
from streams.domain.audit_decisions import command_event, reproduce
from streams.domain.config import RULES_VERSION, RulesConfig
from streams.domain.ports.audit import AuditEvent
from tests.support.fakes import (
    FATHER,
    FakeClock,
    birth,
    fake_event,
    make_worker,
    register_body,
    register_of,
)
from tests.support.samples import sample_incident, sample_raise_task

KEY = b"MPS-2026-000001"
INCIDENT = "MPS-2026-000001"
#: Names and a date of birth of the sample incident and register: never in an envelope or output.
PERSONAL = ("Imelda", "Quarrington", "Barnaby", "Ulverstone", "Zebedee", "Quuxley", "1996-03-14")
#: Scores 0.9998 triggers by default; above it, it is only a review.
STRICTER = "0.99999"


class CountingLog(FileAuditLog):
    """A file audit log counting its appends (one per batch)."""

    appends = 0

    def append_many(self, events: list[AuditEvent]) -> None:
        self.appends += 1
        super().append_many(events)


def a_worker(audit: FileAuditLog, **kw: Any) -> Worker:
    return make_worker(index=register_of(birth("C1")), audit=audit, **kw)


def event_of(incident: PoliceIncident, offset: int = 7) -> Any:
    value = incident.model_dump_json().encode()
    key = incident.incident_id.encode()
    return fake_event(value, key=key, topic="dvtrigger.incidents", offset=offset)


def records(directory: Path, kind: str) -> list[dict[str, Any]]:
    return [i.record for i in read(directory) if i.record["kind"] == kind]


async def test_a_decision_and_its_task_commands_are_recorded_with_rules_config_and_inputs(
    tmp_path: Path,
) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        w = a_worker(audit)
        await w.decide.handle(event_of(sample_incident()))

    (decision,) = records(tmp_path, "decision")
    sent = Decision.model_validate_json(w.topics.decisions.sent[0].value)
    refs = decision["refs"]
    assert (decision["actor"], decision["action"]) == ("system:decide", "decided")
    assert refs["incident"] == [INCIDENT] and refs["revision"] == ["1"]
    assert refs["input"] == ["dvtrigger.incidents:0:7"]
    assert refs["subject"] == ["C1"] and refs["candidate"] == ["C1"]
    assert refs["outcome"] == ["trigger"] and refs["rules"] == [RULES_VERSION]
    assert refs["config"] == [digest(Settings().rules.model_dump(mode="json"))]
    assert refs["register_event"] == [w.register.index.get("C1").last_event_id]
    detail = decision["detail"]
    assert detail["rules_version"] == RULES_VERSION
    assert detail["config"] == Settings().rules.model_dump(mode="json")
    assert Decision.model_validate_json(json.dumps(detail["decision"])).subjects == sent.subjects
    assert detail["incident"]["incident_id"] == INCIDENT
    assert set(detail["register"]["records"]) == {"C1"}

    commands = [RaiseTask.model_validate_json(m.value) for m in w.topics.task_commands.sent]
    tasks = records(tmp_path, "task_command")
    assert [t["refs"]["task"] for t in tasks] == [[c.idempotency_key] for c in commands]
    assert [t["action"] for t in tasks] == ["raise"] * len(commands)
    assert all(t["refs"]["incident"] == [INCIDENT] for t in tasks)
    assert [(t["detail"]["priority"], t["detail"]["queue"]) for t in tasks] == [
        (c.priority, c.queue) for c in commands
    ]
    assert verify_directory(tmp_path).problems == []


async def test_no_envelope_and_no_task_command_detail_holds_personal_data(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        await a_worker(audit).decide.handle(event_of(sample_incident()))
    for item in read(tmp_path):
        shown = canonical(envelope(item.record)).decode()
        if item.record["kind"] == "task_command":
            shown += canonical(item.record["detail"]).decode()
        assert not [word for word in PERSONAL if word in shown]


def test_a_task_commands_detail_counts_its_changes_without_their_words() -> None:
    born = "born on 2026-08-05, now child record C1"
    command = sample_raise_task(changes=["revision 2 received", born], needs_confirmation=True)
    detail = command_event(command, datetime(2026, 8, 10, tzinfo=UTC), actor="decide").detail
    assert (detail["changes"], detail["needs_confirmation"]) == (2, True)
    assert "2026-08-05" not in canonical(detail).decode()


async def test_a_batch_is_appended_once(tmp_path: Path) -> None:
    with CountingLog(tmp_path, "decide") as audit:
        w = a_worker(audit)
        incidents = [sample_incident(f"MPS-2026-00000{n}") for n in range(1, 4)]
        await w.decide.handle_batch([event_of(i, n) for n, i in enumerate(incidents)])
        assert audit.appends == 1
    assert [r["refs"]["incident"] for r in records(tmp_path, "decision")] == [
        [i.incident_id] for i in incidents
    ]


async def test_a_duplicate_is_not_recorded_again(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        w = a_worker(audit)
        await w.decide.handle(event_of(sample_incident()))
        await w.decide.handle(event_of(sample_incident()))
    assert len(records(tmp_path, "decision")) == 1


async def test_the_recorded_inputs_reproduce_the_decision(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        await a_worker(audit).decide.handle(event_of(sample_incident()))
    (decision,) = records(tmp_path, "decision")

    again = reproduce(decision["detail"], Settings().rules, RULES_VERSION)
    assert again.reproduced and again.same_today
    assert again.again.decision == "trigger" and again.config_changed == []
    assert again.misses == 0


async def test_after_a_threshold_changes_today_s_rules_would_decide_otherwise(
    tmp_path: Path,
) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        await a_worker(audit).decide.handle(event_of(sample_incident()))
    (decision,) = records(tmp_path, "decision")

    stricter = RulesConfig(trigger_score=float(STRICTER))
    again = reproduce(decision["detail"], stricter, RULES_VERSION)
    assert again.reproduced and not again.same_today
    assert (again.recorded.decision, again.today.decision) == ("trigger", "review")
    assert again.config_changed == ["trigger_score"]


async def test_a_changed_recorded_input_no_longer_reproduces(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as audit:
        await a_worker(audit).decide.handle(event_of(sample_incident()))
    (decision,) = records(tmp_path, "decision")
    decision["detail"]["register"]["records"]["C1"]["carers"] = []

    assert not reproduce(decision["detail"], Settings().rules, RULES_VERSION).reproduced


async def test_a_late_re_decision_and_its_task_are_recorded(tmp_path: Path) -> None:
    now = datetime(2026, 8, 10, 9, 0, tzinfo=UTC)
    with FileAuditLog(tmp_path, "decide") as audit:
        w = make_worker(index=register_of(), audit=audit, clock=FakeClock(now))
        await w.decide.handle(event_of(sample_incident()))
        body = register_body(
            "U1",
            "pregnancy_registered",
            "unborn",
            subject={"expected_delivery_date": "2026-12-01"},
            carers=[FATHER],
            address={"lines": ["3 Elm Row"], "town": "London", "postcode": "E8 1AA"},
            recorded_at="2026-08-10T08:00:00+00:00",
        )
        value = json.dumps(body).encode()
        await w.register.apply(fake_event(value, key=b"U1", topic="dvtrigger.register-events"))

    first, late = records(tmp_path, "decision")
    assert (first["refs"]["outcome"], late["refs"]["outcome"]) == (["no_action"], ["trigger"])
    assert (late["actor"], late["action"]) == ("system:late", "redecided")
    assert late["refs"]["subject"] == ["U1"]
    (task,) = records(tmp_path, "task_command")
    assert task["refs"]["task"] == [f"{INCIDENT}/subject:U1"] and task["actor"] == "system:late"
    assert reproduce(late["detail"], Settings().rules, RULES_VERSION).reproduced
    assert verify_directory(tmp_path).problems == []


# --- the command line ---------------------------------------------------------------------------


def dvtrigger(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["dvtrigger"])
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.fixture
async def decided(tmp_path: Path) -> Path:
    """An audit directory holding one decided incident."""
    with FileAuditLog(tmp_path, "decide") as audit:
        await a_worker(audit).decide.handle(event_of(sample_incident()))
    return tmp_path


async def test_cli_verify_says_whole_then_names_a_tampered_line(
    decided: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = dvtrigger(monkeypatch, capsys, "audit", "--dir", str(decided), "verify")
    count = len(read(decided))
    assert code == 0 and f"{count} records in 1 chains checked: whole" in out

    chain = decided / "decide.jsonl"
    lines = chain.read_text().splitlines()
    lines[1] = lines[1].replace('"action":"raise"', '"action":"withdraw"')
    chain.write_text("\n".join(lines) + "\n")
    code, out = dvtrigger(monkeypatch, capsys, "audit", "verify", "--dir", str(decided))
    assert code == 1
    assert f"problem: {chain}:2: seq 2: hash mismatch" in out


async def test_cli_explain_reproduces_then_says_today_s_rules_differ(
    decided: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = dvtrigger(monkeypatch, capsys, "audit", "--dir", str(decided), "explain", INCIDENT)
    assert code == 0
    assert "reproduced from the recorded inputs and settings: yes" in out
    assert "would decide the same" in out
    assert "register C1: trigger" in out.replace("child ", "")
    assert not [word for word in PERSONAL if word in out]

    monkeypatch.setenv("DVTRIGGER_RULES__TRIGGER_SCORE", STRICTER)
    code, out = dvtrigger(monkeypatch, capsys, "audit", "--dir", str(decided), "explain", INCIDENT)
    assert code == 0
    assert "would decide differently: review" in out
    assert "settings changed since: trigger_score" in out


async def test_cli_purge_then_explain_says_the_detail_is_gone_and_verify_still_passes(
    decided: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("audit", "--dir", str(decided))
    code, out = dvtrigger(monkeypatch, capsys, *where, "purge", "--before", "2999-01-01")
    assert code == 0 and "decide: " in out
    code, out = dvtrigger(monkeypatch, capsys, *where, "explain", INCIDENT)
    assert code == 0 and "detail purged by retention" in out
    code, out = dvtrigger(monkeypatch, capsys, *where, "verify")
    assert code == 0, out


async def test_cli_query_by_task_prints_envelopes(
    decided: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where = ("audit", "--dir", str(decided))
    (task,) = [r for r in records(decided, "task_command")][:1]
    key = task["refs"]["task"][0]
    code, out = dvtrigger(monkeypatch, capsys, *where, "query", "--task", key)
    shown = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [s["seq"] for s in shown] == [task["seq"]]
    assert "detail" not in shown[0] and shown[0]["hash"] == task["hash"]
    code, out = dvtrigger(monkeypatch, capsys, *where, "query", "--person", "P1")
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["decision"]


def test_cli_verify_of_a_directory_without_chains_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = dvtrigger(monkeypatch, capsys, "audit", "verify", "--dir", str(tmp_path / "none"))
    assert code == 1 and "no audit chain" in out
