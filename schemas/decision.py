"""`decision/1`: what dvtrigger decided for one incident (decision log and replay output)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Outcome = Literal["trigger", "review"]
DecisionValue = Literal["trigger", "review", "no_action"]


class DecisionSubject(BaseModel):
    """One child or unborn child the decision is about, with its evidence.

    The contract allows extra fields; dvtrigger adds `local_authority` and `late`.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    basis: Literal["register", "police_report"]
    kind: Literal["child", "unborn"]
    subject_ref: str | None = None
    person_ref: str | None = None
    outcome: Outcome | None = None
    score: float | None = None
    reasons: list[str] = Field(default_factory=list)


class Decision(BaseModel):
    """The decision for one revision of one incident."""

    model_config = ConfigDict(extra="allow", frozen=True)

    incident_id: str
    revision: Annotated[int, Field(ge=1)]
    decision: DecisionValue
    subjects: list[DecisionSubject]
    reasons: list[str] = Field(default_factory=list)
