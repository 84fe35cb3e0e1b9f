"""register-event/1 dicts for the simulator's families, built without validation for speed."""

from __future__ import annotations

from datetime import date
from random import Random
from typing import Any

from connectors.simulate.addresses import Dwelling, register_address
from connectors.simulate.model import Family, Subject
from connectors.simulate.names import uuid4

Event = dict[str, Any]


def head(rng: Random, source: str, kind: str) -> Event:
    """The fields every event has; `local_authority` and `recorded_at` are stamped later."""
    return {
        "schema": "register-event/1",
        "event_id": uuid4(rng),
        "source": source,
        "local_authority": None,
        "recorded_at": None,
        "type": kind,
    }


def carers(family: Family) -> list[Event]:
    """The register's carers of a family's subjects: the mother, and the father when known."""
    if not family.carer_dicts:
        family.carer_dicts = [
            {
                "person_ref": carer.ref,
                "relationship": relationship,
                "given_name": carer.given,
                "family_name": carer.family_name,
                "date_of_birth": carer.dob.isoformat(),
                "nhs_number": carer.nhs,
            }
            for carer, relationship in zip(family.carers, ("mother", "father"), strict=False)
        ]
    return [dict(carer) for carer in family.carer_dicts]


def pregnancy_registered(rng: Random, family: Family, unborn: Subject) -> Event:
    """Maternity registers a pregnancy with its expected date of delivery."""
    assert unborn.edd is not None
    event = head(rng, "maternity", "pregnancy_registered")
    event["subject"] = {
        "subject_ref": unborn.ref,
        "kind": "unborn",
        "expected_delivery_date": unborn.edd.isoformat(),
    }
    event["carers"] = carers(family)
    event["address"] = register_address(family.home_on(unborn.begin), rng)
    return event


def birth_registered(rng: Random, family: Family, child: Subject, from_ref: str | None) -> Event:
    """Child health registers a birth, naming the pregnancy it followed when there was one."""
    assert child.person is not None and child.dob is not None
    baby = child.person
    subject: Event = {
        "subject_ref": child.ref,
        "kind": "child",
        "given_name": baby.given,
        "family_name": baby.family_name,
        "date_of_birth": child.dob.isoformat(),
        "nhs_number": baby.nhs,
    }
    if from_ref is not None:
        subject["from_pregnancy_ref"] = from_ref
    event = head(rng, "child_health", "birth_registered")
    event["subject"] = subject
    event["carers"] = carers(family)
    event["address"] = register_address(family.home_on(child.dob), rng)
    return event


def pregnancy_ended(rng: Random, unborn: Subject) -> Event:
    """Maternity records how and when a pregnancy ended."""
    assert unborn.end is not None
    event = head(rng, "maternity", "pregnancy_ended")
    event["effective_date"] = unborn.end.isoformat()
    event["subject"] = {"subject_ref": unborn.ref, "kind": "unborn"}
    event["outcome"] = unborn.outcome
    return event


def subject_changed(
    rng: Random, subject: Subject, kind: str, day: date, home: Dwelling | None = None
) -> Event:
    """A move (with the new `home`) or a withdrawal, effective on `day`."""
    source = "childrens_services" if kind == "subject_withdrawn" else "child_health"
    event = head(rng, source, kind)
    event["effective_date"] = day.isoformat()
    event["subject"] = {"subject_ref": subject.ref, "kind": subject.kind}
    if home is not None:
        event["address"] = register_address(home, rng)
    return event
