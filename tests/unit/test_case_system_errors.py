"""What every HTTP adapter makes of a server that is down or busy: the same retryable errors.

The mapping is written once (`connectors/case_system/errors.py`); this checks that both the
json and the FHIR adapter go through it, on `httpx.MockTransport`.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from connectors.case_system.fhir import FhirCaseSystem
from connectors.case_system.http import HttpCaseSystem
from streams.domain.ports.case_system import CaseSystem, CaseSystemUnavailable
from tests.support.samples import sample_raise_task

CMD = sample_raise_task()
Adapter = Callable[[httpx.MockTransport], CaseSystem]
ADAPTERS: dict[str, Adapter] = {
    "json": lambda transport: HttpCaseSystem("http://case.test", transport=transport),
    "fhir": lambda transport: FhirCaseSystem("http://fhir.test/R4", transport=transport),
}


def answering(status: int, **headers: str) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, headers=headers))


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_unavailable(adapter: str, status: int) -> None:
    with pytest.raises(CaseSystemUnavailable) as caught:
        await ADAPTERS[adapter](answering(status)).raise_task(CMD)
    assert caught.value.kind == "5xx"


@pytest.mark.parametrize("adapter", ADAPTERS)
async def test_429_is_unavailable_with_retry_after(adapter: str) -> None:
    with pytest.raises(CaseSystemUnavailable) as caught:
        await ADAPTERS[adapter](answering(429, **{"Retry-After": "7"})).raise_task(CMD)
    assert (caught.value.kind, caught.value.retry_after) == ("429", 7.0)


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ReadTimeout("read timed out"), "timeout"),
        (httpx.ConnectTimeout("connect timed out"), "timeout"),
        (httpx.ConnectError("connection refused"), "connect"),
        (httpx.RemoteProtocolError("server disconnected"), "connect"),
    ],
)
async def test_transport_failures_are_unavailable(
    adapter: str, error: httpx.TransportError, kind: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(CaseSystemUnavailable) as caught:
        await ADAPTERS[adapter](httpx.MockTransport(fail)).raise_task(CMD)
    assert caught.value.kind == kind
