"""How kafka-python clients reach a secured cluster: TLS, SASL/SCRAM or mutual TLS.

`client_options` gives the keyword arguments every KafkaProducer, KafkaConsumer
and KafkaAdminClient of dvtrigger is made with; `faust_credentials` gives the
worker's (aiokafka's) equivalent. `tls_problem` says, in words, why a TLS
handshake with a broker fails: kafka-python only says that no broker answered.
"""

from __future__ import annotations

import socket
import ssl
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from streams.config.kafka_security import KafkaSecurity, ssl_context
from streams.config.settings import Settings

if TYPE_CHECKING:  # faust is imported by the worker only: the ingress and file drop need not
    from faust.types.auth import CredentialsT


#: What an OpenSSL alert from the broker means for the person reading the error.
TLS_HINTS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the broker wants a client certificate (ssl_certfile): ",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the broker refused the handshake (a client certificate?): ",
    "TLSV1_ALERT_UNKNOWN_CA": "the broker does not trust this client's certificate: ",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the broker refused this client's certificate: ",
}


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for KafkaProducer, KafkaConsumer and KafkaAdminClient."""
    return security_options(settings.kafka)


def security_options(security: KafkaSecurity) -> dict[str, Any]:
    """kafka-python's keyword arguments for one `KafkaSecurity`."""
    options: dict[str, Any] = {"security_protocol": security.security_protocol}
    context = ssl_context(security)
    if context is not None:
        options["ssl_context"] = context
    if security.uses_sasl:
        assert security.sasl_password is not None  # the settings' validator made sure
        options["sasl_mechanism"] = security.sasl_mechanism
        options["sasl_plain_username"] = security.sasl_username
        options["sasl_plain_password"] = Redacted(security.sasl_password.get_secret_value())
    return options


class Redacted(str):
    """A secret kafka-python can use as a string, shown as stars: KafkaAdminClient logs its
    whole configuration at DEBUG, and a dict is shown with the repr of its values."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'**********'"


def faust_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """The worker's `broker_credentials`: faust hands them to aiokafka's consumer, producer
    and the clients it creates topics with (faust/transport/drivers/aiokafka.py)."""
    import faust

    context = ssl_context(security)
    if security.uses_sasl:
        assert security.sasl_password is not None  # the settings' validator made sure
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=security.sasl_mechanism,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def tls_problem(bootstrap: str, security: KafkaSecurity, timeout_s: float = 5.0) -> str | None:
    """Why a TLS handshake with the first of `bootstrap` fails (None: it succeeds, or no TLS)."""
    context = ssl_context(security)
    if context is None:
        return None
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            tls.settimeout(0.5)  # TLS 1.3: a refused client certificate shows on first read
            with suppress(TimeoutError):
                tls.recv(1)
    except ssl.SSLCertVerificationError as failure:
        return f"TLS to {host}:{port}: broker certificate refused: {failure.verify_message}"
    except ssl.SSLError as failure:
        reason = failure.reason or "handshake failed"
        return f"TLS to {host}:{port}: {TLS_HINTS.get(reason, '')}{reason}"
    except OSError as failure:
        return f"TLS to {host}:{port}: {failure.strerror or type(failure).__name__}"
    return None
