"""`decision/1`: what dvtrigger decided for one incident (decision log and replay output)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from schemas.shared import WireModel
from schemas.wire import JsonInteger, JsonNumber, Omittable

Outcome = Literal["trigger", "review"]
DecisionValue = Literal["trigger", "review", "no_action"]


class DecisionSubject(WireModel):
    """One child or unborn child the decision is about, with its evidence.

    The contract allows extra fields; dvtrigger adds `local_authority` and `late`.
    """

    model_config = ConfigDict(extra="allow")

    basis: Literal["register", "police_report"]
    kind: Literal["child", "unborn"]
    subject_ref: str | None = None
    person_ref: str | None = None
    outcome: Omittable[Outcome] = None
    score: JsonNumber | None = None
    reasons: list[str] = Field(default_factory=list)


class Decision(WireModel):
    """The decision for one revision of one incident; the contract allows extra fields."""

    model_config = ConfigDict(extra="allow")

    incident_id: str
    revision: Annotated[int, Field(ge=1), JsonInteger]
    decision: DecisionValue
    subjects: list[DecisionSubject]
    reasons: list[str] = Field(default_factory=list)
