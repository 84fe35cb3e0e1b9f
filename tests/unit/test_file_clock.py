"""The soak bench's clock: a worker reads the simulated time from a file, cheaply."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from streams.bootstrap import worker_clock
from streams.config.settings import Settings
from streams.flows.clock import FileClock, SystemClock


def test_reads_the_time_written_and_rereads_only_after_the_refresh(tmp_path: Path) -> None:
    path = tmp_path / "now"
    path.write_text("1767225600.5\n", encoding="ascii")  # 2026-01-01T00:00:00.5Z
    clock = FileClock(path, refresh_s=3600.0)
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    path.write_text("1800000000", encoding="ascii")
    assert clock.time() == 1767225600.5  # cached within refresh_s
    assert FileClock(path, refresh_s=0.0).time() == 1800000000.0


def test_keeps_the_last_time_when_the_file_goes_and_fails_before_any(tmp_path: Path) -> None:
    path = tmp_path / "now"
    with pytest.raises(FileNotFoundError):
        FileClock(path).time()
    path.write_text("1767225600", encoding="ascii")
    clock = FileClock(path, refresh_s=0.0)
    assert clock.time() == 1767225600.0
    path.unlink()
    assert clock.time() == 1767225600.0


def test_the_setting_chooses_the_clock(tmp_path: Path) -> None:
    assert isinstance(worker_clock(Settings()), SystemClock)
    chosen = worker_clock(Settings(clock_file=tmp_path / "now"))
    assert isinstance(chosen, FileClock)
