"""`dvtrigger`: the command line of operators, integration teams and `make run`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from connectors.cli.calibrate import add_parser as add_calibrate
from connectors.cli.file_drop import add_parser as add_file_drop
from connectors.cli.ingress import add_parser as add_ingress
from connectors.cli.reconcile import add_parser as add_reconcile
from streams.config.settings import Settings


def _bootstrap(args: argparse.Namespace, settings: Settings) -> str:
    """The cluster to talk to: --bootstrap, else KAFKA_BOOTSTRAP_SERVERS."""
    bootstrap = args.bootstrap or settings.kafka_bootstrap_servers
    if not bootstrap:
        sys.exit("dvtrigger: set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap host:port")
    return str(bootstrap)


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one stream worker."""
    from streams.bootstrap import run_worker

    run_worker(settings, role=args.role)
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """Run everything on this machine: broker, worker, duty inbox, demo feed."""
    from connectors.cli.supervisor import run_all

    return run_all(settings, demo=not args.no_demo)


def cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Validate a JSON-lines file and produce what is valid; report what was refused."""
    from connectors.kafka.publish import lines, producer, publish
    from connectors.kafka.security import client_options

    topic = settings.topic("police-incidents" if args.feed == "incidents" else "register-events")
    kafka = producer(_bootstrap(args, settings), client_options(settings))
    report = publish(args.feed, lines(args.file), topic, kafka)
    kafka.close()
    for number, reason in report.rejected:
        print(f"{args.file}:{number}: refused: {reason}", file=sys.stderr)
    print(f"produced {report.produced} to {topic}; refused {len(report.rejected)}")
    return 1 if report.rejected else 0


def cmd_topics(args: argparse.Namespace, settings: Settings) -> int:
    """Create the missing topics and set drifted configs; report what is left for a person."""
    from connectors.kafka.topics import provision, report

    try:
        result, errors = provision(settings, _bootstrap(args, settings), dry_run=args.dry_run)
    except ValueError as invalid:
        sys.exit(f"dvtrigger: {invalid}")
    for line in report(result, errors, dry_run=args.dry_run):
        print(line)
    return 1 if result.drift or errors else 0


def cmd_dead_letter(args: argparse.Namespace, settings: Settings) -> int:
    """Send dead letters back to the topics they came from, after a fix."""
    from connectors.kafka.dead_letters import replay_dead_letters

    sent = replay_dead_letters(settings, _bootstrap(args, settings), args.reason_class)
    print(f"replayed {sent} dead letters")
    return 0


def cmd_parked(args: argparse.Namespace, settings: Settings) -> int:
    """Send parked tasks back to the task commands, once their case system is back."""
    from connectors.kafka.dead_letters import replay_parked

    sent = replay_parked(settings, _bootstrap(args, settings), args.reason_class)
    print(f"replayed {sent} parked tasks")
    return 0


def _passthrough(module: str) -> int:
    """Hand the remaining arguments to a module's own `main`."""
    import importlib

    main = importlib.import_module(module).main
    return int(main(sys.argv[2:]) or 0)


def parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="dvtrigger", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker", help="run one stream worker")
    worker.add_argument(
        "--role",
        choices=("all", "decide", "deliver"),
        default="all",
        help="all flows (default); decide: ingest, register and decisions; deliver: tasks to"
        " the case system, in a consumer group of its own (DVTRIGGER_DELIVER_WEB_PORT)",
    )
    worker.set_defaults(func=cmd_worker)
    run = sub.add_parser("run", help="broker (embedded by default), worker, duty inbox, demo")
    run.add_argument("--no-demo", action="store_true", help="do not start the demo feed")
    run.set_defaults(func=cmd_run)
    pub = sub.add_parser("publish", help="validate and produce a JSON-lines file")
    pub.add_argument("feed", choices=["incidents", "register"])
    pub.add_argument("file", type=Path)
    pub.set_defaults(func=cmd_publish)
    topics = sub.add_parser("topics", help="topic provisioning")
    topics.add_argument("action", choices=["create"])
    topics.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be created or changed; change nothing",
    )
    topics.set_defaults(func=cmd_topics)
    dead = sub.add_parser("dead-letter", help="dead-letter topic tools")
    dead.add_argument("action", choices=["replay"])
    dead.add_argument("--reason-class", help="only dead letters of this reason class")
    dead.set_defaults(func=cmd_dead_letter)
    parked = sub.add_parser("parked", help="parked-task tools")
    parked.add_argument("action", choices=["replay"])
    parked.add_argument("--reason-class", help="only tasks parked for this reason class")
    parked.set_defaults(func=cmd_parked)
    add_file_drop(sub)
    add_ingress(sub)
    add_calibrate(sub)
    add_reconcile(sub)
    for name in ("publish", "topics", "dead-letter", "parked"):
        sub.choices[name].add_argument("--bootstrap", help="host:port of the Kafka cluster")
    for name in PASSTHROUGH:
        sub.add_parser(name, help=f"see `dvtrigger {name} --help`", add_help=False)
    return p


PASSTHROUGH = {
    "replay": "connectors.cli.replay",
    "retention": "connectors.cli.retention",
    "audit": "connectors.cli.audit",
    "simulate": "connectors.simulate",
    "duty-inbox": "connectors.duty_inbox.__main__",
    "users": "connectors.cli.users",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dvtrigger` command."""
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for chatty in ("kafka", "aiokafka", "httpx"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if argv and argv[0] in PASSTHROUGH:
        sys.argv = ["dvtrigger", *argv]
        return _passthrough(PASSTHROUGH[argv[0]])
    args = parser().parse_args(argv)
    return int(args.func(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
