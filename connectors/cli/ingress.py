"""`dvtrigger ingress`: serve the HTTPS ingress; `dvtrigger ingress add-key FORCE`: a new API key.

`add-key` stores nothing: settings are read from the environment only, so it prints the key
(once: only its SHA-256 digest is kept anywhere) and the settings line with the digest
added to those already configured, for the operator to put in the deployment's secret.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from streams.config.settings import Settings


def add_parser(sub: Any) -> None:
    """Add `dvtrigger ingress [serve | add-key FORCE]` to the command line's subparsers."""
    p = sub.add_parser("ingress", help="HTTPS ingress for police forces; add-key FORCE: a key")
    p.add_argument("action", nargs="?", choices=["serve", "add-key"], default="serve")
    p.add_argument("force", nargs="?", help="add-key: the force code, e.g. MPS")
    p.add_argument("--host", help="bind address (default: DVTRIGGER_INGRESS__HOST)")
    p.add_argument("--port", type=int, help="port (default: DVTRIGGER_INGRESS__PORT)")
    p.add_argument("--bootstrap", help="host:port of the Kafka cluster")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the ingress until interrupted, or make an API key."""
    if args.action == "add-key":
        return add_key(settings, args.force)
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        sys.exit("dvtrigger: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap host:port")
    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    if overrides:
        ingress = settings.ingress.model_copy(update=overrides)
        settings = settings.model_copy(update={"ingress": ingress})
    from connectors.ingress.server import serve

    try:
        serve(settings, bootstrap)
    except ValueError as invalid:
        sys.exit(f"dvtrigger: {invalid}")
    return 0


def add_key(settings: Settings, force: str | None) -> int:
    """Print a new API key for `force` and the settings line that lets it in."""
    from connectors.ingress.auth import hash_api_key, new_api_key

    if not force or not re.fullmatch(r"[A-Z]{2,5}", force):
        sys.exit("dvtrigger: FORCE is a force code, 2 to 5 capital letters")
    key = new_api_key()
    hashes = {f: list(d) for f, d in settings.ingress.api_key_hashes.items()}
    hashes.setdefault(force, []).append(hash_api_key(key))
    print(f"API key for {force} (shown once; give it to the force by a secure channel):")
    print(f"  {key}")
    print("Settings line (the keys' SHA-256 digests, the ones already set included):")
    print(f"  DVTRIGGER_INGRESS__API_KEY_HASHES='{json.dumps(hashes, separators=(',', ':'))}'")
    return 0


#: Starts a child process: (arguments, environment, log file) -> the process.
Spawn = Callable[[list[str], dict[str, str], Path], "subprocess.Popen[bytes]"]
DEMO_FORCE = "MPS"
DEMO_CLIENT_CN = "demo.mps.police.test"


def start_demo_ingress(
    settings: Settings, env: dict[str, str], spawn: Spawn
) -> tuple[list[subprocess.Popen[bytes]], str]:
    """`make run`'s ingress: HTTPS with throwaway certificates and an API key made now.

    Everything is new each run, under `<data_dir>/ingress/`: a CA and server certificate
    for 127.0.0.1, a client CA with one client certificate for MPS (mutual TLS), and an
    API key for MPS, of which only the digest is passed on. Returns the process (none when
    trustme, a dev dependency, is missing) and the lines for the banner.
    """
    try:
        import trustme
    except ImportError:
        return [], "   ingress      off (install the dev extra: trustme makes its certificates)\n"
    from connectors.ingress.auth import hash_api_key, new_api_key

    folder = settings.data_dir / "ingress"
    folder.mkdir(parents=True, exist_ok=True)
    server_ca, client_ca = trustme.CA(), trustme.CA()
    server = server_ca.issue_cert("127.0.0.1", "localhost")
    client = client_ca.issue_cert(DEMO_CLIENT_CN, common_name=DEMO_CLIENT_CN)
    files = {name: folder / name for name in _DEMO_FILES}
    server.cert_chain_pems[0].write_to_path(str(files["server.pem"]))
    server.private_key_pem.write_to_path(str(files["server.key"]))
    server_ca.cert_pem.write_to_path(str(files["ca.pem"]))
    client_ca.cert_pem.write_to_path(str(files["client-ca.pem"]))
    client.cert_chain_pems[0].write_to_path(str(files["mps-client.pem"]))
    client.private_key_pem.write_to_path(str(files["mps-client.key"]))
    key = new_api_key()
    hashes = {f: list(d) for f, d in settings.ingress.api_key_hashes.items()}
    hashes.setdefault(DEMO_FORCE, []).append(hash_api_key(key))
    child_env = {
        **env,
        "DVTRIGGER_INGRESS__TLS_CERT_FILE": str(files["server.pem"]),
        "DVTRIGGER_INGRESS__TLS_KEY_FILE": str(files["server.key"]),
        "DVTRIGGER_INGRESS__CLIENT_CA_FILE": str(files["client-ca.pem"]),
        "DVTRIGGER_INGRESS__CERT_FORCES": json.dumps({f"cn:{DEMO_CLIENT_CN}": DEMO_FORCE}),
        "DVTRIGGER_INGRESS__API_KEY_HASHES": json.dumps(hashes),
    }
    args = [sys.executable, "-m", "connectors.cli", "ingress"]
    process = spawn(args, child_env, settings.data_dir / "ingress.log")
    i = settings.ingress
    url = f"https://{i.host}:{i.port}/v1/police-incidents"
    banner = (
        f"   ingress      {url} (MPS: x-api-key {key}, or the client certificate"
        f" {files['mps-client.pem']}; server CA {files['ca.pem']})\n"
    )
    return [process], banner


_DEMO_FILES = (
    "server.pem",
    "server.key",
    "ca.pem",
    "client-ca.pem",
    "mps-client.pem",
    "mps-client.key",
)
