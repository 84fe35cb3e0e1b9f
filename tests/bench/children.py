"""The bench's child processes: started with their output in a log, always stopped on exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from connectors.kafka.broker import stop_process


class Children:
    """Every process the bench starts; leaving the `with` block stops them, newest first.

    Children run in their own session, so a Ctrl-C reaches the bench only and the
    bench stops them in order; SIGTERM to the bench is turned into the same path.
    """

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._by_name: dict[str, subprocess.Popen[bytes]] = {}
        self._old_sigterm: Any = None

    def python(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start `python args...` with `env` added to ours; its output goes to `<name>.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / f"{name}.log").open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, *args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._procs.append(proc)
        self._by_name[name] = proc
        return proc

    def pid_of(self, name: str) -> int:
        """The process id of the child last started as `name`."""
        return self._by_name[name].pid

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
        """SIGTERM one child, SIGKILL it if it lingers, and forget it."""
        stop_process(proc, timeout)
        if proc in self._procs:
            self._procs.remove(proc)

    def check(self) -> None:
        """Raise if any child has exited: a stage cannot finish without it."""
        for proc in self._procs:
            if proc.poll() is not None:
                raise RuntimeError(f"child {proc.args!r} exited with {proc.returncode}")

    def __enter__(self) -> Children:
        self._old_sigterm = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for proc in reversed(list(self._procs)):
            self.stop(proc)
        signal.signal(signal.SIGTERM, self._old_sigterm)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the bench the way Ctrl-C does."""
    raise KeyboardInterrupt


def wait_json(url: str, timeout: float = 60.0, children: Children | None = None) -> dict[str, Any]:
    """Wait until `url` answers with JSON, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return get_json(url)
        except (OSError, ValueError):
            if children is not None:
                children.check()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def get_json(url: str) -> dict[str, Any]:
    """GET `url` and parse its JSON body."""
    with urllib.request.urlopen(url, timeout=2) as response:
        return dict(json.loads(response.read() or b"{}"))
