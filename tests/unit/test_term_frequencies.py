"""Term frequencies: a common name agreeing weighs less than a rare one, and says so."""

from __future__ import annotations

from datetime import date

from streams.domain.matching.compare import Identity, compare_identities
from streams.domain.matching.frequencies import TermFrequencies

BORN = (date(1990, 3, 28),)
#: One carer in four is a Smith; the exact surname level's u is 1 in 128.
TABLE = TermFrequencies(
    u_exact={"family": 1 / 128, "given": 1 / 64}, values={"family": {"SMITH": 0.25}}
)


def test_a_common_surname_weighs_less_than_a_rare_one() -> None:
    smith = Identity(("Jane",), ("Smith",), BORN)
    okafor = Identity(("Jane",), ("Okafor",), BORN)
    common = compare_identities(smith, smith, frequencies=TABLE)
    rare = compare_identities(okafor, okafor, frequencies=TABLE)
    assert common.score < rare.score == compare_identities(okafor, okafor).score
    assert any("family name is common in the register (-5.0)" in w for w in common.evidence)
    assert not any("SMITH" in w.upper() for w in common.evidence)  # names fields, not values


def test_a_name_written_the_other_way_round_is_looked_up_as_the_field_it_agrees_with() -> None:
    written = Identity(("Smith",), ("Jane",), BORN)
    registered = Identity(("Jane",), ("Smith",), BORN)
    swapped = compare_identities(written, registered, frequencies=TABLE)
    assert any("family name is common" in w for w in swapped.evidence)


def test_namesakes_counted_in_the_register_are_not_taken_off_twice() -> None:
    police = Identity(("Jane",), ("Smith",), namesakes=4)
    found = compare_identities(police, Identity(("Jane",), ("Smith",)), frequencies=TABLE)
    assert any("carers of 4 families" in w for w in found.evidence)
    assert not any("common in the register" in w for w in found.evidence)
