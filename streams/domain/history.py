"""What ties one task to earlier ones: the same family, or the same dwelling; pure.

A duty worker deciding on a task needs the family's recent history: earlier
incidents dvtrigger has raised tasks for, for the same family or at the same
dwelling, with their tasks and outcomes. Each task is filed under keys; two
tasks that share a key are history of each other.

- **Family**: the subject's register ref, each carer's register ref (a mother's
  ref is the same on her pregnancy and on the child it became), and each adult
  in the incident known by whole name and date of birth (a police-report task
  has no register refs).
- **Dwelling**: the UPRN, or the postcode with the flat and building (the
  dwelling as `DwellingParts` reads it, whatever the address's form), of the
  subject's home and of the incident's location.

Keys are hashed: they sit in an index beside the task, and a key of a name and
a date of birth is personal data. A shared hash is only a candidate; nothing
is decided on it, it is shown to a person.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from schemas.shared import Address
from schemas.task import RaiseTask
from streams.domain.matching.normalise import dwelling_parts, name_key, postcode_key

Kind = Literal["family", "dwelling"]
#: How far back history reaches: the issue's twelve months, as days.
HISTORY_DAYS = 365


def task_keys(task: RaiseTask) -> frozenset[tuple[Kind, str]]:
    """The hashed keys a task is filed under, each with what it ties: family or dwelling."""
    family = [*_register_refs(task), *_named_adults(task)]
    dwelling = [key for a in (task.subject.address, task.incident.location) for key in _place(a)]
    keys: set[tuple[Kind, str]] = {("family", _hash(k)) for k in family}
    keys.update(("dwelling", _hash(k)) for k in dwelling)
    return frozenset(keys)


def _register_refs(task: RaiseTask) -> Iterable[str]:
    subject = task.subject
    if subject.subject_ref:
        yield f"subject:{subject.subject_ref}"
    for carer in subject.carers:
        yield f"carer:{carer.person_ref}"


def _named_adults(task: RaiseTask) -> Iterable[str]:
    for person in task.incident.persons:
        given, family = name_key(person.given_name), name_key(person.family_name)
        if person.role != "child" and given and family and person.date_of_birth:
            yield f"person:{given}|{family}|{person.date_of_birth.isoformat()}"


def _place(address: Address | None) -> Iterable[str]:
    if address is None:
        return
    if address.uprn:
        yield f"uprn:{address.uprn}"
    parts = dwelling_parts(address)
    postcode = postcode_key(address.postcode) or parts.postcode
    if postcode and parts.dwelling_key and not parts.approximate:
        yield f"dwelling:{postcode}|{parts.dwelling_key}"


def _hash(key: str) -> str:
    """A key as the index holds it."""
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
