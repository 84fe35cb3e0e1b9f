"""Write the JSON Schemas generated from the wire models to `schemas/json/`, or check them.

`python -m schemas.export` rewrites the files; `python -m schemas.export --check`
writes nothing and exits 1 when a committed file differs from a fresh one.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from schemas.decision import Decision
from schemas.police import PoliceIncident
from schemas.receipt import Receipt
from schemas.register import RegisterEvent
from schemas.task import RaiseTask

#: Where the published schemas live, inside the package.
JSON_DIR = Path(__file__).parent / "json"
#: File name of each published schema, and the model it is generated from.
MODELS: dict[str, type[BaseModel]] = {
    "police-incident.v1.schema.json": PoliceIncident,
    "register-event.v1.schema.json": RegisterEvent,
    "decision.v1.schema.json": Decision,
    "raise-task.v1.schema.json": RaiseTask,
    "receipt.v1.schema.json": Receipt,
}
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(model: type[BaseModel]) -> str:
    """One model's JSON Schema as text: sorted keys, two-space indent, trailing newline."""
    schema = {
        "$schema": _DIALECT,
        "$comment": f"Generated from {model.__module__}.{model.__name__} "
        "by `python -m schemas.export`; do not edit.",
        **model.model_json_schema(by_alias=True, mode="validation"),
    }
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generate() -> dict[str, str]:
    """Every published schema's text, by file name."""
    return {name: render(model) for name, model in MODELS.items()}


def write(directory: Path = JSON_DIR) -> list[str]:
    """Write every schema to `directory`; return the names of the files that changed."""
    directory.mkdir(parents=True, exist_ok=True)
    changed = drifted(directory)
    for name, text in generate().items():
        (directory / name).write_text(text, encoding="utf-8")
    return changed


def drifted(directory: Path = JSON_DIR) -> list[str]:
    """Names of the schema files in `directory` that are missing or differ from fresh ones."""
    return [
        name
        for name, text in generate().items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the schemas, or with `--check` report drift and exit 1."""
    parser = argparse.ArgumentParser(prog="python -m schemas.export", description=__doc__)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 on drift")
    parser.add_argument("--dir", type=Path, default=JSON_DIR, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted(args.dir)
        for name in stale:
            print(f"{args.dir / name}: differs from the models; run `python -m schemas.export`")
        return 1 if stale else 0
    for name in write(args.dir):
        print(f"wrote {args.dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
