"""Where each council's tasks arrive: the adapter of its case system, and that adapter's options.

Three adapters (`docs/case-systems.md`):

- `json`: the duty inbox's task API, or a council's system speaking the same API (`url`);
- `fhir`: a council's HL7 FHIR R4 server (`url` is its base), one `Task` per task;
- `email`: the task is kept in the duty inbox at `url`, and the council's secure mailbox is
  told of it over STARTTLS, with references and a link only (`mail`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

Adapter = Literal["json", "fhir", "email"]


class FhirOptions(BaseModel):
    """Options of the FHIR adapter."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifier_system: str | None = Field(
        None,
        description="The system of each Task's identifier (the idempotency key); unset: the"
        " adapter's own (`connectors/case_system/fhir.py`).",
    )


class MailOptions(BaseModel):
    """Options of the secure-email adapter: the council's mail relay, the mailbox, the link."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    smtp_host: str = Field(description="The council's mail relay; mail goes over STARTTLS only.")
    smtp_port: int = Field(587, ge=1, le=65535, description="Its submission port.")
    username: str | None = Field(None, description="SMTP AUTH user, if the relay needs one.")
    password: SecretStr | None = Field(None, description="SMTP AUTH password, with `username`.")
    ca_file: Path | None = Field(
        None,
        description="CA bundle the relay's certificate is checked against; unset: the system's.",
    )
    sender: str = Field(description="The From address, e.g. dvtrigger@council.gov.uk.")
    recipients: list[str] = Field(min_length=1, description="The front door's mailbox(es).")
    link_base: str = Field(
        description="The duty inbox as duty workers open it; the mail links to"
        " `<link_base>/tasks/<task id>`."
    )
    ledger_path: Path | None = Field(
        None,
        description="SQLite file of the mails sent (one a task version); unset:"
        " `<data_dir>/mail/<route>.sqlite`.",
    )
    timeout_s: float = Field(30.0, gt=0, description="Per SMTP session.")


class CaseSystemRoute(BaseModel):
    """Where one council's case system is: its adapter, URL, token and request timeout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    adapter: Adapter = Field("json", description="`json`, `fhir` or `email`.")
    url: str = Field(
        description="`json`: the task API's base URL; `fhir`: the FHIR base; `email`: the duty"
        " inbox's task API, where the task is kept."
    )
    token: SecretStr | None = Field(None, description="Bearer token, if required.")
    timeout_s: float | None = Field(
        None, gt=0, description="Per-request timeout; unset: `case_system_timeout_s`."
    )
    fhir: FhirOptions = Field(default_factory=FhirOptions, description="`fhir` options.")
    mail: MailOptions | None = Field(None, description="`email`: the relay and the mailbox.")

    @model_validator(mode="after")
    def _mail_for_email(self) -> CaseSystemRoute:
        """The email adapter needs its mailbox; only it takes one."""
        if (self.adapter == "email") != (self.mail is not None):
            raise ValueError("`mail` is set exactly when the adapter is `email`")
        return self
