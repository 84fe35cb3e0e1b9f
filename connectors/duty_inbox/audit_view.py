"""Auditors' queries of the audit log: by task, user, person or incident, envelopes only.

An auditor sees the records whose `council` reference is one of their councils (a person's
councils are named one by one); a record with no council reference (a sign-in, a refusal) is not
shown. Only the envelope leaves the log: who, what, when, from where, why and about what,
by reference; never the detail, which may hold personal data. Each query is itself
recorded (kind "view", action "queried audit").
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from connectors.audit import query
from connectors.duty_inbox.access import caller_may, person_may
from connectors.duty_inbox.auth import Principal, csrf_token, record, state
from connectors.duty_inbox.openapi import READER, refusals
from connectors.duty_inbox.render import account_html, esc, page, when
from streams.domain.audit import ENVELOPE

router = APIRouter()

ApiAuditor = Annotated[Principal, Depends(caller_may("query_audit"))]
PageAuditor = Annotated[Principal, Depends(person_may("query_audit"))]

#: Longest reference a filter takes (references are identifiers, not text).
MAX_REF = 200
Ref = Annotated[str | None, Query(max_length=MAX_REF)]
Limit = Annotated[int, Query(ge=1, le=1000)]
FILTERS = ("task", "user", "person", "incident")


class AuditEnvelope(BaseModel):
    """One audit record without its detail."""

    model_config = ConfigDict(extra="forbid")

    chain: str
    seq: int
    kind: str
    at: datetime
    actor: str
    action: str
    origin: str | None
    reason: str | None
    refs: dict[str, list[str]]
    detail_digest: str


class AuditRecords(BaseModel):
    """The envelopes of the records found, oldest first: at most `limit`, the newest ones."""

    records: list[AuditEnvelope]
    truncated: bool = Field(description="More records matched than were returned.")


def _directory(request: Request) -> Path:
    directory: Path = request.app.state.audit_dir
    return directory


def visible(record_: dict[str, Any], councils: frozenset[str]) -> bool:
    """Whether an auditor of `councils` may see a record: one of its councils is theirs."""
    refs = record_.get("refs") or {}
    return not councils.isdisjoint(refs.get("council") or ())


def envelope(record_: dict[str, Any]) -> AuditEnvelope:
    """The envelope of a stored record: what its hash covers, no detail."""
    return AuditEnvelope.model_validate({key: record_.get(key) for key in ENVELOPE})


def find(
    request: Request, principal: Principal, filters: dict[str, str], limit: int
) -> AuditRecords:
    """The records matching `filters` that `principal` may see; the query is recorded."""
    found = [
        item for item in query(_directory(request), **filters) if visible(item, principal.councils)
    ]
    found.sort(key=lambda item: (str(item.get("at")), str(item.get("chain")), item.get("seq")))
    refs = {key: [value] for key, value in filters.items()}
    refs["council"] = sorted(principal.councils)
    record(request, "view", "queried audit", principal, refs)
    return AuditRecords(
        records=[envelope(item) for item in found[-limit:]], truncated=len(found) > limit
    )


def _filters(**given: str | None) -> dict[str, str]:
    """The filters given, an empty one being none."""
    return {key: value for key, value in given.items() if value}


@router.get(
    "/api/audit",
    response_model=AuditRecords,
    responses=refusals(401, 403, 422),
    openapi_extra={"security": READER},
)
async def audit_api(
    request: Request,
    principal: ApiAuditor,
    task: Ref = None,
    user: Ref = None,
    person: Ref = None,
    incident: Ref = None,
    limit: Limit = 100,
) -> AuditRecords:
    """Audit records of the auditor's councils by task, user, person or incident (envelopes)."""
    filters = _filters(task=task, user=user, person=person, incident=incident)
    return await run_in_threadpool(find, request, principal, filters, limit)


@router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
async def audit_page(
    request: Request,
    principal: PageAuditor,
    task: Ref = None,
    user: Ref = None,
    person: Ref = None,
    incident: Ref = None,
    limit: Limit = 100,
) -> HTMLResponse:
    """The same query as a page: a form of the four filters and a table of what was found."""
    filters = _filters(task=task, user=user, person=person, incident=incident)
    found = await run_in_threadpool(find, request, principal, filters, limit)
    content = "<h1>Audit log</h1>" + _form(filters) + _table(found)
    account = account_html(principal.username, csrf_token(request))
    return HTMLResponse(page("Audit log", content, state(request).clock(), account))


def _form(filters: dict[str, str]) -> str:
    fields = "".join(
        f'<label for="f-{name}">{name.capitalize()}</label>'
        f'<input id="f-{name}" name="{name}" maxlength="{MAX_REF}"'
        f' value="{esc(filters.get(name, ""))}">'
        for name in FILTERS
    )
    return (
        f'<form class="audit-query" method="get" action="/audit">{fields}'
        '<p><button type="submit">Search</button></p></form>'
    )


def _table(found: AuditRecords) -> str:
    if not found.records:
        return '<p class="empty">No records found.</p>'
    head = "".join(
        f'<th scope="col">{label}</th>'
        for label in ("When", "Who", "What", "From", "Why", "About", "Record")
    )
    rows = "".join(_row(item) for item in found.records)
    more = '<p class="note">More records matched: narrow the search.</p>' if found.truncated else ""
    return f"<table><thead><tr>{head}</tr></thead>{rows}</table>{more}"


def _row(item: AuditEnvelope) -> str:
    refs = "; ".join(f"{key}: {', '.join(values)}" for key, values in sorted(item.refs.items()))
    cells = [
        when(item.at),
        item.actor,
        f"{item.kind}: {item.action}",
        item.origin or "",
        item.reason or "",
        refs,
        f"{item.chain} #{item.seq}",
    ]
    return "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in cells) + "</tr>"
