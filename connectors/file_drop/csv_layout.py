"""CSV rows in the police contract's shape: header cells are dotted paths into the contract.

A header names where each cell goes in a `police-incident/1` message, e.g.
`incident_id`, `location.lines.0`, `persons.1.given_name`; a number is a list
index. Each cell is converted to the type the contract's JSON Schema gives that
field: an integer field takes `-?[0-9]+`, a boolean `true` or `false` (any case);
anything else stays text, for the contract to refuse by field name. An empty
cell is null where the contract allows null and the object it belongs to has
some other cell filled; otherwise it is left out, so an object or list element
whose cells are all empty is absent (lists close up over gaps). A file without
a `schema` column gets `police-incident/1`. The header itself must name only
fields of the contract, each once; otherwise the file is unreadable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from schemas.police import PoliceIncident

SCHEMA_ID = "police-incident/1"
_INTEGER = re.compile(r"-?[0-9]+")


class BadHeader(ValueError):
    """A header cell that is not a field of the contract (named by column number only)."""


@dataclass(frozen=True)
class Column:
    """Where one column's cells go, and the JSON types the contract allows there."""

    path: tuple[str | int, ...]
    types: frozenset[str]


@cache
def contract_schema() -> dict[str, Any]:
    """The JSON Schema of police-incident/1, as `schemas/json` publishes it."""
    return PoliceIncident.model_json_schema(by_alias=True, mode="validation")


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a `$ref` into `$defs`."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _resolve(root["$defs"][ref.rsplit("/", 1)[-1]], root)
    return node


def _branches(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives of a node (`anyOf`), each resolved."""
    node = _resolve(node, root)
    return [_resolve(b, root) for b in node.get("anyOf", [node])]


def _step(node: Mapping[str, Any], part: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema of `part` inside `node` (a property, or an index of an array), if any."""
    for branch in _branches(node, root):
        if branch.get("type") == "object" and part in branch.get("properties", {}):
            return dict(branch["properties"][part])
        limit = int(branch.get("maxItems", 1_000))
        if branch.get("type") == "array" and part.isdigit() and int(part) < limit:
            return dict(branch["items"])
    return None


def _leaf_types(node: Mapping[str, Any], root: Mapping[str, Any]) -> frozenset[str] | None:
    """The JSON types of a scalar field; None if the field is an object or a list."""
    types = set()
    for branch in _branches(node, root):
        kind = branch.get("type", "string" if "const" in branch or "enum" in branch else None)
        if kind in ("object", "array") or kind is None:
            return None
        types.add(str(kind))
    return frozenset(types)


def columns(header: Sequence[str]) -> list[Column]:
    """Where each header cell's column goes; raises `BadHeader` naming the column number."""
    root = contract_schema()
    result: list[Column] = []
    seen: set[tuple[str | int, ...]] = set()
    for number, cell in enumerate(header, start=1):
        node: Mapping[str, Any] | None = root
        parts = cell.strip().split(".")
        for part in parts:
            node = _step(node, part, root) if node is not None else None
        types = _leaf_types(node, root) if node is not None else None
        if types is None:
            raise BadHeader(f"column {number} is not a field of {SCHEMA_ID}")
        path = tuple(int(p) if p.isdigit() else p for p in parts)
        if path in seen:
            raise BadHeader(f"column {number} repeats an earlier column")
        seen.add(path)
        result.append(Column(path, types))
    return result


def convert(cell: str, types: frozenset[str]) -> object:
    """A cell as the type its field has; text the field cannot take stays text."""
    if "integer" in types and _INTEGER.fullmatch(cell):
        return int(cell)
    if "boolean" in types and cell.lower() in ("true", "false"):
        return cell.lower() == "true"
    return cell


def message(layout: Sequence[Column], row: Sequence[str]) -> dict[str, Any]:
    """The police-incident/1 message one CSV row stands for (not yet validated)."""
    tree: dict[Any, Any] = {}
    nulls = []
    for column, cell in zip(layout, row, strict=False):
        if cell == "":
            if "null" in column.types:
                nulls.append(column.path)
            continue
        _put(tree, column.path, convert(cell, column.types))
    for path in nulls:
        parent = _get(tree, path[:-1])
        if isinstance(parent, dict) and parent:
            parent.setdefault(path[-1], None)
    if all(c.path != ("schema",) for c in layout):
        tree["schema"] = SCHEMA_ID
    result = _as_lists(tree)
    assert isinstance(result, dict)
    return result


def _put(tree: dict[Any, Any], path: tuple[str | int, ...], value: object) -> None:
    """Set `value` at `path`, making the dicts on the way (list indexes are keys for now)."""
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def _get(tree: dict[Any, Any], path: tuple[str | int, ...]) -> object:
    """The node at `path`, or None."""
    node: object = tree
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _as_lists(node: object) -> object:
    """Dicts keyed by list indexes become lists, in index order, gaps closed."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_as_lists(node[k]) for k in sorted(node)]
    return {k: _as_lists(v) for k, v in node.items()}
