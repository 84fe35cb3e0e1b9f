"""deploy/compose and deploy/Dockerfile: the compose file against the Compose Specification's
schema, and both against the settings, the command line and the repository."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from connectors.cli import allocator
from connectors.kafka.topics import wanted_topics
from tests.support.deploy import DEPLOY, ROOT, assert_cli_knows, is_setting, settings_from

COMPOSE = DEPLOY / "compose"
COMPOSE_SPEC = ROOT / "tests" / "data" / "deploy" / "compose-spec.json"
#: Services built from deploy/Dockerfile: they run dvtrigger and take its settings.
DVTRIGGER_SERVICES = ("topics", "decide", "deliver", "duty-inbox")
#: A filled-in .env for the tests: the required values that .env.example leaves blank.
REQUIRED = {"DVTRIGGER_CASE_SYSTEM_TOKEN": "test-token", "GRAFANA_ADMIN_PASSWORD": "test"}

VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(ValueError):
    """A `${NAME:?message}` whose variable is not set."""


def env_example() -> dict[str, str]:
    """deploy/compose/.env.example as a dict (blank values stay blank)."""
    values = {}
    for line in (COMPOSE / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def documented_in_env_example() -> set[str]:
    """Every variable .env.example names, set or commented out."""
    text = (COMPOSE / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z][A-Z0-9_]*)=", text, flags=re.M))


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation over a loaded document."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: _substitute(match, env), value)
    return value


def _substitute(match: re.Match[str], env: dict[str, str]) -> str:
    """One `$…` of compose's interpolation syntax."""
    if match["escaped"]:
        return "$"
    name = match["braced"] or match["named"]
    op, arg, value = match["op"], match["arg"] or "", env.get(name)
    unset = value is None or (op is not None and op.startswith(":") and value == "")
    if op in (":-", "-"):
        return arg if unset else str(value)
    if op in (":?", "?") and unset:
        raise MissingVariable(f"{name}: {arg}")
    if op in (":+", "+"):
        return "" if unset else arg
    return value or ""


def variables_in(text: str) -> set[str]:
    """Names of the variables a compose file interpolates."""
    return {m["braced"] or m["named"] for m in VARIABLE.finditer(text) if not m["escaped"]}


def compose_raw() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())  # type: ignore[no-any-return]


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml interpolated with .env.example and the required values filled in."""
    return interpolate(compose_raw(), env if env is not None else {**env_example(), **REQUIRED})  # type: ignore[no-any-return]


def test_compose_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SPEC.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(compose()))
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_compose_refuses_to_start_without_the_secrets() -> None:
    blank = {key for key, value in env_example().items() if not value}
    assert blank == set(REQUIRED)
    for name in REQUIRED:
        with pytest.raises(MissingVariable, match=name):
            compose({**env_example(), **REQUIRED, name: ""})


def test_compose_variables_are_settings_or_documented_knobs() -> None:
    text = (COMPOSE / "compose.yaml").read_text()
    documented = documented_in_env_example()
    assert variables_in(text) <= documented, variables_in(text) - documented
    for name in documented:
        if name.startswith("DVTRIGGER_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            assert is_setting(name), f"{name} is no setting of streams/settings.py"
        else:
            assert name in variables_in(text), f".env.example's {name} is used nowhere"
    services = compose()["services"]
    for service in DVTRIGGER_SERVICES:
        for name in services[service].get("environment") or {}:
            assert is_setting(name), f"{service}: {name} is no setting"


def test_compose_settings_make_valid_settings_and_topics() -> None:
    env = compose()["services"]["decide"]["environment"]
    settings = settings_from(env)
    assert settings.topic_replication == 1  # one Kafka node
    assert settings.web_host == "0.0.0.0" and str(settings.data_dir) == "/data"
    assert len(wanted_topics(settings)) == 11


def test_compose_mounts_and_builds_from_paths_that_exist() -> None:
    for name, service in compose()["services"].items():
        build = service.get("build")
        if build:
            context = (COMPOSE / build["context"]).resolve()
            assert context == ROOT and (context / build["dockerfile"]).is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (COMPOSE / source).resolve().exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose()["volumes"], f"{name}: undeclared volume {source}"


def test_compose_services_run_commands_the_cli_knows() -> None:
    services = compose()["services"]
    for name in DVTRIGGER_SERVICES:
        assert_cli_knows([str(arg) for arg in services[name]["command"]])
    assert services["topics"]["command"] == ["topics", "create"]
    for name in ("decide", "deliver"):
        assert services[name]["depends_on"]["topics"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_health_checks_ask_each_process_on_its_port() -> None:
    services = compose()["services"]
    env = services["decide"]["environment"]
    ports = {
        "decide": env["DVTRIGGER_WEB_PORT"],
        "deliver": env["DVTRIGGER_DELIVER_WEB_PORT"],
        "duty-inbox": "8081",
    }
    pages = {"decide": "readyz", "deliver": "readyz", "duty-inbox": "healthz"}
    for name, port in ports.items():
        asked = f"127.0.0.1:{port}/{pages[name]}"
        assert asked in " ".join(services[name]["healthcheck"]["test"]), name
        assert any(p.endswith(f":{port}") for p in services[name]["ports"]), name


def test_prometheus_scrapes_the_compose_services() -> None:
    targets = sorted((DEPLOY / "prometheus" / "targets").glob("*.yml"))
    if not targets:
        pytest.skip("deploy/prometheus/targets/ is not written yet")
    services = compose()["services"]
    for path in targets:
        for group in yaml.safe_load(path.read_text()):
            for target in group["targets"]:
                host, _, port = target.partition(":")
                assert host in services, f"{path.name}: {host} is no compose service"
                assert any(p.endswith(f":{port}") for p in services[host]["ports"]), target


def test_grafana_finds_its_dashboards_and_prometheus_in_compose() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    if not provisioning.is_dir():
        pytest.skip("deploy/grafana/provisioning/ is not written yet")
    grafana = compose()["services"]["grafana"]
    mounts = dict(reversed(v.split(":")[:2]) for v in grafana["volumes"])
    assert (COMPOSE / mounts["/etc/grafana/provisioning"]).resolve() == provisioning
    services = compose()["services"]
    for path in sorted(provisioning.glob("*/*.yml")):
        doc = yaml.safe_load(path.read_text())
        for provider in doc.get("providers", []):
            folder = provider["options"]["path"]
            assert folder in mounts, f"{path.name}: {folder} is not mounted"
            assert list((COMPOSE / mounts[folder]).glob("*.json")), folder
        for source in doc.get("datasources", []):
            host, _, port = source["url"].removeprefix("http://").partition(":")
            assert host in services and any(p.endswith(f":{port}") for p in services[host]["ports"])


def test_the_dockerfile_installs_the_package_and_runs_as_no_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, flags=re.M)
    assert re.search(
        r"^RUN pip install --require-hashes --no-deps -r requirements.lock$", text, re.M
    )
    assert re.search(r"^RUN pip install --no-deps \.", text, flags=re.M)
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["dvtrigger"]' in text
    for source in re.findall(r"^COPY (\S+)", text, flags=re.M):
        assert (ROOT / source).exists(), source


def test_the_image_runs_on_the_allocator_the_supervisor_and_the_benchmarks_use() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    env = dict(re.findall(r"^\s*(?:ENV )?(LD_PRELOAD|PYTHONMALLOC|MALLOC_CONF)=(\S+)", text, re.M))
    library = env["LD_PRELOAD"]
    assert library in allocator.JEMALLOC_PATHS
    assert re.search(rf"ln -s .*libjemalloc\.so\.2.* {re.escape(library)}$", text, re.M)
    assert env == allocator.allocator_env({}, library=library)


def test_docker_compose_reads_the_file_where_it_is_installed(tmp_path: Path) -> None:
    """`docker compose config`, where the compose plugin is installed (it is not everywhere)."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        pytest.skip("no docker compose here; the compose specification's schema checked it")
    env = tmp_path / ".env"
    env.write_text("".join(f"{k}={v}\n" for k, v in {**env_example(), **REQUIRED}.items()))
    cmd = [docker, "compose", "--env-file", str(env), "-f", str(COMPOSE / "compose.yaml")]
    result = subprocess.run([*cmd, "config", "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
