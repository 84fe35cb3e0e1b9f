"""File drop: each file read once through a fake broker; crashes at every point; receipts."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.file_drop.drop import Drop, Topics
from connectors.file_drop.feed import (
    H_FILE_DIGEST,
    H_FILE_LINE,
    FakeFeed,
    FeedUnavailable,
    Outgoing,
)
from connectors.file_drop.folder import Folder, write_durably
from connectors.file_drop.metrics import DropMetrics
from connectors.file_drop.records import digest
from connectors.file_drop.state import Offsets, Progress
from connectors.file_drop.watch import poll_once
from connectors.file_drop.web import application
from streams.config.topics import H_REASON, H_REASON_CLASS, H_SOURCE_TOPIC
from tests.support.samples import sample_incident

POLICE, DEAD = "t.police-incidents", "t.dead-letter"
NAME, NHS = "Quarrington", "9434765919"
NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def incident(number: int) -> bytes:
    return sample_incident(f"MPS-2026-{number:06d}").model_dump_json(by_alias=True).encode()


def jsonl(*lines: bytes) -> bytes:
    return b"\n".join(lines) + b"\n"


def make_drop(root: Path, feed: Any, batch_size: int = 2) -> Drop:
    return Drop(
        folder=Folder(root),
        feed=feed,
        topics=Topics(POLICE, DEAD),
        batch_size=batch_size,
        max_file_bytes=1_000_000,
        metrics=DropMetrics(CollectorRegistry()),
        now=lambda: NOW,
    )


def lines_on(feed: FakeFeed, topic: str) -> list[int]:
    return sorted(int(dict(r.headers)[H_FILE_LINE]) for r in feed.values(topic))


def receipts(root: Path) -> list[dict[str, Any]]:
    """Every receipt, in the order they were written."""
    found = [json.loads(p.read_text()) for p in (root / "receipts").iterdir()]
    return sorted(found, key=lambda r: (r["outcome"] != "published", r["file"]))


BATCH = jsonl(incident(1), incident(2), f"victim {NAME} NHS {NHS}".encode(), incident(3))


def test_a_file_is_published_with_its_lines_tagged_and_its_receipt_written(tmp_path: Path) -> None:
    feed = FakeFeed()
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    drop = make_drop(tmp_path, feed)
    assert poll_once(drop, keep_days=14)
    police = feed.values(POLICE)
    assert sorted(r.key for r in police) == [
        b"MPS-2026-000001",
        b"MPS-2026-000002",
        b"MPS-2026-000003",
    ]  # type: ignore[type-var]
    assert {dict(r.headers)[H_FILE_DIGEST] for r in police} == {digest(BATCH).encode()}
    assert lines_on(feed, POLICE) == [1, 2, 4]
    (receipt,) = receipts(tmp_path)
    assert receipt["file"] == "batch.jsonl" and receipt["digest"] == digest(BATCH)
    assert receipt["outcome"] == "published"
    assert (receipt["lines_read"], receipt["published"]) == (4, 3)
    ((refused),) = receipt["refused"]
    assert (refused["line"], refused["reason_class"]) == (3, "not_json")
    assert refused["reason"].startswith("not a JSON document")
    assert receipt["incident_ids"] == ["MPS-2026-000001", "MPS-2026-000002", "MPS-2026-000003"]
    assert receipt["started"] and receipt["finished"] and receipt["resumed"] == []
    assert [p.name for p in (tmp_path / "done").iterdir()] == ["batch.jsonl"]
    assert not (tmp_path / "batch.jsonl").exists()
    metrics = drop.metrics.registry
    assert metrics.get_sample_value("dvtrigger_file_drop_lines_published_total") == 3
    assert (
        metrics.get_sample_value("dvtrigger_file_drop_lines_refused_total", {"reason": "not_json"})
        == 1
    )
    assert (
        metrics.get_sample_value("dvtrigger_file_drop_files_total", {"outcome": "published"}) == 1
    )


def test_a_refused_line_is_dead_lettered_for_replay_to_the_police_topic(tmp_path: Path) -> None:
    feed = FakeFeed()
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    make_drop(tmp_path, feed).process(tmp_path / "batch.jsonl")
    (dead,) = feed.values(DEAD)
    headers = dict(dead.headers)
    assert dead.value == f"victim {NAME} NHS {NHS}".encode()  # kept as it came, for replay
    assert headers[H_SOURCE_TOPIC] == POLICE.encode()
    assert headers[H_REASON_CLASS] == b"not_json" and NAME.encode() not in headers[H_REASON]
    assert headers[H_FILE_LINE] == b"3" and headers[H_FILE_DIGEST] == digest(BATCH).encode()


def test_no_receipt_log_or_metric_holds_the_content(tmp_path: Path, caplog: Any) -> None:
    caplog.set_level("DEBUG")
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    drop = make_drop(tmp_path, FakeFeed())
    poll_once(drop, keep_days=14)
    from prometheus_client import generate_latest

    for text in [
        *(p.read_text() for p in (tmp_path / "receipts").iterdir()),
        *(p.read_text() for p in (tmp_path / "state").glob("*.json")),
        caplog.text,
        generate_latest(drop.metrics.registry).decode(),
    ]:
        for personal in (NAME, NHS, "Imelda", "West Green Road", "1996-03-14"):
            assert personal not in text


def test_an_identical_file_dropped_again_is_not_published_again(tmp_path: Path) -> None:
    feed = FakeFeed()
    drop = make_drop(tmp_path, feed)
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    poll_once(drop, keep_days=14)
    (tmp_path / "again.jsonl").write_bytes(BATCH)
    (tmp_path / "batch.jsonl").write_bytes(BATCH)  # same name too
    poll_once(drop, keep_days=14)
    assert lines_on(feed, POLICE) == [1, 2, 4] and lines_on(feed, DEAD) == [3]
    first, again, same_name = receipts(tmp_path)
    assert first["outcome"] == "published"
    assert (again["file"], again["outcome"]) == ("again.jsonl", "duplicate")
    assert (same_name["file"], same_name["outcome"]) == ("batch.jsonl", "duplicate")
    assert again["first_receipt"] == "batch.jsonl.receipt.json"
    assert again["published"] == 0 and "nothing was published again" in again["reason"]
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == [
        "again.jsonl",
        "batch.jsonl",
        "batch.jsonl.2",
    ]
    files = drop.metrics.registry.get_sample_value
    assert files("dvtrigger_file_drop_files_total", {"outcome": "duplicate"}) == 2


def test_an_unreadable_file_goes_to_failed_with_a_receipt_saying_why(tmp_path: Path) -> None:
    feed = FakeFeed()
    (tmp_path / "latin1.jsonl").write_bytes(incident(1) + b"\n" + "Zoë".encode("latin-1"))
    poll_once(make_drop(tmp_path, feed), keep_days=14)
    assert feed.values(POLICE) == [] and feed.values(DEAD) == []
    (receipt,) = receipts(tmp_path)
    assert receipt["outcome"] == "failed"
    assert receipt["reason"].startswith("not UTF-8 text (byte ")
    assert [p.name for p in (tmp_path / "failed").iterdir()] == ["latin1.jsonl"]


def test_files_still_being_written_are_left_alone(tmp_path: Path) -> None:
    for name in ("batch.jsonl.partial", "batch.csv.tmp", ".batch.jsonl", "notes.txt"):
        (tmp_path / name).write_bytes(BATCH)
    feed = FakeFeed()
    poll_once(make_drop(tmp_path, feed), keep_days=14)
    assert feed.values(POLICE) == [] and receipts(tmp_path) == []
    assert len([p for p in tmp_path.iterdir() if p.is_file()]) == 4


def test_a_link_is_never_followed_and_a_file_too_big_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path.parent / f"{tmp_path.name}-secret.jsonl"
    secret.write_bytes(BATCH)
    (tmp_path / "link.jsonl").symlink_to(secret)
    (tmp_path / "huge.jsonl").write_bytes(b" " * 1_000_001)
    feed = FakeFeed()
    poll_once(make_drop(tmp_path, feed), keep_days=14)
    assert feed.values(POLICE) == [] and (tmp_path / "link.jsonl").is_symlink()
    (receipt,) = receipts(tmp_path)
    assert (receipt["file"], receipt["outcome"], receipt["digest"]) == (
        "huge.jsonl",
        "failed",
        None,
    )
    assert receipt["reason"].startswith("file is 1000001 bytes, over the limit of 1000000")


def check_feed_contract(feed: Any, topic: str) -> None:
    """What the drop relies on from any feed: offsets, and reading back what landed after them."""
    before = feed.end_offsets([topic])
    assert set(before) == {topic} and before[topic]
    tag = [(H_FILE_DIGEST, b"d" * 64)]
    feed.publish(
        [Outgoing(topic, b"k%d" % n, b"{}", [*tag, (H_FILE_LINE, b"%d" % n)]) for n in (1, 2)]
    )
    middle = feed.end_offsets([topic])
    assert sum(middle[topic].values()) == sum(before[topic].values()) + 2
    feed.publish([Outgoing(topic, b"k3", b"{}", [*tag, (H_FILE_LINE, b"3")])])
    assert feed.landed(before, "d" * 64) == {1, 2, 3}
    assert feed.landed(middle, "d" * 64) == {3}
    assert feed.landed(before, "e" * 64) == set()


def test_the_fake_feed_keeps_the_feed_contract() -> None:
    check_feed_contract(FakeFeed(), POLICE)


class CrashAfterAck(FakeFeed):
    """Takes the batch, then dies before the drop can checkpoint it (end offsets fail)."""

    calls: int = 0
    crash_at: int = 0

    def end_offsets(self, topics: list[str]) -> Offsets:
        self.calls += 1
        if self.calls == self.crash_at:
            raise FeedUnavailable("gone between the acknowledgement and the checkpoint")
        return super().end_offsets(topics)


TEN = jsonl(*(incident(n) for n in range(1, 10)), b"{not json")


@pytest.mark.parametrize("crash_at", range(1, 6))
def test_a_crash_after_an_acknowledged_batch_publishes_no_line_twice(
    tmp_path: Path, crash_at: int
) -> None:
    feed = CrashAfterAck()
    feed.crash_at = crash_at
    (tmp_path / "batch.jsonl").write_bytes(TEN)
    assert not poll_once(make_drop(tmp_path, feed, batch_size=3), keep_days=14)
    assert poll_once(make_drop(tmp_path, feed, batch_size=3), keep_days=14)  # a new process
    assert lines_on(feed, POLICE) == list(range(1, 10)) and lines_on(feed, DEAD) == [10]
    (receipt,) = receipts(tmp_path)
    assert (receipt["published"], len(receipt["refused"])) == (9, 1)
    assert len(receipt["incident_ids"]) == 9
    if crash_at > 1:  # the first call is before anything is sent
        (resumed,) = receipt["resumed"]
        assert resumed == {
            "from_line": 3 * (crash_at - 2) + 1,
            "already_on_topics": 3 if crash_at < 5 else 1,
        }


@pytest.mark.parametrize("taken", range(0, 10))
def test_a_broker_failing_mid_batch_publishes_no_line_twice(tmp_path: Path, taken: int) -> None:
    feed = FakeFeed(fail_after=taken)
    (tmp_path / "batch.jsonl").write_bytes(TEN)
    drop = make_drop(tmp_path, feed, batch_size=4)
    assert not poll_once(drop, keep_days=14)
    assert (tmp_path / "batch.jsonl").exists() and receipts(tmp_path) == []
    feed.fail_after = None
    assert poll_once(drop, keep_days=14)
    on_topics = Counter(lines_on(feed, POLICE) + lines_on(feed, DEAD))
    assert sorted(on_topics) == list(range(1, 11)) and set(on_topics.values()) == {1}
    (receipt,) = receipts(tmp_path)
    assert receipt["published"] == 9 and receipt["resumed"][0]["from_line"] == 4 * (taken // 4) + 1
    assert drop.metrics.registry.get_sample_value("dvtrigger_file_drop_feed_failures_total") == 1


def test_a_crash_after_the_last_checkpoint_still_writes_one_receipt(tmp_path: Path) -> None:
    feed = FakeFeed()
    folder = Folder(tmp_path)
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    real_move = folder.move
    folder.move = lambda *_: (_ for _ in ()).throw(OSError("crash"))  # type: ignore[method-assign]
    drop = make_drop(tmp_path, feed)
    object.__setattr__(drop, "folder", folder)
    with pytest.raises(OSError):
        drop.process(tmp_path / "batch.jsonl")
    folder.move = real_move  # type: ignore[method-assign]
    poll_once(drop, keep_days=14)
    assert lines_on(feed, POLICE) == [1, 2, 4]
    assert [r["outcome"] for r in receipts(tmp_path)] == ["published", "duplicate"]


def test_the_checkpoint_is_written_durably_after_each_batch(tmp_path: Path) -> None:
    saved: list[int] = []
    folder = Folder(tmp_path)
    original = folder.save

    def save(progress: Progress) -> None:
        original(progress)
        on_disk = json.loads((tmp_path / "state" / f"{progress.digest}.json").read_text())
        saved.append(on_disk["next_line"])

    folder.save = save  # type: ignore[method-assign]
    drop = make_drop(tmp_path, FakeFeed(), batch_size=4)
    object.__setattr__(drop, "folder", folder)
    (tmp_path / "batch.jsonl").write_bytes(TEN)
    drop.process(tmp_path / "batch.jsonl")
    assert saved[:4] == [1, 5, 9, 11]  # then finished, receipt named, settled
    assert [p.name for p in (tmp_path / "state").iterdir() if p.name != ".lock"] == [
        f"{digest(TEN)}.json"
    ]


def test_write_durably_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    write_durably(path, b"one")
    write_durably(path, b"two")
    assert path.read_bytes() == b"two" and [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_old_files_leave_done_and_failed_but_receipts_stay(tmp_path: Path) -> None:
    folder = Folder(tmp_path)
    old, new = folder.done / "old.jsonl", folder.failed / "new.csv"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    (folder.receipts / "old.jsonl.receipt.json").write_text("{}")
    day = 86_400
    os.utime(old, (time.time() - 15 * day, time.time() - 15 * day))
    assert folder.prune(keep_days=14) == 1
    assert (
        not old.exists() and new.exists() and (folder.receipts / "old.jsonl.receipt.json").exists()
    )


def test_a_second_drop_on_the_same_folder_is_refused(tmp_path: Path) -> None:
    held = Folder(tmp_path).lock()
    try:
        with pytest.raises(RuntimeError, match="another file drop"):
            Folder(tmp_path).lock()
    finally:
        held.close()
    Folder(tmp_path).lock().close()


def call(app: Any, path: str) -> tuple[str, bytes]:
    answer: list[str] = []
    body = b"".join(
        app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, lambda s, h: answer.append(s))
    )
    return answer[0], body


def test_healthz_says_whether_the_folder_was_looked_at_lately() -> None:
    metrics = DropMetrics(CollectorRegistry())
    app = application(metrics, stale_after_s=60, clock=lambda: 1000.0)
    metrics.heartbeat.set(950)
    assert call(app, "/healthz")[0] == "200 OK"
    metrics.heartbeat.set(900)
    assert call(app, "/healthz")[0].startswith("503")
    status, body = call(app, "/metrics")
    assert status == "200 OK" and b"dvtrigger_file_drop_lines_published_total" in body


def test_the_drop_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from streams.config.settings import Settings

    assert Settings().file_drop.directory == Path("var/drop")
    monkeypatch.setenv("DVTRIGGER_FILE_DROP__DIRECTORY", "/srv/drop")
    monkeypatch.setenv("DVTRIGGER_FILE_DROP__BATCH_SIZE", "7")
    monkeypatch.setenv("DVTRIGGER_FILE_DROP__POLL_INTERVAL_S", "0.5")
    drop = Settings().file_drop
    assert (drop.directory, drop.batch_size, drop.poll_interval_s) == (Path("/srv/drop"), 7, 0.5)
    monkeypatch.setenv("DVTRIGGER_FILE_DROP__BATCH_SIZE", "0")
    with pytest.raises(ValueError, match="batch_size"):
        Settings()


def test_a_file_that_cannot_be_opened_is_left_and_the_others_go_on(tmp_path: Path) -> None:
    feed = FakeFeed()
    drop = make_drop(tmp_path, feed)
    (tmp_path / "a-locked.jsonl").write_bytes(BATCH)
    (tmp_path / "b-fine.jsonl").write_bytes(jsonl(incident(7)))
    os.utime(tmp_path / "a-locked.jsonl", (1, 1))  # the older: read first
    real_read = drop.folder.read

    def read(path: Path, max_bytes: int) -> bytes:
        if path.name == "a-locked.jsonl":
            raise PermissionError(13, "Permission denied")
        return real_read(path, max_bytes)

    drop.folder.read = read  # type: ignore[method-assign]
    assert not poll_once(drop, keep_days=14)
    assert (tmp_path / "a-locked.jsonl").exists()
    assert [r.key for r in feed.values(POLICE)] == [b"MPS-2026-000007"]


# --- receipts for the police -------------------------------------------------------------------

RECEIPTS = "t.receipts"


def receipting_drop(root: Path, feed: Any, batch_size: int = 2) -> Drop:
    drop = make_drop(root, feed, batch_size)
    return Drop(**{**vars(drop), "topics": Topics(POLICE, DEAD, RECEIPTS)})


def test_each_line_s_receipt_is_in_the_file_s_receipt_and_a_refusal_s_on_the_topic(
    tmp_path: Path,
) -> None:
    feed = FakeFeed()
    (tmp_path / "batch.jsonl").write_bytes(BATCH)
    receipting_drop(tmp_path, feed).process(tmp_path / "batch.jsonl")
    (receipt,) = receipts(tmp_path)
    stages = [(n["stage"], n.get("incident_id")) for n in receipt["notifications"]]
    assert stages == [
        ("received", "MPS-2026-000001"),
        ("received", "MPS-2026-000002"),
        ("rejected", None),
        ("received", "MPS-2026-000003"),
    ]
    (on_topic,) = feed.values(RECEIPTS)  # a valid line's receipt is the worker's to send
    in_file = {k: v for k, v in receipt["notifications"][2].items() if v is not None}
    assert json.loads(on_topic.value) == in_file
    assert NAME not in on_topic.value.decode() and NHS not in on_topic.value.decode()
    door = {k: v for k, v in feed.values(POLICE)[0].headers if k.startswith("dvtrigger-")}
    assert door["dvtrigger-channel"] == b"file_drop"
    assert datetime.fromisoformat(door["dvtrigger-received-at"].decode()) == NOW


def test_a_restart_sends_only_the_record_of_a_line_that_had_not_landed(tmp_path: Path) -> None:
    refused_first = jsonl(b"{not json", incident(1))
    feed = FakeFeed(fail_after=1)  # the dead letter lands; its receipt does not
    (tmp_path / "batch.jsonl").write_bytes(refused_first)
    with pytest.raises(FeedUnavailable):
        receipting_drop(tmp_path, feed).process(tmp_path / "batch.jsonl")
    feed.fail_after = None
    receipting_drop(tmp_path, feed).process(tmp_path / "batch.jsonl")
    assert (lines_on(feed, DEAD), lines_on(feed, RECEIPTS), lines_on(feed, POLICE)) == (
        [1],
        [1],
        [2],
    )
