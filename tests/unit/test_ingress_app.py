"""The ingress app over its ASGI interface, on a sink in memory: every answer it gives."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.ingress.app import H_FORCE, create_app
from connectors.ingress.metrics import IngressMetrics
from connectors.ingress.openapi import PATH
from connectors.ingress.sink import MemorySink
from streams.config.ingress import IngressSettings
from streams.config.settings import Settings
from streams.config.topics import H_REASON, H_REASON_CLASS, H_SOURCE_TOPIC
from streams.domain.parsing import parse_incident
from tests.support.fakes import fake_event, make_worker
from tests.support.ingress import (
    API_KEYS,
    AUDIENCE,
    ISSUER,
    Issuer,
    incident_bytes,
    key_hashes,
)

CANARY = "Zebedee-Canary-7731"
JSON = {"content-type": "application/json"}


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings(**ingress: Any) -> Settings:
    values: dict[str, Any] = {"api_key_hashes": key_hashes(), **ingress}
    return Settings(topic_prefix="t.", ingress=IngressSettings(**values))


class Harness:
    def __init__(self, **ingress: Any) -> None:
        self.sink = MemorySink()
        self.metrics = IngressMetrics(CollectorRegistry())
        self.clock = Clock()
        self.settings = settings(**ingress)
        app = create_app(self.settings, self.sink, metrics=self.metrics, clock=self.clock)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://ingress"
        )

    async def post(
        self, body: Any, force: str | None = "MPS", headers: dict[str, str] | None = None
    ) -> httpx.Response:
        sent = {**JSON, **({"x-api-key": API_KEYS[force]} if force else {}), **(headers or {})}
        return await self.client.post(PATH, content=body, headers=sent)

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
def ingress() -> Harness:
    return Harness()


async def test_a_valid_notification_is_written_keyed_by_incident_then_answered_202(
    ingress: Harness,
) -> None:
    body = incident_bytes("MPS", 3)
    response = await ingress.post(body)
    assert response.status_code == 202
    answer = response.json()
    receipt = answer.pop("receipt")
    assert answer == {
        "status": "accepted",
        "notification_id": json.loads(body)["notification_id"],
        "incident_id": "MPS-2026-000003",
    }
    [record] = ingress.sink.of("t.police-incidents")
    assert (record.key, record.value) == (b"MPS-2026-000003", body)
    headers = dict(record.headers)
    assert headers[H_FORCE] == b"MPS"
    # The worker reading the record sends the very receipt the force was answered with.
    assert (receipt["stage"], receipt["channel"], receipt["force"]) == (
        "received",
        "ingress",
        "MPS",
    )
    w = make_worker()
    read = SimpleNamespace(**vars(fake_event(body, key=record.key)), headers=record.headers)
    await w.ingest.handle_batch([read])
    assert json.loads(w.topics.receipts.sent[0].value or b"") == receipt
    assert ingress.sink.of("t.receipts") == []  # received: the worker's to send
    assert ingress.sample("dvtrigger_ingress_accepted_total", force="MPS") == 1


async def test_no_credential_is_401_before_any_of_the_body_is_read(ingress: Harness) -> None:
    pulled = []

    async def body() -> AsyncIterator[bytes]:
        pulled.append(1)
        yield incident_bytes()

    response = await ingress.post(body(), force=None)
    assert response.status_code == 401
    assert "WWW-Authenticate" in response.headers
    assert pulled == []
    assert ingress.sink.records == []
    assert ingress.sample("dvtrigger_ingress_refused_total", reason="unauthenticated") == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "dvt_not-a-key-anyone-has"},
        {"authorization": "Bearer not.a.token"},  # no OAuth2 configured
        {"authorization": "Basic bXBzOmtleQ=="},
    ],
)
async def test_a_wrong_credential_is_401_and_never_dead_lettered(
    ingress: Harness, headers: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    response = await ingress.post(b"{not json", force=None, headers=headers)
    assert response.status_code == 401
    assert ingress.sink.records == []
    secret = next(iter(headers.values())).split(" ")[-1]
    assert secret not in caplog.text and secret not in response.text


async def test_a_force_may_publish_only_under_its_own_code(ingress: Harness) -> None:
    response = await ingress.post(incident_bytes("GMP"), force="MPS")
    assert response.status_code == 403
    assert ingress.sink.records == []
    assert (await ingress.post(incident_bytes("GMP"), force="GMP")).status_code == 202


async def test_an_invalid_body_is_422_naming_the_field_without_its_value_and_dead_lettered(
    ingress: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    incident = json.loads(incident_bytes())
    incident["persons"][0]["role"] = CANARY
    body = json.dumps(incident).encode()
    response = await ingress.post(body)
    assert response.status_code == 422
    assert "persons.0.role" in response.json()["reason"]
    assert response.json()["reason_class"] == "schema"
    assert CANARY not in response.text and CANARY not in caplog.text
    assert ingress.sink.of("t.police-incidents") == []
    [letter] = ingress.sink.of("t.dead-letter")
    headers = dict(letter.headers)
    assert letter.value == body
    assert headers[H_SOURCE_TOPIC] == b"t.police-incidents"
    assert headers[H_REASON_CLASS] == b"schema"
    assert CANARY.encode() not in headers[H_REASON]
    assert ingress.sample("dvtrigger_ingress_dead_lettered_total", reason="schema") == 1
    [receipt] = ingress.sink.of("t.receipts")  # the worker never sees it: the ingress receipts it
    assert receipt.key == b"MPS-2026-000001"
    assert json.loads(receipt.value) == response.json()["receipt"]
    assert response.json()["receipt"]["stage"] == "rejected"
    assert CANARY.encode() not in receipt.value


@pytest.mark.parametrize(("body", "reason_class"), [(b"", "empty"), (b"{nope", "not_json")])
async def test_empty_or_broken_json_is_422_with_its_reason_class(
    ingress: Harness, body: bytes, reason_class: str
) -> None:
    response = await ingress.post(body)
    assert (response.status_code, response.json()["reason_class"]) == (422, reason_class)


async def test_a_body_over_the_limit_is_refused_while_it_streams(ingress: Harness) -> None:
    pulled = []

    async def body() -> AsyncIterator[bytes]:
        for _ in range(100):  # 6.4 MB offered, without a Content-Length
            pulled.append(1)
            yield b" " * 65536

    response = await ingress.post(body())
    assert response.status_code == 413
    assert len(pulled) < 100
    assert ingress.sink.records == []


async def test_a_declared_length_over_the_limit_is_413_at_once(ingress: Harness) -> None:
    response = await ingress.post(b" " * (256 * 1024 + 1))
    assert response.status_code == 413
    assert ingress.sample("dvtrigger_ingress_refused_total", reason="too_large") == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", ""])
async def test_a_body_that_is_not_json_by_media_type_is_415(
    ingress: Harness, content_type: str
) -> None:
    response = await ingress.post(incident_bytes(), headers={"content-type": content_type})
    assert response.status_code == 415


async def test_over_the_rate_a_force_gets_429_with_retry_after_and_others_do_not() -> None:
    ingress = Harness(rate_per_s=0.5, burst=2)
    codes = [(await ingress.post(incident_bytes("MPS", n))).status_code for n in (1, 2, 3)]
    assert codes == [202, 202, 429]
    refused = await ingress.post(incident_bytes("MPS", 4))
    assert refused.headers["Retry-After"] == "2"
    assert (await ingress.post(incident_bytes("GMP"), force="GMP")).status_code == 202
    ingress.clock.now += 2.0
    assert (await ingress.post(incident_bytes("MPS", 5))).status_code == 202
    assert ingress.sample("dvtrigger_ingress_rate_limited_total", force="MPS") == 2


async def test_a_broker_that_is_down_is_503_with_retry_after_and_nothing_written(
    ingress: Harness,
) -> None:
    ingress.sink.down = True
    response = await ingress.post(incident_bytes())
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert ingress.sink.records == []
    assert ingress.sample("dvtrigger_ingress_broker_unavailable_total") == 1
    assert ingress.sample("dvtrigger_ingress_accepted_total", force="MPS") == 0


async def test_an_invalid_body_the_dead_letter_topic_cannot_take_is_503(
    ingress: Harness,
) -> None:
    ingress.sink.down = True
    assert (await ingress.post(b"{nope")).status_code == 503


async def test_healthz_answers(ingress: Harness) -> None:
    response = await ingress.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_the_openapi_document_has_every_status_and_the_incident_schema(
    ingress: Harness,
) -> None:
    doc = (await ingress.client.get("/openapi.json")).json()
    operation = doc["paths"][PATH]["post"]
    assert set(operation["responses"]) == {
        "202", "401", "403", "413", "415", "422", "429", "503"
    }  # fmt: skip
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/PoliceIncident"}
    incident = doc["components"]["schemas"]["PoliceIncident"]
    assert incident["properties"]["force"]["pattern"] == "^[A-Z]{2,5}$"
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert {"mutualTLS", "oauth2", "apiKey"} == set(doc["components"]["securitySchemes"])


async def test_an_oauth2_client_publishes_as_its_force_and_no_credential_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = Issuer(tmp_path)
    ingress = Harness(
        oauth_issuer=ISSUER,
        oauth_audience=AUDIENCE,
        oauth_jwks=str(issuer.jwks),
        oauth_clients={"mps-ingest": "MPS"},
    )
    caplog.set_level(logging.DEBUG)
    token = issuer.token()
    headers = {"authorization": f"Bearer {token}"}
    assert (await ingress.post(incident_bytes(), force=None, headers=headers)).status_code == 202
    assert (
        await ingress.post(incident_bytes("GMP"), force=None, headers=headers)
    ).status_code == 403
    assert (await ingress.post(incident_bytes(), force="MPS")).status_code == 202
    assert token not in caplog.text and API_KEYS["MPS"] not in caplog.text
    assert "force=MPS via=oauth2" in caplog.text


def test_ingress_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVTRIGGER_INGRESS__API_KEY_HASHES", json.dumps(key_hashes()))
    monkeypatch.setenv("DVTRIGGER_INGRESS__CERT_FORCES", '{"cn:ingest.mps.test": "MPS"}')
    monkeypatch.setenv("DVTRIGGER_INGRESS__MAX_BODY_BYTES", "65536")
    ingress = Settings().ingress
    assert ingress.api_key_hashes == key_hashes()
    assert ingress.cert_forces == {"cn:ingest.mps.test": "MPS"}
    assert ingress.max_body_bytes == 65536


async def test_the_documents_example_is_a_valid_notification_and_is_accepted(
    ingress: Harness,
) -> None:
    doc = (await ingress.client.get("/openapi.json")).json()
    example = doc["paths"][PATH]["post"]["requestBody"]["content"]["application/json"]["example"]
    assert parse_incident(json.dumps(example).encode()).force == "MPS"
    assert (await ingress.post(json.dumps(example).encode())).status_code == 202
