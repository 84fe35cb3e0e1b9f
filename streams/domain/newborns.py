"""A child born after the incident day, on its pregnancy's task, told once; pure.

A child born after the incident is out of scope (not yet born on the day) and
its pregnancy still in scope (not yet ended), so a decision names the pregnancy
and not the child, and `streams.domain.births.carriers` never sees the child.
`unnamed_births` carries every such child of a pregnancy whose task the decision
names on that task (twins too: neither has a task of its own to go to), and
`streams.domain.births.onto_tasks` then shows the child on it. `birth_news` says
which births a task has not been told yet, or was told in other words (a
corrected date of birth), from the incident state's `births`; a child carried in
a state written before `births` was kept was told already.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from schemas.decision import Decision
from streams.domain.births import carried_words, carriers, record_of, task_of, task_outcomes
from streams.domain.register.index import RegisterIndex, RegisterView
from streams.domain.register.records import SubjectRecord
from streams.domain.tasks import subject_key


def _children_of(register: RegisterView, pregnancy_ref: str) -> list[SubjectRecord]:
    """Every child the register links to a pregnancy (twins too, where the index knows them)."""
    if isinstance(register, RegisterIndex):
        records = [register.get(ref) for ref in register.family(pregnancy_ref)]
    else:
        records = [register.child_of_pregnancy(pregnancy_ref)]
    return [r for r in records if r and r.kind == "child" and r.from_pregnancy_ref == pregnancy_ref]


def unnamed_births(
    decision: Decision, register: RegisterView, tasks: Iterable[str], carried: Mapping[str, str]
) -> dict[str, str]:
    """`carried` with each child of a pregnancy whose task is named in `tasks` that the decision
    does not name (born after the incident) carried on that task: every such child, twins too."""
    named = {subject_key(s) for s in decision.subjects if s.outcome is not None}
    tasks, result = set(tasks), dict(carried)
    for key in sorted({*tasks, *carried}):
        record, task = record_of(register, key), task_of(key, carried)
        if record is None or record.kind != "unborn" or task not in tasks:
            continue
        for child in _children_of(register, record.subject_ref):
            child_key = f"subject:{child.subject_ref}"
            if child_key not in named and child_key not in tasks:
                result.setdefault(child_key, task)
    return result


def decided_carriers(
    decision: Decision,
    register: RegisterView,
    raised: Iterable[str],
    carried: Mapping[str, str],
    covered: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`carriers` for a decided revision, with each child born after the incident of a pregnancy
    whose task it names (`unnamed_births`): a birth the register knew before the police."""
    links = carriers(decision, register, raised, carried, covered)
    return unnamed_births(decision, register, task_outcomes(decision, links), links)


def birth_news(
    register: RegisterView,
    carried: Mapping[str, str],
    before: Mapping[str, str],
    told: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """The births carried on a task that are news to it (child key to its words), and what the
    tasks have now been told (the incident state's `births`).

    News: a child newly carried, or one whose words differ from those told (a corrected date
    of birth). A child carried before `told` was kept (an older state) was told already.
    """
    news, now_told = {}, {}
    for key, task in sorted(carried.items()):
        record = record_of(register, key)
        words = " ".join(carried_words(register, key, task))
        if record is None or record.kind != "child" or not words:
            continue
        now_told[key] = words
        if told.get(key, words if key in before else None) != words:
            news[key] = words
    return news, now_told
