"""The file audit log: appends from threads, reopening, the head, retention, queries."""

from __future__ import annotations

import json
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.audit import (
    AuditLogBusy,
    AuditLogError,
    FileAuditLog,
    query,
    read,
    verify_directory,
)
from connectors.audit import file as audit_file
from streams.domain.ports.audit import AuditEvent

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def event(n: int, user: str = "ada", at: datetime = AT) -> AuditEvent:
    return AuditEvent(
        kind="task_action",
        at=at,
        actor=f"user:{user}",
        action="closed",
        origin="127.0.0.1",
        reason="done",
        refs={"task": [f"T{n}"], "person": [f"H{n}"], "incident": [f"I{n % 3}"]},
        detail={"note": f"free text {n}"},
    )


def problems(directory: Path) -> list[str]:
    return [str(p) for p in verify_directory(directory).problems]


def seqs(directory: Path) -> list[int]:
    return [item.record["seq"] for item in read(directory)]


def test_appends_are_chained_from_one_and_verify(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "duty-inbox") as log:
        log.append(event(1))
        log.append_many([event(2), event(3)])
        log.append_many([])
    assert seqs(tmp_path) == [1, 2, 3]
    assert problems(tmp_path) == []
    head = json.loads((tmp_path / "duty-inbox.head").read_text())
    assert head == {"chain": "duty-inbox", "seq": 3, "hash": read(tmp_path)[-1].record["hash"]}


def test_the_files_are_private(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path / "audit", "decide") as log:
        log.append(event(1))
    for name in ("decide.jsonl", "decide.head"):
        assert stat.S_IMODE(os.stat(tmp_path / "audit" / name).st_mode) == 0o600


def test_concurrent_appends_from_threads_make_one_whole_chain(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "duty-inbox") as log, ThreadPoolExecutor(8) as pool:
        singles = pool.map(lambda n: log.append(event(n)), range(200))
        batches = pool.map(lambda n: log.append_many([event(n), event(n + 1)]), range(1000, 1100))
        list(singles), list(batches)
    assert seqs(tmp_path) == list(range(1, 401))
    assert problems(tmp_path) == []
    tasks = {item.record["refs"]["task"][0] for item in read(tmp_path)}
    assert {f"T{n}" for n in range(200)} <= tasks


def test_reopening_continues_the_chain(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append_many([event(1), event(2)])
    with FileAuditLog(tmp_path, "decide") as log:
        assert log.seq == 2
        log.append(event(3))
    _first, second, third = read(tmp_path)
    assert third.record["prev"] == second.record["hash"]
    assert seqs(tmp_path) == [1, 2, 3] and problems(tmp_path) == []


def test_a_second_writer_of_a_chain_is_refused(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide"):
        with pytest.raises(AuditLogBusy):
            FileAuditLog(tmp_path, "decide")
        FileAuditLog(tmp_path, "ingress").close()  # another chain is another writer's


def test_a_removed_last_record_is_found_and_the_log_will_not_go_on(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append_many([event(1), event(2), event(3)])
    chain = tmp_path / "decide.jsonl"
    chain.write_text("".join(chain.read_text().splitlines(keepends=True)[:-1]))
    assert problems(tmp_path) == [
        f"{chain}:2: seq 3: records missing at the end: the head names seq 3, the chain ends at 2"
    ]
    with pytest.raises(AuditLogError):
        FileAuditLog(tmp_path, "decide")


def test_a_torn_last_line_is_cut_off_on_opening(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(1))
    with (tmp_path / "decide.jsonl").open("a") as f:
        f.write('{"seq":2,"chain":"dec')  # a crash in the middle of a write never acknowledged
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(2))
    assert seqs(tmp_path) == [1, 2] and problems(tmp_path) == []


def test_a_failed_write_is_cut_back_and_the_chain_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_all = audit_file._write_all

    def half_then_fail(fd: int, data: bytes) -> None:
        write_all(fd, data[: len(data) // 2])
        raise OSError("disk full")

    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(1))
        monkeypatch.setattr(audit_file, "_write_all", half_then_fail)
        with pytest.raises(OSError):
            log.append_many([event(2), event(3)])
        monkeypatch.setattr(audit_file, "_write_all", write_all)
        log.append(event(4))
    assert seqs(tmp_path) == [1, 2] and problems(tmp_path) == []
    assert read(tmp_path)[-1].record["refs"]["task"] == ["T4"]


def test_a_head_behind_its_chain_is_named_then_brought_forward_on_opening(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(1))
        head = (tmp_path / "decide.head").read_bytes()
        log.append(event(2))
    (tmp_path / "decide.head").write_bytes(head)  # as if the worker died before the head
    assert [p.split(": ", 1)[1] for p in problems(tmp_path)] == [
        "seq 2: records after the head (a crash before the head was written, or forged)"
    ]
    FileAuditLog(tmp_path, "decide").close()
    assert problems(tmp_path) == []


def test_a_missing_head_is_a_problem(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(1))
    (tmp_path / "decide.head").unlink()
    assert problems(tmp_path) == [f"{tmp_path / 'decide.head'}: missing head"]


def test_purge_nulls_older_details_keeps_some_and_the_chain_verifies(tmp_path: Path) -> None:
    old, new = AT - timedelta(days=400), AT
    with FileAuditLog(tmp_path, "decide") as log:
        log.append_many([event(1, at=old), event(2, at=old), event(3, at=new)])
        hashes = [item.record["hash"] for item in read(tmp_path)]
        assert log.purge_details(AT - timedelta(days=365), keep_refs={"T2"}) == 1
        log.append(event(4))
    first, second, third, retention, fourth = (item.record for item in read(tmp_path))
    assert (first["detail"], first["purged"]) == (None, True)
    assert second["detail"] == {"note": "free text 2"} and third["detail"] is not None
    assert [first["hash"], second["hash"], third["hash"]] == hashes
    assert (retention["kind"], retention["detail"]) == ("retention", {"purged": 1})
    assert fourth["prev"] == retention["hash"]
    assert problems(tmp_path) == []


def test_a_purged_detail_put_back_changed_is_found(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(1, at=AT - timedelta(days=400)))
        log.purge_details(AT)
    chain = tmp_path / "decide.jsonl"
    chain.write_text(chain.read_text().replace('"detail":null', '"detail":{"note":"forged"}', 1))
    assert [p.split(": ", 2)[2] for p in problems(tmp_path)] == [
        "detail digest mismatch: the detail was changed"
    ]


def test_query_by_person_task_user_and_incident(tmp_path: Path) -> None:
    with FileAuditLog(tmp_path, "duty-inbox") as log:
        log.append_many([event(n, user="ada" if n < 3 else "bob") for n in range(6)])
    with FileAuditLog(tmp_path, "decide") as log:
        log.append(event(7, user="cy"))

    def tasks(**by: str) -> list[str]:
        return [r["refs"]["task"][0] for r in query(tmp_path, **by)]

    assert tasks(person="H4") == ["T4"]
    assert tasks(task="T7") == ["T7"]
    assert tasks(user="ada") == ["T0", "T1", "T2"]
    assert sorted(tasks(incident="I1")) == ["T1", "T4", "T7"]
    assert tasks(user="bob", incident="I1") == ["T4"]
    assert tasks(person="nobody") == []
