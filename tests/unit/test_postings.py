"""Packed postings behave like a plain dict of sets, whatever the memtable, runs and merges do."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.domain.register import postings as postings_module
from streams.domain.register.postings import PackedPostings, RegisterFull

REFS = [f"S{i}" for i in range(12)]
HASHES = st.lists(st.integers(-5, 5), max_size=6)
#: (ref, hashes) files the ref under those hashes; (ref, None) discards it.
OPS = st.lists(st.tuples(st.sampled_from(REFS), st.one_of(st.none(), HASHES)), max_size=80)


def model_of(ops: list[tuple[str, list[int] | None]]) -> dict[str, set[int]]:
    """What each ref is filed under after `ops`, worked out the plain way."""
    filed: dict[str, set[int]] = {}
    for ref, hashes in ops:
        if hashes is None:
            filed.pop(ref, None)
        else:
            filed[ref] = set(hashes)
    return filed


def replay(ops: list[tuple[str, list[int] | None]], memtable: int) -> PackedPostings:
    """Postings after `ops`; each ref's value is its ref and the op's position."""
    postings = PackedPostings(memtable)
    for i, (ref, hashes) in enumerate(ops):
        if hashes is None:
            postings.discard(ref)
        else:
            postings.file(ref, hashes, f"{ref}#{i}".encode())
    return postings


@settings(max_examples=300)
@given(OPS, st.integers(1, 5), st.booleans())
def test_lookup_agrees_with_a_plain_model(
    ops: list[tuple[str, list[int] | None]], memtable: int, compact: bool
) -> None:
    postings = replay(ops, memtable)
    if compact:
        postings.compact()
    model = model_of(ops)
    hashes = list(range(-6, 7))
    found = postings.lookup(hashes)
    for h, refs in zip(hashes, found, strict=True):
        assert sorted(refs) == sorted(r for r, filed in model.items() if h in filed)
    assert len(postings) == len(model)
    assert postings.postings == sum(len(filed) for filed in model.values())
    last = {ref: i for i, (ref, hashes) in enumerate(ops) if hashes is not None}
    for ref in REFS:
        expected = f"{ref}#{last[ref]}".encode() if ref in model else None
        assert postings.get(ref) == expected
    assert dict(postings.items()) == {ref: f"{ref}#{last[ref]}".encode() for ref in model}


def test_a_refiled_ref_leaves_its_old_keys_even_once_sorted_into_runs() -> None:
    postings = PackedPostings(memtable_records=1)  # every record goes straight into a run
    postings.file("S1", [1, 2], b"v1")
    postings.file("S2", [2], b"v2")
    postings.file("S1", [3], b"v3")
    assert postings.lookup([1, 2, 3]) == [[], ["S2"], ["S1"]]
    assert postings.get("S1") == b"v3"


def test_runs_stay_few_as_the_register_grows() -> None:
    postings = PackedPostings(memtable_records=4)
    for i in range(4096):
        postings.file(f"S{i}", [i, i % 7], b"")
    assert postings.runs <= 12  # about log2(4096 / 4) + 1
    assert len(postings.lookup([3])[0]) == 585  # i % 7 == 3 for 585 refs, S3 among them
    postings.compact()
    assert postings.runs == 1


def test_record_numbers_are_dealt_again_once_dead_ones_pile_up() -> None:
    postings = PackedPostings(memtable_records=3)
    for round_ in range(400):
        postings.file(f"S{round_ % 5}", [round_ % 5, -1], f"{round_}".encode())
    assert len(postings._refs) < 400  # not one number per version ever filed
    postings.compact()
    assert len(postings._refs) == 5
    assert postings.lookup([-1, 2]) == [[f"S{i}" for i in range(5)], ["S2"]]
    assert postings.get("S4") == b"399"


def test_a_full_register_is_refused_not_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postings_module, "MAX_NUMBERS", 4)
    postings = PackedPostings()
    for i in range(4):
        postings.file(f"S{i}", [i], b"")
    postings.file("S0", [9], b"")  # a change: the numbers are dealt again, so it fits
    assert postings.lookup([9, 0]) == [["S0"], []]
    with pytest.raises(RegisterFull):
        postings.file("S4", [4], b"")


def test_dead_postings_are_dropped_when_they_pile_up() -> None:
    postings = PackedPostings(memtable_records=2)
    for round_ in range(50):
        for i in range(8):
            postings.file(f"S{i}", [i, 100 + round_], b"")
    held = sum(len(run) for run in postings._runs)
    assert held <= postings.postings * 2  # not 50 rounds of dead postings
    assert postings.lookup([149, 148]) == [[f"S{i}" for i in range(8)], []]
