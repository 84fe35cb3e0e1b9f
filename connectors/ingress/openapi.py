"""The ingress's OpenAPI document: exactly the body it accepts and every status it answers.

The request body is the `police-incident/1` JSON Schema, generated from the same model that
parses it (`schemas.police.PoliceIncident`), so the document and the parser cannot drift.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

from connectors.ingress.auth import API_KEY_HEADER
from schemas.police import PoliceIncident
from schemas.receipt import Receipt as NotificationReceipt

PATH = "/v1/police-incidents"
_REF = "#/components/schemas/{model}"
#: A valid notification for the document's example (invented: no person in it is named).
EXAMPLE: dict[str, Any] = {
    "schema": "police-incident/1",
    "notification_id": "0b7e2f4c-5d1a-4c3e-9f00-000000000001",
    "incident_id": "MPS-2026-000001",
    "force": "MPS",
    "revision": 1,
    "occurred_at": "2026-07-30T06:22:00+00:00",
    "reported_at": "2026-07-30T09:22:00+00:00",
    "location": {"lines": ["1 Example Street"], "postcode": "N8 7DW"},
    "dash_risk": "medium",
    "persons": [{"person_ref": "P1", "role": "victim"}],
}


class Receipt(BaseModel):
    """What a 202 says: the notification is on the feed, and its `received` receipt."""

    status: str = Field(description="`accepted`.")
    notification_id: str
    incident_id: str
    receipt: NotificationReceipt = Field(
        description="The `received` receipt/1, as the receipts topic will hold it."
    )


class Problem(BaseModel):
    """An error answer: what went wrong, never a value sent."""

    detail: str


class Invalid(Problem):
    """A 422: the reason class and the fields at fault, without their values."""

    reason_class: str = Field(description="`empty`, `not_json`, `schema` or `oversize`.")
    reason: str = Field(description="Field paths and error types.")
    receipt: NotificationReceipt = Field(
        description="The `rejected` receipt/1, as the receipts topic holds it."
    )


def _retry_after(meaning: str) -> dict[str, Any]:
    return {"Retry-After": {"description": meaning, "schema": {"type": "integer"}}}


def responses() -> dict[int | str, dict[str, Any]]:
    """Every error status of the publish operation, with its body and headers."""
    challenge = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return {
        202: {"model": Receipt, "description": "Acknowledged by every in-sync replica."},
        401: {"model": Problem, "description": "No valid credential.", "headers": challenge},
        403: {"model": Problem, "description": "The force code is not the caller's."},
        413: {"model": Problem, "description": "The body is over the size limit."},
        415: {"model": Problem, "description": "Not application/json."},
        422: {"model": Invalid, "description": "Not a valid police-incident/1 notification."},
        429: {
            "model": Problem,
            "description": "The force's rate limit is reached.",
            "headers": _retry_after("Seconds until a request will be taken."),
        },
        503: {
            "model": Problem,
            "description": "The broker did not acknowledge the write; nothing to rely on: send"
            " it again (a notification sent twice is the same revision).",
            "headers": _retry_after("Seconds to wait before sending again."),
        },
    }


def install_openapi(app: FastAPI) -> None:
    """Replace the app's OpenAPI document with one carrying the request body and security."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of `app`."""
    doc = get_openapi(title=app.title, version=app.version, routes=app.routes)
    body = PoliceIncident.model_json_schema(by_alias=True, mode="validation", ref_template=_REF)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(body.pop("$defs", {}))
    schemas["PoliceIncident"] = body
    doc["components"]["securitySchemes"] = {
        "mutualTLS": {"type": "mutualTLS", "description": "A client certificate of the force."},
        "oauth2": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
        "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER},
    }
    operation = doc["paths"][PATH]["post"]
    operation["security"] = [{"mutualTLS": []}, {"oauth2": []}, {"apiKey": []}]
    operation["requestBody"] = {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": _REF.format(model="PoliceIncident")},
                "example": EXAMPLE,
            }
        },
    }
    return doc
