"""Loaded by a worker process started under libfaketime (`tests.support.worker_faults`).

The worker's wall clock is faked and its monotonic clock left real, as a real clock step
does. libfaketime 0.9.10 then makes `time.sleep` fail (EINVAL: it shifts the absolute
monotonic deadline that CPython's sleep passes to clock_nanosleep). Other waits (select,
epoll, locks) are unharmed, so `time.sleep` waits in `select` here.
"""

from __future__ import annotations

import select
import time
from typing import SupportsIndex


def _sleep(seconds: float | SupportsIndex) -> None:
    """Wait `seconds` on the real clock."""
    wait = float(seconds)
    if wait < 0:
        raise ValueError("sleep length must be non-negative")
    select.select([], [], [], wait)


time.sleep = _sleep
