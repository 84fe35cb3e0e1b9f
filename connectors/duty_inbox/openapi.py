"""The duty inbox's OpenAPI document: the JSON API as it really answers, and how it is signed in.

The document covers the machine interface (/api, /healthz, /metrics); the pages people use
are left out of it. Each operation lists every status it answers; the bodies it parses
itself (`RaiseTask`) are declared with `openapi_extra`, their schemas generated from the
same models that validate them. Three security schemes: a client's bearer token, a
person's session cookie, and the session's CSRF token in `X-CSRF-Token` for acts.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connectors.duty_inbox.auth import COOKIE
from schemas.task import RaiseTask

#: A client credential (`dvtrigger users add-client`): `Authorization: Bearer <token>`.
CLIENT: list[dict[str, list[str]]] = [{"clientToken": []}]
#: To read: a client credential, or a signed-in person's session.
READER: list[dict[str, list[str]]] = [{"clientToken": []}, {"session": []}]
#: To act on a task: a person's session and its CSRF token, together.
ACTOR: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]

SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "clientToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The token of an API client credential.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "The session cookie set by signing in at /sign-in.",
    },
    "metricsToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The metrics token, when one is set (METRICS_TOKEN).",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": "X-CSRF-Token",
        "description": "The session's CSRF token (its pages' forms carry it).",
    },
}


class Problem(BaseModel):
    """A refusal: what is wrong, in words, never a value sent."""

    detail: str


class FieldProblem(BaseModel):
    """One field that is not valid: where, what kind of problem, in words."""

    loc: list[str | int]
    msg: str
    type: str


class Invalid(BaseModel):
    """A request that is not valid: its fields' problems, or one sentence."""

    detail: list[FieldProblem] | str


_WORDS = {
    400: "The body cannot be read (not UTF-8 JSON text).",
    401: "Not signed in, and no valid client token.",
    403: "The caller's role or credential does not allow this, or the CSRF token is wrong.",
    404: "No such task (or not of the caller's councils).",
    409: "The task is closed; or, for an outcome, not acknowledged yet or of the other type.",
    413: "The body is too large.",
    422: "The request is not valid.",
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route for these refusal statuses."""
    return {
        code: {"model": Invalid if code == 422 else Problem, "description": _WORDS[code]}
        for code in codes
    }


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring a required JSON body of `model`, parsed by the route itself."""
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once: FastAPI's, with bodies and security added.

    A 422 FastAPI adds on its own to an operation that cannot answer it (a path parameter
    of any string) is taken out; the routes that can declare theirs.
    """
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        routes=app.routes,
        separate_input_output_schemas=False,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _add_models(schemas, [RaiseTask])
    components["securitySchemes"] = SECURITY_SCHEMES
    for operations in doc["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            if "HTTPValidationError" in str(responses.get("422", "")):
                del responses["422"]
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(doc["paths"]):
            schemas.pop(unused, None)
    app.openapi_schema = doc
    return doc


def _add_models(schemas: dict[str, Any], models: list[type[BaseModel]]) -> None:
    """Add the validation schemas of `models` (and what they use) that FastAPI has not.

    FastAPI generates every schema in validation mode too (no separate output schemas), so
    one it has already is the same model's.
    """
    _, top = models_json_schema(
        [(model, "validation") for model in models],
        by_alias=True,
        ref_template="#/components/schemas/{model}",
    )
    for name, schema in top.get("$defs", {}).items():
        schemas.setdefault(name, schema)
