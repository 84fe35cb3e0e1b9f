"""The watch loop: poll the folder, read each ready file through to its receipt, repeat.

Polling (`poll_interval_s`) needs no platform file events and works on any
filesystem a volume can be. Files are read one at a time, oldest first, by one
process: the folder's lock refuses a second. When the broker is away, the file
being read keeps its checkpoint and is tried again at the next poll.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

from connectors.file_drop.drop import Drop
from connectors.file_drop.feed import FeedUnavailable

log = logging.getLogger(__name__)


def poll_once(drop: Drop, keep_days: float) -> bool:
    """Read every file ready now; False if one was left for later (broker away, file unreadable)."""
    drop.metrics.heartbeat.set(time.time())
    finished = True
    for path in drop.folder.ready():
        try:
            drop.process(path)
        except FeedUnavailable as away:
            drop.metrics.feed_failures.inc()
            log.warning("%s: %s; tried again at the next poll", path.name, away)
            return False
        except FileNotFoundError:
            continue  # taken away between the listing and the read
        except OSError as error:  # not readable, or receipts/state not writable
            log.error("%s: %s; left where it is", path.name, type(error).__name__)
            finished = False
    removed = drop.folder.prune(keep_days)
    if removed:
        log.info("deleted %d files older than %s days from done/ and failed/", removed, keep_days)
    return finished


def watch(drop: Drop, interval_s: float, keep_days: float, stop: threading.Event) -> None:
    """Poll until `stop` is set."""
    while True:
        poll_once(drop, keep_days)
        if stop.wait(interval_s):
            return


def utc_now() -> datetime:
    """The wall clock, in UTC (receipts' times)."""
    return datetime.now(UTC)
