"""`dvtrigger file-drop`: watch a folder of police notification batches and publish them."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from streams.config.settings import Settings

log = logging.getLogger(__name__)


def add_parser(sub: Any) -> None:
    """Add the `file-drop` subcommand to the `dvtrigger` parser."""
    drop = sub.add_parser(
        "file-drop",
        help="publish JSON-lines or CSV batches dropped in a folder, each file exactly once",
    )
    drop.add_argument(
        "--dir", type=Path, help="the folder (default DVTRIGGER_FILE_DROP__DIRECTORY)"
    )
    drop.add_argument(
        "--once", action="store_true", help="read the files ready now, then stop (no HTTP)"
    )
    drop.add_argument("--bootstrap", help="host:port of the Kafka cluster")
    drop.set_defaults(func=cmd_file_drop)


def cmd_file_drop(args: argparse.Namespace, settings: Settings) -> int:
    """Build the drop from the settings and run it: once, or until SIGTERM/SIGINT."""
    from prometheus_client import CollectorRegistry

    from connectors.file_drop.drop import Drop, Topics
    from connectors.file_drop.folder import Folder
    from connectors.file_drop.kafka_feed import KafkaFeed
    from connectors.file_drop.metrics import DropMetrics
    from connectors.file_drop.watch import poll_once, utc_now, watch

    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        sys.exit("dvtrigger: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap host:port")
    config = settings.file_drop
    folder = Folder(args.dir or config.directory)
    lock = folder.lock()
    feed = KafkaFeed(settings, bootstrap)
    drop = Drop(
        folder=folder,
        feed=feed,
        topics=Topics(
            settings.topic("police-incidents"),
            settings.topic("dead-letter"),
            settings.topic("receipts"),
        ),
        batch_size=config.batch_size,
        max_file_bytes=config.max_file_bytes,
        metrics=DropMetrics(CollectorRegistry()),
        now=utc_now,
    )
    try:
        if args.once:
            return 0 if poll_once(drop, config.keep_days) else 1
        return _watch(drop, settings, watch)
    finally:
        feed.close()
        lock.close()


def _watch(drop: Any, settings: Settings, watch: Any) -> int:
    """Serve /metrics and /healthz, and poll until told to stop."""
    from connectors.file_drop.web import application, serve

    config = settings.file_drop
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stale_after = max(60.0, 10 * config.poll_interval_s)
    server = serve(settings.web_host, config.web_port, application(drop.metrics, stale_after))
    log.info("file drop watching %s (metrics on port %d)", drop.folder.root, config.web_port)
    try:
        watch(drop, config.poll_interval_s, config.keep_days, stop)
    finally:
        server.shutdown()
    return 0
