"""Run the duty inbox: `python -m connectors.duty_inbox --port 8081 --db PATH`."""

from __future__ import annotations

import argparse
import os

from pydantic import SecretStr

from connectors.duty_inbox.app import serve
from connectors.duty_inbox.store import DEFAULT_DB_PATH


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted.

    The bearer token, if any, is the one the worker's client sends: DVTRIGGER_CASE_SYSTEM_TOKEN.
    """
    parser = argparse.ArgumentParser(prog="python -m connectors.duty_inbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on")
    parser.add_argument("--db", default=str(DEFAULT_DB_PATH), help="SQLite file of the tasks")
    args = parser.parse_args(argv)
    token = os.environ.get("DVTRIGGER_CASE_SYSTEM_TOKEN")
    serve(args.host, args.port, args.db, SecretStr(token) if token else None)


if __name__ == "__main__":
    main()
