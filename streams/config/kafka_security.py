"""How dvtrigger reaches a secured Kafka cluster: TLS, SASL, mutual TLS; refused if incoherent.

Environment: DVTRIGGER_KAFKA__SECURITY_PROTOCOL=SASL_SSL and so on. A secret comes
from the environment or from a file read once at start-up (`..._file`, as Kubernetes
mounts secrets); either way it is held as a SecretStr and never echoed in an error.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
#: Secret settings that may instead be read from a file: secret -> its file setting.
SECRET_FILES = {"sasl_password": "sasl_password_file", "ssl_key_password": "ssl_key_password_file"}
TLS_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")
SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")


class KafkaSecurity(BaseModel):
    """The security of every Kafka client dvtrigger opens: worker, CLI, ingress, file drop."""

    # The input of a refused setting holds the secrets: errors must not show it.
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    security_protocol: SecurityProtocol = Field(
        "PLAINTEXT",
        description="PLAINTEXT (no TLS: the embedded broker and development), SSL (TLS),"
        " SASL_SSL (TLS and SASL sign-in: production), SASL_PLAINTEXT (SASL without TLS).",
    )
    ssl_cafile: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the brokers' certificates; unset:"
        " the system's trust store.",
    )
    ssl_check_hostname: bool = Field(
        True, description="Check that a broker's certificate names the host connected to."
    )
    ssl_certfile: Path | None = Field(
        None, description="Mutual TLS: PEM file of this client's certificate (chain)."
    )
    ssl_keyfile: Path | None = Field(
        None, description="Mutual TLS: PEM file of this client's private key."
    )
    ssl_key_password: SecretStr | None = Field(
        None, description="Mutual TLS: password of an encrypted `ssl_keyfile`."
    )
    ssl_key_password_file: Path | None = Field(
        None, description="File holding `ssl_key_password`, read at start-up."
    )
    sasl_mechanism: SaslMechanism | None = Field(
        None, description="SCRAM-SHA-512 (preferred), SCRAM-SHA-256, or PLAIN (only over TLS)."
    )
    sasl_username: str | None = Field(None, description="SASL user (the Kafka principal).")
    sasl_password: SecretStr | None = Field(None, description="SASL password.")
    sasl_password_file: Path | None = Field(
        None, description="File holding `sasl_password`, read at start-up."
    )

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        """Read each `..._file` secret into its setting; both set is refused."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for secret, file_setting in SECRET_FILES.items():
            path = data.get(file_setting)
            if path is None:
                continue
            if data.get(secret) is not None:
                raise ValueError(f"set {secret} or {file_setting}, not both")
            data[secret] = SecretStr(read_secret(Path(path), file_setting))
        return data

    @model_validator(mode="after")
    def _coherent(self) -> KafkaSecurity:
        """Refuse settings that would not do what they seem to, naming the settings at fault."""
        problem = incoherence(self)
        if problem:
            raise ValueError(f"kafka security: {problem}")
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether connections are TLS."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """Whether clients sign in with SASL."""
        return self.security_protocol.startswith("SASL_")


def read_secret(path: Path, setting: str) -> str:
    """The secret in a file, without its trailing newline; errors name the setting, not content."""
    try:
        secret = path.read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as failure:
        reason = failure.strerror if isinstance(failure, OSError) else "not UTF-8 text"
        raise ValueError(f"{setting}: cannot read {path}: {reason}") from None
    if not secret:
        raise ValueError(f"{setting}: {path} is empty")
    return secret


def incoherence(security: KafkaSecurity) -> str | None:
    """What is wrong with a combination of settings, or None (pure: no file is opened)."""
    s = security
    sasl_set = [name for name in SASL_FIELDS if getattr(s, name)]
    tls_set = [n for n in (*TLS_FILES, "ssl_key_password") if getattr(s, n) is not None]
    if not s.uses_sasl and sasl_set:
        return f"{', '.join(sasl_set)} set but security_protocol is {s.security_protocol}"
    if not s.uses_tls and tls_set:
        return f"{', '.join(tls_set)} set but security_protocol is {s.security_protocol}"
    if s.uses_sasl:
        missing = [name for name in SASL_FIELDS if name not in sasl_set]
        if missing:
            return f"security_protocol {s.security_protocol} needs {', '.join(missing)}"
        if s.sasl_mechanism == "PLAIN" and not s.uses_tls:
            return "sasl_mechanism PLAIN sends the password in clear: use SASL_SSL"
    if s.ssl_keyfile is not None and s.ssl_certfile is None:
        return "ssl_keyfile set without ssl_certfile"
    if s.ssl_key_password is not None and s.ssl_certfile is None:
        return "ssl_key_password set without ssl_certfile"
    if not s.ssl_check_hostname and s.ssl_cafile is None:
        return "ssl_check_hostname off needs ssl_cafile: any publicly trusted certificate would do"
    return None


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext | None:
    """The TLS context of a client (None without TLS); errors name the setting at fault."""
    if not security.uses_tls:
        return None
    for name in TLS_FILES:
        path = getattr(security, name)
        if path is not None and not Path(path).is_file():
            raise ValueError(f"kafka security: {name}: no file at {path}")
    cafile = str(security.ssl_cafile) if security.ssl_cafile else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = security.ssl_check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if security.ssl_certfile is not None:
        secret = security.ssl_key_password
        try:  # a callable: an encrypted key without a password fails, never prompts on a tty
            context.load_cert_chain(
                str(security.ssl_certfile),
                str(security.ssl_keyfile) if security.ssl_keyfile else None,
                lambda: secret.get_secret_value() if secret else "",
            )
        except ssl.SSLError as failure:
            raise ValueError(
                "kafka security: ssl_certfile/ssl_keyfile do not load (wrong key password,"
                f" or key and certificate do not match): {failure.reason or 'SSL error'}"
            ) from None
    return context
