"""Wire models (pydantic v2) for dvtrigger's contracts and value objects; no I/O."""

from schemas.decision import Decision, DecisionSubject
from schemas.police import PoliceIncident, PolicePerson
from schemas.register import Carer, RegisterEvent, RegisterSubject
from schemas.shared import Address
from schemas.task import RaiseTask, TaskSubject

__all__ = [
    "Address",
    "Carer",
    "Decision",
    "DecisionSubject",
    "PoliceIncident",
    "PolicePerson",
    "RaiseTask",
    "RegisterEvent",
    "RegisterSubject",
    "TaskSubject",
]
