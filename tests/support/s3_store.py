"""An S3 store on loopback (moto's server) for a broker whose log must outlive the broker.

Tansu keeps its log in S3 when started with `--storage-engine s3://BUCKET/`; it finds the
store through the usual AWS_* variables, AWS_ENDPOINT and AWS_ALLOW_HTTP. With the log in
moto's memory, in this test process, the broker process can be SIGKILLed and started again
and find every record it had acknowledged.
"""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from moto.server import ThreadedMotoServer

from connectors.kafka.broker import free_port

REGION = "us-east-1"


@dataclass(frozen=True)
class S3Store:
    """Where the store is and what a broker needs to use it."""

    endpoint: str
    bucket: str

    @property
    def storage_url(self) -> str:
        """Tansu's `--storage-engine` for this bucket."""
        return f"s3://{self.bucket}/"

    @property
    def env(self) -> dict[str, str]:
        """The environment Tansu reads to reach the store (dummy credentials: moto takes any)."""
        return {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }


@contextmanager
def serve_s3(bucket: str = "tansu") -> Iterator[S3Store]:
    """moto's S3 server on a free loopback port with `bucket` created; stopped on exit."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per S3 request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        create = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
        with urllib.request.urlopen(create, timeout=10) as response:
            assert response.status == 200, response.status
        yield S3Store(endpoint, bucket)
    finally:
        server.stop()
