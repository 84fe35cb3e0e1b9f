"""Routing: each task goes to the case system of the council whose register holds the subject.

The default route (`case_system_url`, the MASH front door) takes tasks with no council
(police-report-only subjects), and tasks of a council with no route of its own: those are
never dropped, and the caller counts them as unrouted. A route's name is its council code,
or `default`; names are bounded by configuration, so they may label metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from streams.domain.ports.case_system import CaseSystem

#: The route name of `case_system_url` in metrics and logs; no council may be called this.
DEFAULT_ROUTE = "default"

UnroutedReason = Literal["unknown_council"]


@dataclass(frozen=True)
class Route:
    """One case system and the name it goes by in metrics and logs."""

    name: str
    case_system: CaseSystem
    timeout_s: float = 10.0


@dataclass(frozen=True)
class Routed:
    """Where a task goes and, when it fell back to the default route, why."""

    route: Route
    unrouted: UnroutedReason | None = None


class CaseSystemRouter:
    """One case system per council code, and the default for the rest."""

    def __init__(
        self, default: Route | CaseSystem, councils: Mapping[str, Route] | None = None
    ) -> None:
        self.default = default if isinstance(default, Route) else Route(DEFAULT_ROUTE, default)
        self.councils = dict(councils or {})

    def route(self, local_authority: str | None) -> Routed:
        """The route of a task whose subject's register is `local_authority`'s.

        With no council configured at all, every task goes to the default route and none
        counts as unrouted: that is a deployment with one front door, not a gap in the map.
        """
        if local_authority is None or not self.councils:
            return Routed(self.default)
        route = self.councils.get(local_authority)
        if route is None:
            return Routed(self.default, "unknown_council")
        return Routed(route)

    def routes(self) -> list[Route]:
        """Every route, the default first."""
        return [self.default, *self.councils.values()]

    async def aclose(self) -> None:
        """Release every case system's connections."""
        for route in self.routes():
            await route.case_system.aclose()
