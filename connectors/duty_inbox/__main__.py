"""Run the duty inbox: `python -m connectors.duty_inbox --port 8081 --db PATH`."""

from __future__ import annotations

import argparse
import os
import secrets
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from connectors.audit import FileAuditLog
from connectors.duty_inbox.app import create_app, serve
from connectors.duty_inbox.oidc import oidc_router
from connectors.duty_inbox.session_store import Timeouts
from connectors.duty_inbox.store import DEFAULT_DB_PATH
from streams.config.settings import Settings

SECRET_FILE = "duty-inbox-session.key"
#: The inbox's audit chain, beside the decide worker's ("decide") in `<data_dir>/audit`, so
#: `dvtrigger audit verify` checks both and `dvtrigger audit query --task KEY` joins them.
AUDIT_CHAIN = "inbox"


def session_secret(settings: Settings, db_path: Path) -> SecretStr:
    """The secret that signs session cookies: the setting, else a file beside the database.

    The file is made once, readable by its owner only, so sessions survive a restart. An
    empty setting (compose's `${VAR:-}`) counts as unset.
    """
    if settings.duty_inbox_session_secret:  # set, and not empty
        return settings.duty_inbox_session_secret
    path = settings.duty_inbox_session_secret_file or db_path.parent / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return SecretStr(path.read_text("ascii").strip())
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))
    return SecretStr(path.read_text("ascii").strip())


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until interrupted.

    Users and API clients are read from the database (`dvtrigger users`); the rest of the
    sign-in settings from the environment (DVTRIGGER_DUTY_INBOX_SESSION_*, METRICS_TOKEN,
    DVTRIGGER_OIDC__*). Every view and action is appended to the "inbox" audit chain in
    `<data_dir>/audit`; a second inbox on the same directory is refused (`AuditLogBusy`).
    """
    parser = argparse.ArgumentParser(prog="python -m connectors.duty_inbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on")
    parser.add_argument("--db", default=str(DEFAULT_DB_PATH), help="SQLite file of the tasks")
    args = parser.parse_args(argv)
    settings = Settings()
    db_path = Path(args.db)
    audit = FileAuditLog(settings.audit_directory(), settings.audit_chain or AUDIT_CHAIN)
    app = create_app(
        db_path,
        audit=audit,
        session_secret=session_secret(settings, db_path),
        timeouts=Timeouts(
            idle=timedelta(seconds=settings.duty_inbox_session_idle_s),
            absolute=timedelta(seconds=settings.duty_inbox_session_max_s),
        ),
        cookie_secure=settings.duty_inbox_cookie_secure,
        metrics_token=settings.metrics_token,
        oidc_router=oidc_router(settings.oidc) if settings.oidc is not None else None,
        retention=settings.retention,  # purges as it runs; off: ..._RETENTION__INBOX_PURGE=false
    )
    with audit:
        serve(args.host, args.port, app)


if __name__ == "__main__":
    main()
