"""The embedded broker with its log in S3 (moto on loopback) loses nothing to a SIGKILL.

The broker fault tests rely on it: they kill the broker mid-stream and start it again, and
count on every record it acknowledged (acks=all) being there afterwards.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka.admin import KafkaAdminClient, NewTopic

from connectors.kafka.broker import EmbeddedBroker
from connectors.kafka.publish import producer
from tests.support.s3_store import serve_s3
from tests.support.topics import read_topic

pytestmark = pytest.mark.integration

MESSAGES = 200


def test_acknowledged_records_survive_a_broker_sigkill_and_restart(tmp_path: Path) -> None:
    with serve_s3() as store:
        broker = EmbeddedBroker(
            log_path=tmp_path / "tansu.log", storage=store.storage_url, env=store.env
        )
        with broker:
            admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
            admin.create_topics([NewTopic("kept", num_partitions=3, replication_factor=1)])
            admin.close()
            kafka = producer(broker.bootstrap)
            futures = [
                kafka.send("kept", key=str(i % 7).encode(), value=f"m{i}".encode())
                for i in range(MESSAGES)
            ]
            for future in futures:
                future.get(timeout=30)
            kafka.close()
            pid = broker.pid

            broker.kill()
            assert broker.pid is None
            broker.restart()

            assert broker.pid not in (None, pid), "the broker was not started again"
            values = sorted(r.value.decode() for r in read_topic(broker.bootstrap, "kept"))
            assert values == sorted(f"m{i}" for i in range(MESSAGES))
