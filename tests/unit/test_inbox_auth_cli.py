"""`dvtrigger users`: adding, listing and disabling users; client credentials; `make run`'s demo."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from connectors.cli import users as cli
from connectors.cli.main import main as dvtrigger
from connectors.duty_inbox.task_rows import NO_COUNCIL
from connectors.duty_inbox.users import UserStore
from tests.support.duty_inbox import FAST_HASHER, PASSWORD


@pytest.fixture(autouse=True)
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's store, with cheap Argon2 parameters."""
    real = UserStore.__init__

    def init(self: UserStore, path: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("hasher", FAST_HASHER)
        real(self, path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(UserStore, "__init__", init)


def test_add_list_disable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db, secret = tmp_path / "inbox.sqlite3", tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    args = ["--db", str(db), "add", "dana", "--role", "duty_worker", "--council", "E1"]
    assert dvtrigger(["users", *args, "--password-file", str(secret)]) == 0
    assert UserStore(db).verify("dana", PASSWORD, "127.0.0.1") is not None
    assert cli.main(["--db", str(db), "list"]) == 0
    listed = capsys.readouterr().out
    assert "dana\tenabled\tduty_worker\tE1" in listed and PASSWORD not in listed
    assert cli.main(["--db", str(db), "disable", "dana"]) == 0
    assert UserStore(db).verify("dana", PASSWORD, "127.0.0.1") is None
    assert cli.main(["--db", str(db), "disable", "nobody"]) == 1


def test_a_password_comes_from_stdin_or_a_prompt_never_argv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "inbox.sqlite3"
    add = ["--db", str(db), "add"]
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert cli.main([*add, "dana", "--role", "auditor", "--password-stdin"]) == 0
    answers = iter([PASSWORD, PASSWORD, PASSWORD, "another one entirely"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert cli.main([*add, "eli", "--role", "duty_worker", "--council", "E1"]) == 0
    assert cli.main([*add, "fay", "--role", "duty_worker"]) == 1  # the two differ
    with pytest.raises(SystemExit):
        cli.main([*add, "gil", "--role", "duty_worker", "--password", PASSWORD])
    assert [u.username for u in UserStore(db).users()] == ["dana", "eli"]


def test_add_client_prints_the_token_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "inbox.sqlite3"
    args = ["--db", str(db), "add-client", "deliver", "--council", "*", "--may-raise-tasks"]
    assert cli.main(args) == 0
    token = capsys.readouterr().out.strip()
    client = UserStore(db).client(token)
    assert client is not None and client.may_raise_tasks and client.councils == {"*"}
    assert cli.main(args) == 1  # exists; --replace re-issues


def test_the_demo_credentials_serve_the_demo_councils(tmp_path: Path) -> None:
    db = tmp_path / "inbox.sqlite3"
    user, password, token = cli.demo_credentials(db)
    again_user, again_password, again_token = cli.demo_credentials(db)
    store = UserStore(db)
    assert store.verify(user, password, "127.0.0.1") is None  # replaced by the second run
    signed_in = store.verify(again_user, again_password, "127.0.0.1")
    assert signed_in is not None and NO_COUNCIL in signed_in.councils
    assert set(cli.demo_councils()) <= signed_in.councils
    assert store.client(token) is None and store.client(again_token) is not None
