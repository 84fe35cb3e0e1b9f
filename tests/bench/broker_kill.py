"""What the embedded broker keeps of a stream it is SIGKILLed in the middle of.

`python -m tests.bench.broker_kill [--runs 3] [--messages 3000] [--busy]`

Tansu with its log in S3 (moto on loopback, as the broker fault tests run it). One
kafka-python producer (acks=all) sends `--messages` records steadily over four
partitions; the broker is SIGKILLed a few seconds in and started again 5 s later; the
producer retries until every send is acknowledged. Then the topic is read back whole.
Each run is done with an idempotent producer and with a plain one, and reports records
acknowledged but not on the topic (lost), records on it twice, and offsets the log
skips (allocated before the kill, never written). `--busy` keeps one core spinning
meanwhile, as a second test process does under `make test`.

Found with it (docs/testing.md, "A broker that loses acknowledged records"): with the
idempotent producer some runs lose records the broker had acknowledged; with the plain
one, none were lost (a few may be written twice).
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from connectors.kafka.broker import EmbeddedBroker
from tests.support.s3_store import serve_s3

PARTITIONS = 4


@dataclass
class Outcome:
    """One run: what was acknowledged and what the topic holds after the restart."""

    idempotent: bool
    acked_at_kill: int
    acked: int
    lost: int  # acknowledged, not on the topic
    twice: int  # on the topic more than once
    skipped_offsets: int  # offsets below a partition's last that hold no record


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def one_run(idempotent: bool, messages: int, workdir: Path) -> Outcome:
    """Produce, kill the broker mid-stream, restart it, read everything back.

    A topic of the run's own: moto's S3 lives in this process, and outlives one broker.
    """
    topic = f"kept-{uuid.uuid4().hex[:8]}"
    with serve_s3() as store:
        broker = EmbeddedBroker(
            log_path=workdir / "tansu.log", storage=store.storage_url, env=store.env
        )
        with broker:
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
            admin.create_topics([NewTopic(topic, PARTITIONS, replication_factor=1)])
            admin.close()
            kafka = KafkaProducer(
                bootstrap_servers=broker.bootstrap,
                acks="all",
                enable_idempotence=idempotent,
                linger_ms=5,
                reconnect_backoff_max_ms=1000,
            )
            acked: set[int] = set()
            failed: list[int] = []

            def produce() -> None:
                for i in range(messages):
                    future = kafka.send(topic, key=str(i % 13).encode(), value=str(i).encode())
                    future.add_callback(lambda _meta, i=i: acked.add(i))
                    future.add_errback(lambda _exc, i=i: failed.append(i))
                    time.sleep(0.004)
                kafka.flush(timeout=300)

            thread = threading.Thread(target=produce)
            thread.start()
            time.sleep(4)
            broker.kill()
            at_kill = len(acked)
            time.sleep(5)
            broker.restart()
            thread.join()
            kafka.close()
            if failed:
                raise RuntimeError(f"{len(failed)} sends failed outright")
            on_topic = _read_back(broker.bootstrap, topic)
    values = [v for records in on_topic.values() for _, v in records]
    skipped = 0
    for records in on_topic.values():
        offsets = {o for o, _ in records}
        skipped += max(offsets) + 1 - len(offsets)
    return Outcome(
        idempotent,
        at_kill,
        len(acked),
        lost=len(acked - set(values)),
        twice=len(values) - len(set(values)),
        skipped_offsets=skipped,
    )


def _read_back(bootstrap: str, topic: str) -> dict[int, list[tuple[int, int]]]:
    """Every record of the topic as (offset, value) by partition, read until none come."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    seen: dict[int, list[tuple[int, int]]] = defaultdict(list)
    empty = 0
    try:
        while empty < 4:
            batches = consumer.poll(timeout_ms=500)
            empty = 0 if batches else empty + 1
            for records in batches.values():
                for r in records:
                    seen[r.partition].append((r.offset, int(r.value)))
    finally:
        consumer.close()
    return seen


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3, help="runs of each producer")
    p.add_argument("--messages", type=int, default=3000)
    p.add_argument("--busy", action="store_true", help="keep one core spinning meanwhile")
    args = p.parse_args()
    columns = ("producer", "run", "acked at the kill", "acked", "lost", "on the topic twice")
    print("| " + " | ".join((*columns, "offsets skipped")) + " |")
    print("|---" * (len(columns) + 1) + "|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.runs):
            for idempotent in (True, False):
                spinner = None
                if args.busy:
                    spinner = multiprocessing.Process(target=_spin, args=(3600,), daemon=True)
                    spinner.start()
                try:
                    workdir = Path(tmp) / f"{n}-{idempotent}"
                    workdir.mkdir()
                    o = one_run(idempotent, args.messages, workdir)
                finally:
                    if spinner is not None:
                        spinner.terminate()
                kind = "idempotent" if o.idempotent else "plain"
                print(
                    f"| {kind} | {n + 1} | {o.acked_at_kill} | {o.acked} | {o.lost} | {o.twice}"
                    f" | {o.skipped_offsets} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
