"""`make run`'s ingress: throwaway certificates and a demo key that the settings let in."""

from __future__ import annotations

import json
import re
import ssl
from pathlib import Path
from typing import Any

from connectors.cli.ingress import DEMO_CLIENT_CN, start_demo_ingress
from connectors.ingress.auth import Authenticator, Principal
from streams.config.ingress import IngressSettings
from streams.config.settings import Settings


class FakeProcess:
    def poll(self) -> None:
        return None


def test_the_demo_ingress_gets_https_files_and_a_key_that_only_its_digest_lets_in(
    tmp_path: Path,
) -> None:
    spawned: list[tuple[list[str], dict[str, str], Path]] = []

    def spawn(args: list[str], env: dict[str, str], log: Path) -> Any:
        spawned.append((args, env, log))
        return FakeProcess()

    settings = Settings(data_dir=tmp_path)
    processes, banner = start_demo_ingress(settings, {"KAFKA_BOOTSTRAP_SERVERS": "x:1"}, spawn)
    [(args, env, log)] = spawned
    assert len(processes) == 1 and args[-1] == "ingress" and log == tmp_path / "ingress.log"
    key = re.search(r"x-api-key (\S+),", banner)
    assert key is not None
    assert key.group(1) not in json.dumps(env)  # the child gets the digest only
    prefix = "DVTRIGGER_INGRESS__"
    values = {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    ingress = IngressSettings.model_validate({**values, **_json(values)})
    for path in (ingress.tls_cert_file, ingress.tls_key_file, ingress.client_ca_file):
        assert path is not None and path.is_file()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(str(ingress.tls_cert_file), str(ingress.tls_key_file))
    auth = Authenticator(ingress)
    assert auth.authenticate({"x-api-key": key.group(1)}, None) == Principal("MPS", "api_key")
    client_pem = (tmp_path / "ingress" / "mps-client.pem").read_text()
    assert auth.authenticate({}, client_pem) == Principal("MPS", "mtls")
    assert ingress.cert_forces == {f"cn:{DEMO_CLIENT_CN}": "MPS"}


def _json(values: dict[str, str]) -> dict[str, Any]:
    return {k: json.loads(values[k]) for k in ("cert_forces", "api_key_hashes")}
