"""dvtrigger's own deterministic synthetic data: register, police incidents and truth labels.

Every name, date, address and number is invented here from a seeded `random.Random`.
`simulate` builds a labelled scenario covering each clause of the trigger semantics;
`iter_register_events` streams a register of any size; `iter_demo` feeds the demo,
`iter_demo_on` and `retimed` the live one of `make run`.
"""

from connectors.simulate.command import main
from connectors.simulate.kinds import KINDS
from connectors.simulate.scenario import DEFAULT_START, Scenario, simulate, write_scenario
from connectors.simulate.stream import (
    INCIDENT,
    REGISTER,
    iter_demo,
    iter_demo_on,
    iter_register_events,
    iter_register_lines,
    retimed,
    write_register,
)

__all__ = [
    "DEFAULT_START",
    "INCIDENT",
    "KINDS",
    "REGISTER",
    "Scenario",
    "iter_demo",
    "iter_demo_on",
    "iter_register_events",
    "iter_register_lines",
    "main",
    "retimed",
    "simulate",
    "write_register",
    "write_scenario",
]
