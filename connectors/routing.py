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

from connectors.case_system import CaseSystem, HttpCaseSystem
from streams.settings import DEFAULT_ROUTE, Settings

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


def router_from_settings(settings: Settings) -> CaseSystemRouter:
    """An HTTP case system for `case_system_url` and for each council in `case_systems`."""
    default = Route(
        DEFAULT_ROUTE,
        HttpCaseSystem(
            settings.case_system_url,
            timeout=settings.case_system_timeout_s,
            token=settings.case_system_token,
        ),
        settings.case_system_timeout_s,
    )
    councils: dict[str, Route] = {}
    for code, config in settings.case_systems.items():
        timeout = config.timeout_s or settings.case_system_timeout_s
        client = HttpCaseSystem(config.url, timeout=timeout, token=config.token)
        councils[code] = Route(code, client, timeout)
    return CaseSystemRouter(default, councils)
