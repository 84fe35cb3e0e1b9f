"""Incident kinds at the edges of scope: birthdays, pregnancies ending or not begun, moves."""

from __future__ import annotations

from datetime import date, timedelta

from connectors.simulate.clock import first_birthday
from connectors.simulate.model import Family, Subject, scope_interval
from connectors.simulate.names import pick
from connectors.simulate.police import Case, Named, Plan
from connectors.simulate.world import World

_ONE = timedelta(days=1)


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _always(family: Family) -> bool:
    return True


def _at_home(w: World, family: Family, day: date, kind: str, *, trap: bool = False) -> Case:
    """The carers in an incident at the family's home on `day`."""
    return Case(kind, [Plan(day, family.home_on(day), w.couple(family, day), trap)])


def _child(family: Family) -> Subject:
    return next(s for s in family.subjects if s.kind == "child")


def _unborn(family: Family) -> Subject:
    return next(s for s in family.subjects if s.kind == "unborn")


def _dob(subject: Subject) -> date:
    assert subject.dob is not None
    return subject.dob


def birthday_boundary(w: World) -> Case | None:
    """The eve of a first birthday (in scope), the birthday itself (not), or the day of birth."""
    window = w.window

    def birthday_in_window(family: Family) -> bool:
        return window.start <= first_birthday(_dob(_child(family))) < window.end

    def born_in_window(family: Family) -> bool:
        return window.start <= _dob(_child(family)) < window.end

    stories = ("child", "twins", "handover", "handover_no_end")
    variant = pick(w.rng, ("eve", "eve", "eve", "birthday", "birthday", "birth"))
    family = None
    if variant == "birth":  # a child followed from a pregnancy is judged as the child that day
        family = w.family(stories, born_in_window)
        variant = "birth" if family else "eve"
    elif w.rng.random() < 0.3:
        family = w.family(("leap",), _always)
    family = family or w.family(stories, birthday_in_window)
    if family is None:
        return None
    born = _dob(_child(family))
    day = {"eve": first_birthday(born) - _ONE, "birthday": first_birthday(born), "birth": born}
    return _at_home(w, family, day[variant], "birthday_boundary", trap=variant != "eve")


def pregnancy_lost(w: World) -> Case | None:
    """A pregnancy ended by loss or termination: in scope up to and on that day, not after."""
    family = w.family(("lost",), _always)
    if family is None:
        return None
    unborn = _unborn(family)
    assert unborn.end is not None
    end = unborn.end
    variant = pick(w.rng, ("next_day", "after", "after", "on", "before"))
    if variant == "next_day":
        return _at_home(w, family, end + _ONE, "pregnancy_lost", trap=True)
    day = {
        "after": lambda: w.day(end + _days(2), end + _days(60)),
        "on": lambda: end,
        "before": lambda: w.day(max(unborn.begin, end - _days(60)), end - _ONE),
    }[variant]()
    return _at_home(w, family, day, "pregnancy_lost")


def pregnancy_live_birth_handover(w: World) -> Case | None:
    """A pregnancy that ended in a live birth: its child follows it (or it is judged as one)."""
    family = None
    if w.rng.random() < 0.35:  # the rarer story: no child record follows the live birth
        family = w.family(("handover_no_child",), w.has_span)
    stories = ("handover", "handover_no_child", "handover_no_end")
    family = family or w.family(stories, w.has_span)
    if family is None:
        return None
    unborn = _unborn(family)
    kind = "pregnancy_live_birth_handover"
    if unborn.child is None:
        assert unborn.end is not None
        birthday = first_birthday(unborn.end)
        if w.rng.random() < 0.7:
            return _at_home(w, family, w.day(unborn.end, birthday - _ONE), kind)
        return _at_home(w, family, w.day(birthday, birthday + _days(60)), kind, trap=True)
    born = _dob(unborn.child)
    if w.rng.random() < 0.75:
        return _at_home(w, family, w.day(born + _ONE, first_birthday(born) - _ONE), kind)
    return _at_home(w, family, w.day(max(unborn.begin, born - _days(200)), born - _ONE), kind)


def no_end_recorded(w: World) -> Case | None:
    """A pregnancy with no recorded end: in scope until the eve of the EDD's first anniversary."""
    family = w.family(("no_end",), _always)
    if family is None:
        return None
    unborn = _unborn(family)
    assert unborn.edd is not None
    last = first_birthday(unborn.edd) - _ONE
    variant = pick(w.rng, ("overdue", "overdue", "last", "anniversary", "past"))
    day = {
        "overdue": w.day(unborn.edd, last),
        "last": last,
        "anniversary": last + _ONE,
        "past": w.day(last + _days(2), last + _days(60)),
    }[variant]
    return _at_home(w, family, day, "no_end_recorded", trap=variant == "anniversary")


def pregnancy_not_yet_begun(w: World) -> Case | None:
    """An incident before a registered pregnancy began (EDD less 280 days), or on that day."""
    family = w.family(("ongoing",), lambda f: _unborn(f).begin > w.window.start)
    if family is None:
        return None
    begin = _unborn(family).begin
    variant = pick(w.rng, ("before", "before", "eve", "first"))
    day = {
        "before": w.day(begin - _days(90), begin - _days(2)),
        "eve": begin - _ONE,
        "first": begin,
    }[variant]
    return _at_home(w, family, day, "pregnancy_not_yet_begun", trap=variant == "first")


def moved_away(w: World) -> Case | None:
    """A family that moved: its old home is not its home from the move, the new one is."""
    family = w.family(("moved",), _always)
    if family is None:
        return None
    (_, old), (moved, new) = family.homes[0], family.homes[1]
    child = _child(family)
    stop = scope_interval(child)[1] - _ONE
    variant = pick(w.rng, ("old_home_after", "new_home", "old_home_before", "old_occupant"))
    if variant == "new_home":
        day = w.day(moved, stop)
        if w.rng.random() < 0.5:
            return _at_home(w, family, day, "moved_away")
        visitors = [Named(w.stranger(day, "female"), "victim"), Named(w.stranger(day), "suspect")]
        return Case("moved_away", [Plan(day, new, visitors)])
    if variant == "old_home_before":
        day = w.day(max(_dob(child), moved - _days(120)), moved - _ONE)
        intruder = w.stranger(day, "male")
        persons = [Named(family.mother, "victim"), Named(intruder, "suspect")]
        return Case("moved_away", [Plan(day, old, persons)])
    day = w.day(moved, stop)
    occupant = w.stranger(day, "female", home=old)
    partner = w.stranger(day, "male", home=old)
    persons = [Named(occupant, "victim", address="home"), Named(partner, "suspect")]
    place = old if variant == "old_home_after" else w.gazetteer.public_place(w.rng)
    return Case("moved_away", [Plan(day, place, persons)])


def withdrawn(w: World) -> Case | None:
    """A subject withdrawn from the register: out of scope from the withdrawal's effective date."""
    family = w.family(("withdrawn",), _always)
    if family is None:
        return None
    child = _child(family)
    assert child.withdrawn is not None
    off = child.withdrawn
    variant = pick(w.rng, ("after", "on", "before"))
    day = {
        "after": w.day(off + _ONE, off + _days(60)),
        "on": off,
        "before": w.day(max(_dob(child), off - _days(90)), off - _ONE),
    }[variant]
    return _at_home(w, family, day, "withdrawn", trap=variant == "on")
