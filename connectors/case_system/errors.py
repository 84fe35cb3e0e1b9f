"""What every HTTP case system adapter shares: sending a request and mapping failures to errors.

Each adapter keeps its own `_request` choke point and calls `send` there; the port's error tree
(`streams.domain.ports.case_system`) is the one both the duty inbox client and the FHIR client
raise. A message names the method, the path and the status code, never a response body, so it
carries no personal data.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from streams.domain.ports.case_system import (
    CaseSystemBadResponse,
    CaseSystemConflict,
    CaseSystemRejected,
    CaseSystemUnavailable,
    TaskNotFound,
)

ModelT = TypeVar("ModelT", bound=BaseModel)


async def send(
    client: httpx.AsyncClient,
    where: str,
    method: str,
    url: str,
    *,
    conflicts: Collection[int] = (409,),
    **kwargs: Any,
) -> httpx.Response:
    """Send one request; a failure or a status of 400 or more becomes the port's error.

    `where` names the request in messages ("POST /api/tasks"); `conflicts` are the status codes
    that mean another write to the same task won (retryable): 409, and 412 for an update that
    was made on a version someone else has since changed.
    """
    try:
        response = await client.request(method, url, **kwargs)
    except httpx.TimeoutException as exc:
        raise CaseSystemUnavailable(f"{where}: timed out", "timeout") from exc
    except httpx.TransportError as exc:
        raise CaseSystemUnavailable(f"{where}: {type(exc).__name__}", "connect") from exc
    except httpx.RequestError as exc:  # undecodable body, too many redirects
        raise CaseSystemBadResponse(f"{where}: {type(exc).__name__}") from exc
    raise_for_status(where, response, conflicts)
    return response


def raise_for_status(
    where: str, response: httpx.Response, conflicts: Collection[int] = (409,)
) -> None:
    """Map a status code to the error tree; the body is never read into a message."""
    code = response.status_code
    if code < 400:
        return
    retry_after = _retry_after(response)
    if code >= 500:
        raise CaseSystemUnavailable(f"{where}: {code}", "5xx", retry_after)
    if code == 429:
        raise CaseSystemUnavailable(f"{where}: 429", "429", retry_after)
    if code in conflicts:  # the port has one conflict kind, named after 409
        raise CaseSystemConflict(f"{where}: {code}", "409", retry_after)
    if code == 404:
        raise TaskNotFound(f"{where}: 404", code)
    raise CaseSystemRejected(f"{where}: {code}", code)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds from a numeric Retry-After header, if any."""
    try:
        return max(0.0, float(response.headers["Retry-After"]))
    except (KeyError, ValueError):
        return None


def parse(model: type[ModelT], response: httpx.Response) -> ModelT:
    """Validate a response body; a failure names the model and error count, never the values."""
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        message = f"{response.request.method} {response.request.url.path}: "
        message += f"{exc.error_count()} errors parsing {model.__name__}"
        raise CaseSystemBadResponse(message) from None
