"""Kafka security settings: what is refused, secrets from files, the TLS context, client options."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from connectors.kafka.security import client_options, faust_credentials, security_options
from streams.bootstrap import faust_app
from streams.config.kafka_security import KafkaSecurity, ssl_context
from streams.config.settings import Settings
from tests.support.tls import Pki, make_pki

PASSWORD = "sasl-pw-never-shown-91c2"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def sasl(**values: Any) -> dict[str, Any]:
    """SASL_SSL with SCRAM-SHA-512 and a password, overridden by `values`."""
    return {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_username": "dvtrigger-worker",
        "sasl_password": PASSWORD,
        **values,
    }


def test_the_default_is_plaintext_with_no_options_beyond_it() -> None:
    settings = Settings.model_validate({})

    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert client_options(settings) == {"security_protocol": "PLAINTEXT"}
    assert faust_credentials(settings.kafka) is None


def test_settings_come_from_the_environment_nested(
    monkeypatch: pytest.MonkeyPatch, pki: Pki
) -> None:
    monkeypatch.setenv("DVTRIGGER_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SSL_CAFILE", str(pki.ca))
    monkeypatch.setenv("DVTRIGGER_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SASL_USERNAME", "dvtrigger-worker")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SASL_PASSWORD", PASSWORD)

    kafka = Settings().kafka

    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")
    assert kafka.ssl_cafile == pki.ca
    assert isinstance(kafka.sasl_password, SecretStr)
    assert kafka.sasl_password.get_secret_value() == PASSWORD


def test_a_password_file_is_read_once_without_its_newline(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")

    security = KafkaSecurity.model_validate(sasl(sasl_password=None, sasl_password_file=secret))
    secret.write_text("changed later")

    assert security.sasl_password is not None
    assert security.sasl_password.get_secret_value() == PASSWORD


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"sasl_password_file": "/nonexistent/password"}, "sasl_password or sasl_password_file"),
        ({"sasl_password": None, "sasl_password_file": "/nonexistent/p"}, "cannot read"),
    ],
)
def test_a_password_file_problem_names_the_setting(values: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSecurity.model_validate(sasl(**values))

    assert expected in str(refused.value)
    assert "sasl_password" in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_an_empty_password_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "password"
    empty.write_text("\n")

    with pytest.raises(ValidationError, match=r"sasl_password_file: .* is empty"):
        KafkaSecurity.model_validate(sasl(sasl_password=None, sasl_password_file=empty))


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (sasl(sasl_password=None), "needs sasl_password"),
        (sasl(sasl_username=None, sasl_password=None), "needs sasl_username, sasl_password"),
        (sasl(sasl_mechanism=None), "needs sasl_mechanism"),
        (sasl(security_protocol="SSL"), "set but security_protocol is SSL"),
        (sasl(security_protocol="PLAINTEXT"), "set but security_protocol is PLAINTEXT"),
        (
            sasl(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN"),
            "PLAIN sends the password in clear",
        ),
        (
            {"security_protocol": "PLAINTEXT", "ssl_cafile": "/etc/ca.pem"},
            "ssl_cafile set but security_protocol is PLAINTEXT",
        ),
        (
            sasl(security_protocol="SASL_PLAINTEXT", ssl_certfile="/etc/c.pem"),
            "ssl_certfile set but security_protocol is SASL_PLAINTEXT",
        ),
        ({"security_protocol": "SSL", "ssl_keyfile": "/etc/k.pem"}, "ssl_keyfile set without"),
        (
            {"security_protocol": "SSL", "ssl_key_password": PASSWORD},
            "ssl_key_password set without ssl_certfile",
        ),
        ({"security_protocol": "SSL", "ssl_check_hostname": False}, "needs ssl_cafile"),
    ],
)
def test_incoherent_settings_are_refused_with_a_reason_and_no_secret(
    values: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        KafkaSecurity.model_validate(values)

    assert expected in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_an_incoherent_setting_in_the_environment_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DVTRIGGER_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SASL_PASSWORD", PASSWORD)

    with pytest.raises(ValidationError) as refused:
        Settings()

    assert "needs sasl_mechanism, sasl_username" in str(refused.value)
    assert PASSWORD not in str(refused.value)


@pytest.mark.parametrize("protocol", ["SASL_SSL", "SSL"])
def test_a_refused_setting_never_echoes_even_a_short_secret(
    monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    """Pydantic shows a refused input, truncated in the middle: a short secret would show."""
    monkeypatch.setenv("DVTRIGGER_KAFKA__SECURITY_PROTOCOL", protocol)
    monkeypatch.setenv("DVTRIGGER_KAFKA__SASL_PASSWORD", "s3cr")
    monkeypatch.setenv("DVTRIGGER_KAFKA__SSL_KEY_PASSWORD", "k3y")

    with pytest.raises(ValidationError) as from_env:
        Settings()
    with pytest.raises(ValidationError) as direct:
        KafkaSecurity(security_protocol=protocol, sasl_password=SecretStr("s3cr"))  # type: ignore[arg-type]

    for refused in (from_env, direct):
        assert "kafka security:" in str(refused.value)
        assert "s3cr" not in str(refused.value) and "k3y" not in str(refused.value)


def test_the_settings_never_show_a_secret(pki: Pki) -> None:
    security = KafkaSecurity.model_validate(
        sasl(
            ssl_cafile=pki.ca,
            ssl_certfile=pki.client_cert,
            ssl_keyfile=pki.client_key,
            ssl_key_password=pki.client_key_password,
        )
    )
    settings = Settings.model_validate({"kafka": security})

    shown = [repr(settings), str(settings), repr(security), settings.model_dump_json()]

    assert not [text for text in shown if PASSWORD in text or pki.client_key_password in text]


def test_the_tls_context_verifies_the_broker_and_its_name(pki: Pki) -> None:
    context = ssl_context(KafkaSecurity(security_protocol="SSL", ssl_cafile=pki.ca))

    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert any("dvtrigger tests" in str(ca.get("subject")) for ca in context.get_ca_certs())


def test_hostname_checking_can_be_turned_off_with_a_ca(pki: Pki) -> None:
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=pki.ca, ssl_check_hostname=False)
    context = ssl_context(security)

    assert context is not None
    assert (context.check_hostname, context.verify_mode) == (False, ssl.CERT_REQUIRED)


def test_no_tls_no_context() -> None:
    assert ssl_context(KafkaSecurity()) is None
    options = security_options(
        KafkaSecurity.model_validate(sasl(security_protocol="SASL_PLAINTEXT"))
    )
    assert "ssl_context" not in options


def test_an_encrypted_client_key_loads_with_its_password(pki: Pki) -> None:
    security = KafkaSecurity(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        ssl_key_password=SecretStr(pki.client_key_password),
    )

    assert ssl_context(security) is not None


@pytest.mark.parametrize("password", ["not-the-key-password", None])
def test_a_wrong_or_missing_key_password_is_refused_without_showing_it(
    pki: Pki, password: str | None
) -> None:
    security = KafkaSecurity(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client_cert,
        ssl_keyfile=pki.client_key,
        ssl_key_password=SecretStr(password) if password else None,
    )

    with pytest.raises(ValueError, match="ssl_certfile/ssl_keyfile do not load") as refused:
        ssl_context(security)

    assert "not-the-key-password" not in str(refused.value)
    assert pki.client_key_password not in str(refused.value)


def test_a_missing_tls_file_names_the_setting(tmp_path: Path) -> None:
    security = KafkaSecurity(security_protocol="SSL", ssl_cafile=tmp_path / "absent.pem")

    with pytest.raises(ValueError, match="ssl_cafile: no file at"):
        ssl_context(security)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"])
def test_sasl_ssl_options_for_kafka_python(pki: Pki, mechanism: str) -> None:
    settings = Settings.model_validate(
        {"kafka": sasl(sasl_mechanism=mechanism, ssl_cafile=str(pki.ca))}
    )

    options = client_options(settings)

    assert set(options) == {
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
    }
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "dvtrigger-worker",
        PASSWORD,
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(options) and PASSWORD not in str(options)  # as a log shows it


def test_the_options_are_ones_kafka_python_knows() -> None:
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

    keys = set(
        security_options(KafkaSecurity.model_validate(sasl(security_protocol="SASL_PLAINTEXT")))
    )
    keys |= {"ssl_context"}

    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert keys <= set(client.DEFAULT_CONFIG), client.__name__


@pytest.mark.parametrize(
    ("values", "kind", "expected"),
    [
        (
            {"security_protocol": "SSL"},
            faust.SSLCredentials,
            {"security_protocol": "SSL"},
        ),
        (
            sasl(),
            faust.SASLCredentials,
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "SCRAM-SHA-512",
                "sasl_plain_username": "dvtrigger-worker",
                "sasl_plain_password": PASSWORD,
            },
        ),
        (
            sasl(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-256"),
            faust.SASLCredentials,
            {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256"},
        ),
    ],
)
def test_the_worker_hands_aiokafka_the_same_security(
    pki: Pki, values: dict[str, Any], kind: type, expected: dict[str, Any]
) -> None:
    if values["security_protocol"].endswith("SSL"):
        values = {**values, "ssl_cafile": str(pki.ca)}
    settings = Settings.model_validate({"kafka": values})

    app = faust_app(settings)
    # What faust's aiokafka driver passes to its consumer, its producer and the client
    # it creates topics with: the same call for all three.
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials, app.conf.ssl_context)

    assert isinstance(app.conf.broker_credentials, kind)
    assert expected.items() <= auth.items()
    assert (auth.get("ssl_context") is not None) == settings.kafka.uses_tls
    assert PASSWORD not in repr(app.conf.broker_credentials)
