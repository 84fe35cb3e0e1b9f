"""deploy/kubernetes: the manifests against the Kubernetes schemas (offline, kubernetes-validate),
the kustomization, and the settings, probes, limits and security every pod needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
import yaml

from connectors.kafka.topics import wanted_topics
from tests.support.deploy import DEPLOY, assert_cli_knows, is_setting, settings_from

KUBERNETES = DEPLOY / "kubernetes"
#: Kubernetes releases the manifests must be valid for: an older one still supported, the newest.
KUBERNETES_VERSIONS = ("1.31.0", kubernetes_validate.utils.latest_version())


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())  # type: ignore[no-any-return]


def manifests() -> Iterator[tuple[str, dict[str, Any]]]:
    """(file, document) of every resource the kustomization lists."""
    for name in kustomization()["resources"]:
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text()):
            if doc:
                yield name, doc


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["spec"]["template"]["spec"]["containers"]  # type: ignore[no-any-return]


def settings_configmap() -> dict[str, str]:
    return of_kind("ConfigMap")["dvtrigger-settings"]["data"]  # type: ignore[no-any-return]


def test_the_kustomization_lists_every_manifest() -> None:
    listed = set(kustomization()["resources"])
    present = {p.name for p in KUBERNETES.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.example.yaml"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_are_valid_kubernetes(version: str) -> None:
    docs = [*manifests(), ("secret.example.yaml", secret_template())]
    for name, doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as invalid:
            pytest.fail(f"{name} {doc['kind']}/{doc['metadata']['name']}: {invalid.message}")
    assert {doc["kind"] for _, doc in docs} >= {
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Service",
        "PersistentVolumeClaim",
        "Job",
        "PodDisruptionBudget",
    }


def test_kustomize_renders_valid_kubernetes() -> None:
    kubectl = shutil.which("kubectl")
    if not kubectl:
        pytest.skip("no kubectl here; each listed manifest was validated on its own")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert len(docs) == len(list(manifests()))
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "dvtrigger"


def secret_template() -> dict[str, Any]:
    return yaml.safe_load((KUBERNETES / "secret.example.yaml").read_text())  # type: ignore[no-any-return]


def test_the_secret_template_holds_no_secret() -> None:
    values = secret_template()["stringData"]
    assert values and all(value.startswith("<") for value in values.values())


def test_the_configmap_holds_production_topic_settings() -> None:
    data = settings_configmap()
    for name in data:
        assert is_setting(name), f"{name} is no setting"
    settings = settings_from(data)  # type: ignore[arg-type]
    assert (settings.topic_replication, settings.topic_min_insync_replicas) == (3, 2)
    for spec in wanted_topics(settings):
        assert spec.replication == 3 and spec.configs["min.insync.replicas"] == "2"


def test_workers_are_no_more_than_partitions() -> None:
    partitions = int(settings_configmap()["DVTRIGGER_TOPIC_PARTITIONS"])
    deployments = of_kind("Deployment")
    for role in ("decide", "deliver"):
        assert 1 <= deployments[f"dvtrigger-{role}"]["spec"]["replicas"] <= partitions


def test_the_decide_worker_has_memory_for_the_whole_register() -> None:
    (worker,) = containers(of_kind("Deployment")["dvtrigger-decide"])
    resources = worker["resources"]
    assert gibibytes(resources["requests"]["memory"]) >= 1.5  # 1.3 GB at 1,000,000 subjects
    assert gibibytes(resources["limits"]["memory"]) >= 2


def gibibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)(Mi|Gi)", quantity).groups()  # type: ignore[union-attr]
    return float(number) / (1024 if unit == "Mi" else 1)


def pod_templates() -> Iterator[tuple[str, dict[str, Any]]]:
    for kind in ("Deployment", "Job"):
        for name, doc in of_kind(kind).items():
            yield name, doc["spec"]["template"]


def test_every_container_is_limited_and_runs_as_no_root_on_a_read_only_root() -> None:
    for name, template in pod_templates():
        assert template["spec"]["securityContext"]["runAsNonRoot"] is True, name
        for container in template["spec"]["containers"]:
            resources = container["resources"]
            for side in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources[side]), f"{name} {side}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert container["image"] == "dvtrigger", name
            assert_cli_knows([str(arg) for arg in container["args"]])


#: The stream workers: ready only once recovered (/readyz).
WORKERS = ("dvtrigger-decide", "dvtrigger-deliver")


def test_long_running_containers_are_probed_at_their_port() -> None:
    """Liveness on /healthz; readiness on /readyz for the workers (recovered, broker
    reachable), on /healthz for the others."""
    expected = {
        "dvtrigger-decide": 6066,
        "dvtrigger-deliver": 6067,
        "dvtrigger-duty-inbox": 8081,
        "dvtrigger-file-drop": 6068,
        "dvtrigger-ingress": 8443,
    }
    data = settings_configmap()
    assert int(data["DVTRIGGER_WEB_PORT"]) == 6066
    assert int(data["DVTRIGGER_DELIVER_WEB_PORT"]) == 6067
    for name, doc in of_kind("Deployment").items():
        (container,) = containers(doc)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        ready = "/readyz" if name in WORKERS else "/healthz"
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", ready)):
            http = container[probe]["httpGet"]
            assert http["path"] == path, f"{name} {probe}"
            assert ports[http["port"]] == expected[name], f"{name} {probe}"


def test_a_worker_may_load_its_register_for_ten_minutes_before_liveness_counts() -> None:
    """At 379k subjects the load took 248 s; the startup probe (on /healthz) allows more
    than twice that before the liveness probe may restart the pod."""
    for name in WORKERS:
        (container,) = containers(of_kind("Deployment")[name])
        startup = container["startupProbe"]
        assert startup["httpGet"]["path"] == "/healthz", name
        allowed = startup["periodSeconds"] * startup["failureThreshold"]
        assert allowed >= (600 if name == "dvtrigger-decide" else 60), name


def test_workers_not_ready_are_still_scraped() -> None:
    """A worker loading its register or in a broker outage is not ready; its headless
    Service still publishes it, so Prometheus keeps scraping it (the outage gauge)."""
    for name in WORKERS:
        assert of_kind("Service")[name]["spec"]["publishNotReadyAddresses"] is True, name


def test_services_and_budgets_select_the_pods() -> None:
    deployments = of_kind("Deployment").values()
    labels = [doc["spec"]["template"]["metadata"]["labels"] for doc in deployments]
    for kind in ("Service", "PodDisruptionBudget"):
        for name, doc in of_kind(kind).items():
            selector = doc["spec"]["selector"]
            selector = selector.get("matchLabels", selector)
            assert any(selector.items() <= pod.items() for pod in labels), f"{kind} {name}"


def test_the_duty_inbox_keeps_its_tasks_on_a_claimed_volume() -> None:
    inbox = of_kind("Deployment")["dvtrigger-duty-inbox"]
    assert inbox["spec"]["replicas"] == 1 and inbox["spec"]["strategy"]["type"] == "Recreate"
    volumes = {v["name"]: v for v in inbox["spec"]["template"]["spec"]["volumes"]}
    claim = volumes["data"]["persistentVolumeClaim"]["claimName"]
    assert claim in of_kind("PersistentVolumeClaim")
    (container,) = containers(inbox)
    db = container["args"][container["args"].index("--db") + 1]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert db.startswith(mounts["data"] + "/")


def test_the_topics_job_provisions_with_the_workers_settings() -> None:
    job = of_kind("Job")["dvtrigger-topics"]
    (container,) = containers(job)
    assert container["args"] == ["topics", "create"]
    assert container["envFrom"] == [{"configMapRef": {"name": "dvtrigger-settings"}}]


def test_prometheus_in_the_cluster_finds_the_services() -> None:
    config = DEPLOY / "prometheus" / "prometheus-kubernetes.yml"
    if not config.is_file():
        pytest.skip("deploy/prometheus/prometheus-kubernetes.yml is not written yet")
    services = of_kind("Service")
    namespace = kustomization()["namespace"]
    for job in yaml.safe_load(config.read_text())["scrape_configs"]:
        for sd in job["dns_sd_configs"]:
            for name in sd["names"]:
                service, ns, *_ = name.split(".")
                assert ns == namespace and service in services, name
                ports = [p["port"] for p in services[service]["spec"]["ports"]]
                assert sd["port"] in ports, name
