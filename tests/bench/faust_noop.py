"""Baseline B: a faust agent that does nothing but mark each notification it reads.

It is built by the worker's own `faust_app`, so every faust setting (at-least-once,
session timeout, heartbeat, acks, memory store) is the worker's; its topics are the
worker's police-incidents (in) and decisions (out), raw bytes both ways. The marker
names the partition and offset of the message read. Run with `python -m
tests.bench.faust_noop` and the worker's `DVTRIGGER_*` environment.
"""

from __future__ import annotations

from typing import Any

import faust

from streams.bootstrap import faust_app
from streams.config.settings import Settings


def raw_topic(app: faust.App, name: str) -> Any:
    """A topic of raw bytes keys and values, as the worker declares its own."""
    return app.topic(
        name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )


def build(settings: Settings) -> faust.App:
    """The worker's faust app with one agent that marks each message it reads."""
    app = faust_app(settings)
    source = raw_topic(app, settings.topic("police-incidents"))
    marks = raw_topic(app, settings.topic("decisions"))

    @app.agent(source, name="mark")
    async def mark(stream: Any) -> None:
        async for event in stream.events():
            place = f"{event.message.partition}:{event.message.offset}"
            await marks.send(key=event.key, value=place.encode())

    @app.page("/healthz")
    async def health(web: Any, request: Any) -> Any:
        return web.json({"status": "ok"})

    return app


def main() -> None:
    """Run the do-nothing worker until SIGTERM."""
    settings = Settings()
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    faust.Worker(build(settings), loglevel="WARNING", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
