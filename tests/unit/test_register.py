"""Register events fold into one record per subject; the index finds subjects by blocking key."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Any

from schemas.police import PoliceIncident
from schemas.register import RegisterEvent
from schemas.shared import Address
from streams.domain.matching.blocking import record_keys
from streams.domain.register.index import RegisterIndex
from streams.domain.register.records import (
    AddressSpan,
    SubjectRecord,
    apply_event,
    unknown_subject,
)

HOME = {
    "uprn": "100",
    "lines": ["Flat 6", "286 Nightingale Lane"],
    "town": "London",
    "postcode": "N2 5UY",
}
NEW_HOME = {"uprn": None, "lines": ["212 Black Boy Lane"], "town": "London", "postcode": "N2 8TN"}
MOTHER = {
    "person_ref": "H1",
    "relationship": "mother",
    "given_name": "Gabriela",
    "family_name": "Nguyen",
    "date_of_birth": "1998-01-02",
    "nhs_number": None,
}


def event(
    ref: str, type_: str, recorded: str = "2026-01-02T10:00:00+00:00", **kw: Any
) -> RegisterEvent:
    """A register event, parsed from JSON as the feed sends it."""
    body: dict[str, Any] = {
        "schema": "register-event/1",
        "event_id": kw.pop("event_id", str(uuid.uuid4())),
        "source": "maternity",
        "local_authority": kw.pop("local_authority", "E09000014"),
        "recorded_at": recorded,
        "type": type_,
        "subject": {"subject_ref": ref, "kind": kw.pop("kind", "unborn"), **kw.pop("subject", {})},
        **kw,
    }
    return RegisterEvent.model_validate_json(json.dumps(body))


def fold(*events: RegisterEvent) -> SubjectRecord:
    """The record the events make, applied in order."""
    record = None
    for e in events:
        record = apply_event(record, e)
    assert record is not None
    return record


def registered(ref: str = "U1", **kw: Any) -> RegisterEvent:
    """A pregnancy registered at HOME with its mother."""
    kw.setdefault("subject", {"expected_delivery_date": "2026-06-01"})
    return event(ref, "pregnancy_registered", carers=[MOTHER], address=HOME, **kw)


def test_pregnancy_registered_makes_a_record() -> None:
    record = fold(registered())
    assert record.subject_ref == "U1"
    assert record.kind == "unborn"
    assert record.expected_delivery_date == date(2026, 6, 1)
    assert record.local_authority == "E09000014"
    assert record.registered_on == date(2026, 1, 2)
    assert record.address_on(date(2026, 3, 1)) is not None
    assert [c.person_ref for c in record.carers] == ["H1"]
    assert record.carers[0].relationship == "mother"


def test_same_event_twice_changes_nothing() -> None:
    first = registered()
    moved = event("U1", "subject_moved", effective_date="2026-03-01", address=NEW_HOME)
    once = fold(first, moved)
    assert fold(first, moved, moved, first) == once
    assert once.event_ids == (first.event_id, moved.event_id)


def test_last_event_is_the_latest_recorded() -> None:
    first = registered()
    later = event("U1", "subject_moved", "2026-04-01T09:00:00+01:00", address=NEW_HOME)
    record = fold(first, later)
    assert record.last_event_id == later.event_id
    assert record.last_recorded_at == later.recorded_at
    late_arrival = event("U1", "subject_moved", "2026-02-01T09:00:00+00:00", address=HOME)
    assert apply_event(record, late_arrival).last_event_id == later.event_id


def test_move_changes_the_address_from_its_effective_date() -> None:
    record = fold(
        registered(),
        event(
            "U1",
            "subject_moved",
            "2026-03-09T12:00:00+00:00",
            effective_date="2026-03-01",
            address=NEW_HOME,
        ),
    )
    assert record.address_on(date(2026, 2, 28)) is not None
    assert record.address_on(date(2026, 2, 28)).lines == tuple(HOME["lines"])  # type: ignore[union-attr]
    assert record.address_on(date(2026, 3, 1)).lines == tuple(NEW_HOME["lines"])  # type: ignore[union-attr]
    # before the first known address, the earliest one counts
    assert record.address_on(date(2025, 1, 1)).lines == tuple(HOME["lines"])  # type: ignore[union-attr]


def test_moves_arriving_out_of_order_keep_date_order() -> None:
    late = event("U1", "subject_moved", effective_date="2026-05-01", address=HOME)
    early = event("U1", "subject_moved", effective_date="2026-03-01", address=NEW_HOME)
    record = fold(registered(), late, early)
    assert [s.effective_from for s in record.addresses] == [
        date(2026, 1, 2),
        date(2026, 3, 1),
        date(2026, 5, 1),
    ]
    assert record.address_on(date(2026, 4, 1)).lines == tuple(NEW_HOME["lines"])  # type: ignore[union-attr]


def test_carers_merge_by_person_ref_keeping_every_spelling() -> None:
    renamed = {**MOTHER, "family_name": "Rahman", "date_of_birth": None, "nhs_number": "9434765919"}
    partner = {"person_ref": "H2", "relationship": "father", "given_name": "Vikram"}
    born = event(
        "C1",
        "birth_registered",
        kind="child",
        subject={"date_of_birth": "2026-05-30", "from_pregnancy_ref": "U1"},
        carers=[renamed, partner],
        address=HOME,
    )
    record = fold(
        event("C1", "birth_registered", kind="child", carers=[MOTHER], address=HOME), born
    )
    mother = next(c for c in record.carers if c.person_ref == "H1")
    assert mother.family_names == ("Nguyen", "Rahman")
    assert mother.given_names == ("Gabriela",)
    assert mother.dates_of_birth == (date(1998, 1, 2),)
    assert mother.nhs_numbers == ("9434765919",)
    assert {c.person_ref for c in record.carers} == {"H1", "H2"}
    assert record.from_pregnancy_ref == "U1"
    assert record.date_of_birth == date(2026, 5, 30)


def test_a_subject_once_born_stays_a_child() -> None:
    born = event("U1", "birth_registered", kind="child", subject={"date_of_birth": "2026-05-30"})
    late_end = event("U1", "pregnancy_ended", effective_date="2026-05-30", outcome="live_birth")
    assert fold(registered(), born, late_end).kind == "child"


def test_end_and_withdrawal_dates() -> None:
    ended = event("U1", "pregnancy_ended", effective_date="2026-02-10", outcome="loss")
    record = fold(registered(), ended)
    assert record.pregnancy_end is not None
    assert (record.pregnancy_end.on, record.pregnancy_end.outcome) == (date(2026, 2, 10), "loss")
    gone = event("U1", "subject_withdrawn", "2026-03-05T12:00:00+00:00")
    assert fold(registered(), gone).withdrawn_on == date(2026, 3, 5)  # defaults to recorded_at


def test_only_a_registration_brings_a_subject_the_register_does_not_hold() -> None:
    born = event("C1", "birth_registered", kind="child", subject={"date_of_birth": "2026-05-30"})
    changes = [
        event("U1", "subject_moved", effective_date="2026-03-01", address=NEW_HOME),
        event("U1", "pregnancy_ended", effective_date="2026-02-10", outcome="loss"),
        event("U1", "subject_withdrawn"),
    ]
    assert not unknown_subject(None, registered()) and not unknown_subject(None, born)
    assert all(unknown_subject(None, change) for change in changes)
    assert not any(unknown_subject(fold(registered()), change) for change in changes)


def test_effective_date_defaults_to_the_london_date_of_recorded_at() -> None:
    late_evening = event("U1", "subject_withdrawn", "2026-06-30T23:30:00+00:00")
    assert fold(registered(), late_evening).withdrawn_on == date(2026, 7, 1)  # BST
    winter = event("U1", "subject_withdrawn", "2026-01-30T23:30:00+00:00")
    assert fold(registered(), winter).withdrawn_on == date(2026, 1, 30)


def test_null_fields_keep_what_was_known() -> None:
    record = fold(
        registered(), event("U1", "pregnancy_ended", outcome="live_birth", local_authority=None)
    )
    assert record.expected_delivery_date == date(2026, 6, 1)
    assert record.local_authority == "E09000014"


def test_record_round_trips_through_json() -> None:
    record = fold(
        registered(),
        event("U1", "subject_moved", effective_date="2026-03-01", address=NEW_HOME),
        event("U1", "pregnancy_ended", effective_date="2026-05-28", outcome="live_birth"),
    )
    assert SubjectRecord.model_validate_json(record.model_dump_json()) == record


def incident(location: dict[str, Any], *persons: dict[str, Any]) -> PoliceIncident:
    """An incident at a location with the given persons."""
    body = {
        "schema": "police-incident/1",
        "notification_id": str(uuid.uuid4()),
        "incident_id": "MPS-1",
        "force": "MPS",
        "revision": 1,
        "occurred_at": "2026-03-01T10:00:00+00:00",
        "reported_at": "2026-03-01T11:00:00+00:00",
        "location": location,
        "dash_risk": "standard",
        "persons": list(persons) or [{"person_ref": "P1", "role": "victim"}],
    }
    return PoliceIncident.model_validate_json(json.dumps(body))


ELSEWHERE = {"lines": ["bus stop, West Green Road"], "postcode": None}


def test_index_lookups_and_counts() -> None:
    index = RegisterIndex([fold(registered("U1")), fold(registered("U2"))])
    child = fold(
        event("C1", "birth_registered", kind="child", subject={"from_pregnancy_ref": "U1"})
    )
    index.upsert(child)
    assert len(index) == 3
    assert index.counts_by_kind() == {"unborn": 2, "child": 1}
    assert index.get("U2") is not None
    assert index.child_of_pregnancy("U1") == child
    assert index.child_of_pregnancy("U2") is None
    index.remove("C1")
    index.remove("nobody")
    assert index.child_of_pregnancy("U1") is None
    assert len(index) == 2


def test_candidates_by_dwelling_uprn_and_carer_keys() -> None:
    index = RegisterIndex([fold(registered("U1"))])
    at_home = incident({"lines": ["6 286 Nightingale Ln"], "postcode": None})
    by_uprn = incident({"uprn": "100", "lines": ["somewhere"], "postcode": None})
    mother = {
        "person_ref": "P1",
        "role": "victim",
        "given_name": "GABRIELA",
        "family_name": "NGUYEN",
    }
    by_name = incident(ELSEWHERE, mother)
    typo = {**mother, "given_name": "Gabriella"}
    by_dob = incident(  # a date of birth and a given name, the family name another's
        ELSEWHERE,
        {
            "person_ref": "P1",
            "role": "victim",
            "given_name": "Gabriela",
            "family_name": "Smith",
            "date_of_birth": "1998-01-02",
        },
    )
    for found in (at_home, by_uprn, by_name, incident(ELSEWHERE, typo), by_dob):
        assert [r.subject_ref for r in index.candidates(found)] == ["U1"]
    stranger = {"person_ref": "P1", "role": "victim", "given_name": "Ann", "family_name": "Lee"}
    assert index.candidates(incident(ELSEWHERE, stranger)) == []


def test_witness_keys_never_make_candidates() -> None:
    index = RegisterIndex([fold(registered("U1"))])
    witness = {
        "person_ref": "P3",
        "role": "witness",
        "given_name": "Gabriela",
        "family_name": "Nguyen",
    }
    assert (
        index.candidates(incident(ELSEWHERE, {"person_ref": "P1", "role": "victim"}, witness)) == []
    )


def test_candidates_bring_the_linked_pregnancy_and_child() -> None:
    pregnancy = fold(registered("U1"))
    child = fold(
        event(
            "C1",
            "birth_registered",
            kind="child",
            subject={"from_pregnancy_ref": "U1"},
            address=NEW_HOME,
        )
    )
    index = RegisterIndex([pregnancy, child])
    mother = {
        "person_ref": "P1",
        "role": "victim",
        "given_name": "Gabriela",
        "family_name": "Nguyen",
    }
    assert [r.subject_ref for r in index.candidates(incident(ELSEWHERE, mother))] == ["C1", "U1"]


def test_upsert_of_a_changed_record_drops_stale_keys() -> None:
    before = fold(registered("U1"))
    after = apply_event(
        before, event("U1", "subject_moved", effective_date="2026-03-01", address=NEW_HOME)
    )
    index = RegisterIndex([before])
    assert index.refs_for_key("building:212 BLACK BOY LANE") == frozenset()
    index.upsert(after)
    assert index.refs_for_key("building:212 BLACK BOY LANE") == {"U1"}
    dropped = after.model_copy(update={"addresses": after.addresses[1:], "carers": ()})
    index.upsert(dropped)
    assert index.refs_for_key("building:286 NIGHTINGALE LANE") == frozenset()
    assert index.refs_for_key("uprn:100") == frozenset()
    person_prefixes = ("np:", "ng:", "fy:", "gy:", "fi:", "gi:", "dob:", "dn:", "sy:", "nhs:")
    assert not any(key.startswith(person_prefixes) for key in record_keys(dropped))
    assert all(index.refs_for_key(key) == {"U1"} for key in record_keys(dropped))


def test_the_register_holds_addresses_compactly_and_gives_the_contracts_back() -> None:
    from streams.domain.register.records import Place

    address = Address.model_validate({**HOME, "uprn": "100"})
    place = Place.of(address)
    assert place.to_address() == address
    assert Place.of(place) is place
    span = AddressSpan(effective_from=date(2026, 1, 1), address=address)  # type: ignore[arg-type]
    assert isinstance(span.address, Place)
    record = SubjectRecord(subject_ref="U1", kind="unborn", addresses=(span,))
    again = SubjectRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert json.loads(record.model_dump_json())["addresses"][0]["address"]["lines"] == HOME["lines"]
