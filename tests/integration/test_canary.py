"""The canary test: planted personal data runs through the whole of `dvtrigger run` and
must come out only where a signed-in duty worker reads it.

One `dvtrigger run --no-demo` (embedded broker, decide and deliver workers, duty inbox,
HTTPS ingress, file drop, audit log) runs in a temporary data directory for the module.
Canary families go in with `dvtrigger publish register`; canary incidents through the
ingress (and one invalid body), the file drop (JSONL with a malformed line, and CSV) and
`dvtrigger publish incidents`. A duty worker signs in through the sign-in page, opens,
acknowledges and closes a task, and a few requests are refused. Then no canary may be in
any log, /metrics, receipt, dead-letter reason, error answer, audit envelope, task title
or `dvtrigger audit` output. Failures name the place and the canary, never the text.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import httpx
import pytest
from kafka import KafkaConsumer

from connectors.audit import read as read_audit
from connectors.kafka.broker import free_port, stop_process
from streams.domain.audit import envelope
from streams.domain.ports.task_outcomes import OutcomeName
from tests.support.canary import (
    CANARY_CLOSE_REASON,
    CANARY_USERNAME,
    FAMILIES,
    OWN_COUNCIL,
    canaries_in,
    csv_text,
    family,
    incident,
    incident_id,
    jsonl,
    register_event,
    scan_files,
    scan_text,
)
from tests.support.stack import wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "connectors.cli"]
WORKER, PASSWORD = "duty1", "correct horse battery staple 12"
TOPIC_DLQ = "dvtrigger.dead-letter"
LOGS = ("broker", "worker", "deliver", "duty-inbox", "ingress", "file-drop")


@dataclass(repr=False)
class Run:
    """What the module's run left behind, and what it was answered (its repr: the folder only,
    so a failing test never prints a page or answer holding personal data)."""

    data: Path
    outputs: Path
    env: dict[str, str]
    ports: dict[str, int]
    #: place -> body of an error answer (status checked when collected)
    errors: dict[str, str] = field(default_factory=dict)
    #: process -> its /metrics text
    metrics: dict[str, str] = field(default_factory=dict)
    #: every task, from the API as a client reading every council sees it
    tasks: list[dict[str, Any]] = field(default_factory=list)
    #: page or answer -> what the signed-in duty worker was shown
    shown: dict[str, str] = field(default_factory=dict)
    dead_letters: list[tuple[dict[str, bytes], bytes]] = field(default_factory=list)
    #: command -> its stdout and stderr
    commands: dict[str, str] = field(default_factory=dict)
    closed_task: str = ""
    returncodes: dict[str, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Run(data={str(self.data)!r})"


def _cli(run: Run, name: str, *args: str, stdin: str | None = None) -> str:
    """Run `dvtrigger ARGS`, keep its output under `name`; the output."""
    done = subprocess.run(
        [*CLI, *args], env=run.env, cwd=ROOT, input=stdin, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    run.commands[name] = done.stdout + done.stderr
    run.returncodes[name] = done.returncode
    return done.stdout


def _environment(data: Path) -> tuple[dict[str, str], dict[str, int]]:
    """The environment of every process: the data dir and a free port for every listener."""
    ports = {
        name: free_port()
        for name in ("web", "deliver", "inbox", "ingress", "ingress_metrics", "file_drop")
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVTRIGGER_", "KAFKA_"))}
    env |= {
        "DVTRIGGER_DATA_DIR": str(data),
        "DVTRIGGER_DUTY_INBOX_DB": str(data / "duty-inbox.sqlite3"),
        "DVTRIGGER_WEB_PORT": str(ports["web"]),
        "DVTRIGGER_DELIVER_WEB_PORT": str(ports["deliver"]),
        "DVTRIGGER_DUTY_INBOX_PORT": str(ports["inbox"]),
        "DVTRIGGER_INGRESS__PORT": str(ports["ingress"]),
        "DVTRIGGER_INGRESS__METRICS_PORT": str(ports["ingress_metrics"]),
        "DVTRIGGER_FILE_DROP__WEB_PORT": str(ports["file_drop"]),
        "DVTRIGGER_FILE_DROP__DIRECTORY": str(data / "drop"),
        "DVTRIGGER_FILE_DROP__POLL_INTERVAL_S": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    return env, ports


def _banner(path: Path, supervisor: subprocess.Popen[bytes]) -> tuple[str, str]:
    """Wait for the banner; (broker bootstrap, the ingress's demo API key)."""

    def printed() -> bool:
        assert supervisor.poll() is None, "dvtrigger run stopped; see its output"
        return "x-api-key" in path.read_text(errors="replace")

    wait_for("dvtrigger run's banner", printed, timeout=150)
    text = path.read_text()
    broker = re.search(r"broker\s+(127\.0\.0\.1:\d+)", text)
    key = re.search(r"x-api-key (\S+?)[,\s]", text)
    assert broker and key, "the banner names no broker or API key"
    return broker[1], key[1]


def _get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=10).json()


def _form_token(html: str, name: str = "csrf") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, "the page has no form token"
    return found[1]


def _feed(run: Run, bootstrap: str, api_key: str) -> None:
    """Register families, then incidents by every way in."""
    out = run.outputs
    (out / "register.jsonl").write_text(jsonl(register_event(f) for f in FAMILIES))
    _cli(run, "publish register", "publish", "register", str(out / "register.jsonl"),
         "--bootstrap", bootstrap)  # fmt: skip
    health = f"http://127.0.0.1:{run.ports['web']}/healthz"
    wait_for("the register loaded", lambda: _get_json(health)["register_subjects"] >= 4, 60)
    _ingress(run, api_key)
    drop = run.data / "drop"
    for name, text in (
        ("batch-1.jsonl", jsonl([incident(family("jsonl")), '{"summary": "Canarybroken ZZ9 9CQ'])),
        ("batch-2.csv", csv_text([incident(family("csv"))])),
    ):
        (drop / f"{name}.partial").write_text(text)
        (drop / f"{name}.partial").rename(drop / name)
    bad = {**incident(family("publish")), "dash_risk": "Zzcanarymoth 1989-11-05"}
    (out / "incidents.jsonl").write_text(jsonl([incident(family("publish")), bad]))
    _cli(run, "publish incidents", "publish", "incidents", str(out / "incidents.jsonl"),
         "--bootstrap", bootstrap)  # fmt: skip


def _ingress(run: Run, api_key: str) -> None:
    """One incident through the HTTPS ingress, and one whose bad field's value is a canary."""
    tls = ssl.create_default_context(cafile=str(run.data / "ingress" / "ca.pem"))
    url = f"https://127.0.0.1:{run.ports['ingress']}/v1/police-incidents"
    headers = {"x-api-key": api_key, "content-type": "application/json"}
    with httpx.Client(verify=tls, headers=headers, timeout=30) as client:
        accepted = client.post(url, content=json.dumps(incident(family("ingress"))))
        assert accepted.status_code == 202, accepted.status_code
        invalid = {**incident(family("ingress")), "incident_id": "MPS-2026-979999"}
        invalid["persons"][0] = {**invalid["persons"][0], "date_of_birth": "Zzcanaryvole"}
        refused = client.post(url, content=json.dumps(invalid))
        assert refused.status_code == 422, refused.status_code
        run.errors["ingress 422"] = refused.text


def _wait_for_tasks(run: Run, token: str) -> None:
    wanted = {incident_id(f) for f in FAMILIES}
    url = f"http://127.0.0.1:{run.ports['inbox']}/api/tasks"

    def raised() -> bool:
        run.tasks = _get_json(url, token)["tasks"]
        return wanted <= {t["task"]["incident_id"] for t in run.tasks}

    wait_for("a task for every canary family", raised, timeout=120)


def _task_of(run: Run, key: str) -> str:
    return next(
        str(t["task_id"]) for t in run.tasks if t["task"]["incident_id"] == incident_id(family(key))
    )


def _duty_worker(run: Run) -> None:
    """Sign in through the page, list, open, acknowledge and close; and be refused."""
    base = f"http://127.0.0.1:{run.ports['inbox']}"
    with httpx.Client(base_url=base, timeout=15) as person:
        form = person.get("/sign-in")
        signed_in = person.post(
            "/sign-in",
            data={"username": WORKER, "password": PASSWORD, "csrf": _form_token(form.text)},
        )
        assert signed_in.status_code == 303, signed_in.status_code
        inbox = person.get("/")
        assert inbox.status_code == 200
        run.shown["inbox page"] = inbox.text
        run.shown["API list"] = person.get("/api/tasks").text
        for key in ("ingress", "jsonl", "csv"):
            task = _task_of(run, key)
            run.shown[f"task page {key}"] = person.get(f"/tasks/{task}").text
            run.shown[f"API task {key}"] = person.get(f"/api/tasks/{task}").text
        csrf = _form_token(inbox.text)
        run.closed_task = _task_of(run, "ingress")
        acknowledged = person.post(f"/tasks/{run.closed_task}/acknowledge", data={"csrf": csrf})
        assert acknowledged.status_code == 303, acknowledged.status_code
        closed = person.post(
            f"/tasks/{run.closed_task}/outcome",
            data={"csrf": csrf, "outcome": _closing(run, "ingress"), "reason": CANARY_CLOSE_REASON},
        )
        assert closed.status_code == 303, closed.status_code
        _refusals(run, person)
    with httpx.Client(base_url=base, timeout=15) as stranger:
        form = stranger.get("/sign-in")
        wrong = stranger.post(
            "/sign-in",
            data={"username": CANARY_USERNAME, "password": "wrong", "csrf": _form_token(form.text)},
        )
        assert wrong.status_code == 401, wrong.status_code
        run.errors["wrong password page"] = wrong.text


def _closing(run: Run, key: str) -> str:
    """The outcome that closes this family's task with a reason: a review's, or an override."""
    shown = json.loads(run.shown[f"API task {key}"])
    return (
        "not_this_family" if shown["task"]["task_type"] == "match_review" else "no_further_action"
    )


def _refusals(run: Run, person: httpx.Client) -> None:
    """Another council's task and an unknown task, as a page and by the API: 404 each."""
    other = _task_of(run, "publish")
    for name, path in (
        ("other council's task page", f"/tasks/{other}"),
        ("other council's task API", f"/api/tasks/{other}"),
        ("unknown task page", "/tasks/no-such-task"),
        ("unknown task API", "/api/tasks/no-such-task"),
    ):
        answer = person.get(path)
        assert answer.status_code == 404, (name, answer.status_code)
        run.errors[name] = answer.text
    csrf = _form_token(person.get("/").text)
    unreasoned = _task_of(run, "jsonl")
    person.post(f"/tasks/{unreasoned}/acknowledge", data={"csrf": csrf})
    empty = person.post(
        f"/tasks/{unreasoned}/outcome", data={"csrf": csrf, "outcome": _closing(run, "jsonl")}
    )
    assert empty.status_code == 422, empty.status_code
    run.errors["close without a reason"] = empty.text


def _dead_letters(run: Run, bootstrap: str) -> None:
    """Every record on the dead-letter topic: (headers, value)."""
    consumer = KafkaConsumer(
        TOPIC_DLQ, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
        consumer_timeout_ms=3000, enable_auto_commit=False,
    )  # fmt: skip

    def both() -> bool:
        for message in consumer:
            run.dead_letters.append((dict(message.headers), message.value))
        return len(run.dead_letters) >= 2

    try:
        wait_for("the ingress's and the file drop's dead letters", both, timeout=60)
    finally:
        consumer.close()


def _scrape(run: Run) -> None:
    p = run.ports
    for process, port in (
        ("decide", p["web"]),
        ("deliver", p["deliver"]),
        ("inbox", p["inbox"]),
        ("ingress", p["ingress_metrics"]),
        ("file drop", p["file_drop"]),
    ):
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert answer.status_code == 200, (process, answer.status_code)
        run.metrics[process] = answer.text


def _receipts_written(run: Run) -> bool:
    return len(list((run.data / "drop" / "receipts").glob("*.json"))) >= 2


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The whole flow, once: fed, worked, refused, scraped, stopped; then audited."""
    data, outputs = tmp_path_factory.mktemp("system"), tmp_path_factory.mktemp("outputs")
    env, ports = _environment(data)
    result = Run(data, outputs, env, ports)
    (outputs / "password").write_text(PASSWORD + "\n")
    _cli(result, "users add", "users", "add", WORKER, "--role", "duty_worker", "--council",
         OWN_COUNCIL, "--password-file", str(outputs / "password"))  # fmt: skip
    token = _cli(result, "users add-client", "users", "add-client", "reader", "--council", "*")
    stdout, stderr = outputs / "run.stdout", outputs / "run.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        supervisor = subprocess.Popen(
            [*CLI, "run", "--no-demo"], env=env, cwd=ROOT, stdout=out, stderr=err,
            start_new_session=True,
        )  # fmt: skip
    try:
        bootstrap, api_key = _banner(stdout, supervisor)
        _feed(result, bootstrap, api_key)
        _wait_for_tasks(result, token.strip())
        _duty_worker(result)
        _dead_letters(result, bootstrap)
        wait_for("two file drop receipts", lambda: _receipts_written(result), timeout=30)
        _scrape(result)
    finally:
        supervisor.send_signal(signal.SIGINT)
        try:
            supervisor.wait(timeout=90)
        except subprocess.TimeoutExpired:
            stop_process(supervisor)
    result.returncodes["run"] = supervisor.returncode
    _cli(result, "audit verify", "audit", "verify")
    for f in FAMILIES:
        _cli(result, f"audit explain {f.key}", "audit", "explain", incident_id(f))
    yield result


def _hits(place: str, text: str) -> list[str]:
    return scan_text(place, text)


# --- the flow happened: these make the scans below mean something ---------------------------


def _holds(text: str, value: str) -> bool:
    """Whether `text` holds `value` (a bool, so a failing assert prints neither)."""
    return value in text


def test_every_canary_family_got_a_task_and_the_worker_saw_their_names(run: Run) -> None:
    raised = {t["task"]["incident_id"]: t for t in run.tasks}
    assert {incident_id(f) for f in FAMILIES} <= raised.keys()
    assert raised[incident_id(family("publish"))]["task"]["local_authority"] != OWN_COUNCIL
    for key in ("ingress", "jsonl", "csv"):  # their job: the worker must see who the family is
        f = family(key)
        for place in (f"task page {key}", "inbox page", f"API task {key}"):
            shown = _holds(run.shown[place], f.family_name)
            assert shown, f"{place} does not show family {key}'s name"
        shown = _holds(run.shown[f"task page {key}"], f.mother_given)
        assert shown, f"task page {key} does not show the mother's name"
    other = _holds(run.shown["inbox page"], family("publish").family_name)
    assert not other, "the inbox page shows another council's family"
    # the scan finds canaries where personal data is rightly kept: it can fail
    assert scan_files(sorted((run.data / "drop" / "done").glob("*")), run.data) != []


def test_the_system_stopped_cleanly_and_every_way_in_was_used(run: Run) -> None:
    codes = run.returncodes
    assert (codes["run"], codes["users add"], codes["users add-client"]) == (0, 0, 0)
    assert codes["publish register"] == 0
    assert codes["publish incidents"] == 1  # one line refused
    produced = _holds(run.commands["publish incidents"], "produced 1 ")
    assert produced, "`dvtrigger publish incidents` did not produce the valid line"
    receipts = [json.loads(p.read_text()) for p in (run.data / "drop" / "receipts").glob("*.json")]
    assert sorted((r["file"], r["published"], len(r["refused"])) for r in receipts) == [
        ("batch-1.jsonl", 1, 1),
        ("batch-2.csv", 1, 0),
    ]
    reasons = sorted(
        headers.get("dvtrigger-reason-class", b"").decode() for headers, _ in run.dead_letters
    )
    assert reasons == ["not_json", "schema"]
    held = [bool(canaries_in(value.decode(errors="replace"))) for _, value in run.dead_letters]
    assert held == [True, True], "the dead letters' values should be the original messages"


def test_the_audit_log_is_whole_and_records_decisions_sign_in_and_actions(run: Run) -> None:
    assert run.returncodes["audit verify"] == 0, "`dvtrigger audit verify` found problems"
    whole = _holds(run.commands["audit verify"], "chains checked: whole")
    assert whole, "`dvtrigger audit verify` did not say whole"
    records = [item.record for item in read_audit(run.data / "audit")]
    seen = [(r["chain"], r["kind"], r["action"], r["actor"]) for r in records]
    decided = [s for s in seen if s[:3] == ("decide", "decision", "decided")]
    assert len(decided) == len(FAMILIES)
    worker = f"user:{WORKER}"
    created = [s for s in seen if s[:3] == ("inbox", "task_command", "task_created")]
    assert len(created) == len(FAMILIES)
    assert ("inbox", "sign_in", "signed_in", worker) in seen
    assert ("inbox", "sign_in", "sign_in_failed", "anonymous") in seen
    assert ("inbox", "task_action", "acknowledged", worker) in seen
    closing = {"overrode_trigger", "no_further_action", "not_this_family"}
    assert any(
        s[:2] == ("inbox", "task_action") and s[2] in closing and s[3] == worker for s in seen
    )
    assert seen.count(("inbox", "denied", "task_not_found", worker)) == 4
    details = [json.dumps(r.get("detail")) for r in records if r["kind"] == "decision"]
    assert all(canaries_in(d) for d in details), "decision details should hold their inputs"
    for f in FAMILIES:
        assert run.returncodes[f"audit explain {f.key}"] == 0, f.key


# --- no canary anywhere it must not be -------------------------------------------------------


def test_no_canary_in_any_log_of_any_process(run: Run) -> None:
    logs = sorted(run.data.rglob("*.log"))
    assert {p.stem for p in logs} >= set(LOGS), [p.name for p in logs]
    hits = scan_files(logs, run.data)
    hits += scan_files([run.outputs / "run.stdout", run.outputs / "run.stderr"], run.outputs)
    assert hits == []


def test_no_canary_in_any_metrics_page(run: Run) -> None:
    assert set(run.metrics) == {"decide", "deliver", "inbox", "ingress", "file drop"}
    hits = [
        hit for process, text in run.metrics.items() for hit in _hits(f"{process} /metrics", text)
    ]
    assert hits == []


def test_no_canary_in_any_receipt(run: Run) -> None:
    receipts = sorted((run.data / "drop" / "receipts").glob("*"))
    assert receipts
    assert scan_files(receipts, run.data) == []


def test_no_canary_in_any_dead_letter_reason_though_the_values_hold_them(run: Run) -> None:
    hits = [
        hit
        for number, (headers, _) in enumerate(run.dead_letters)
        for name, value in headers.items()
        for hit in _hits(f"dead letter {number} header {name}", value.decode(errors="replace"))
    ]
    assert hits == []


def test_no_canary_in_any_error_answer(run: Run) -> None:
    hits = [hit for place, body in run.errors.items() for hit in _hits(place, body)]
    assert hits == []
    named = _holds(json.loads(run.errors["ingress 422"])["reason"], "date_of_birth")
    assert named, "the ingress's 422 does not name the bad field"


def test_no_canary_in_command_output(run: Run) -> None:
    hits = [hit for name, text in run.commands.items() for hit in _hits(name, text)]
    assert hits == []
    named = _holds(run.commands["publish incidents"], "dash_risk")
    assert named, "`dvtrigger publish` does not name the refused field"


def test_no_canary_in_a_task_title_or_a_page_title(run: Run) -> None:
    """Titles end up in browser history, tab bars and case system lists: references only."""
    assert len(run.tasks) >= len(FAMILIES)
    hits = [
        hit for t in run.tasks for hit in _hits(f"title of task {t['task_id']}", t["task"]["title"])
    ]
    pages = {name: html for name, html in run.shown.items() if "page" in name}
    for name, html in pages.items():
        titles = re.findall(r"<title>(.*?)</title>", html, re.S)
        assert titles, f"{name} has no <title>"
        hits += [hit for title in titles for hit in _hits(f"<title> of {name}", title)]
    assert hits == []


def _envelope_hits(record: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    """Canaries in a record's envelope, named by chain, seq and field."""
    place = f"audit {record['chain']}.jsonl seq {record['seq']} envelope"
    return [
        hit
        for name, value in envelope(record).items()
        if name not in skip
        for hit in _hits(f"{place} {name}", json.dumps(value))
    ]


#: The audit actions of a person recording what came of a task (each may carry a typed reason).
RECORDED = {*get_args(OutcomeName), "overrode_trigger"}


def test_no_canary_in_an_audit_envelope_but_a_typed_close_reason(run: Run) -> None:
    records = [item.record for item in read_audit(run.data / "audit")]
    assert {r["chain"] for r in records} == {"decide", "inbox"}
    hits = []
    for record in records:
        closed = record["kind"] == "task_action" and record["action"] in RECORDED
        hits += _envelope_hits(record, ("reason",) if closed else ())  # the next test's subject
    assert hits == []


def test_a_typed_close_reason_is_not_kept_in_the_audit_envelope(run: Run) -> None:
    """A close reason is typed by a person and may name the family, and envelopes are never
    purged (`dvtrigger audit query` prints them): so it belongs in the detail, which retention
    purges, and not in the envelope's `reason`."""
    closes = [
        item.record
        for item in read_audit(run.data / "audit")
        if item.record["kind"] == "task_action" and item.record["action"] in RECORDED
    ]
    assert closes, "the close is not recorded"
    assert [hit for record in closes for hit in _envelope_hits(record)] == []


def test_no_canary_in_audit_verify_or_explain(run: Run) -> None:
    outputs = {name: text for name, text in run.commands.items() if name.startswith("audit")}
    assert len(outputs) == 1 + len(FAMILIES)
    hits = [hit for name, text in outputs.items() for hit in _hits(name, text)]
    assert hits == []
