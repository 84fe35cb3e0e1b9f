"""Settings: one frozen, typed object read from the environment once."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.config.case_systems import Adapter, CaseSystemRoute, FhirOptions, MailOptions
from streams.config.file_drop import FileDropSettings
from streams.config.ingress import IngressSettings
from streams.config.kafka_security import KafkaSecurity
from streams.config.oidc import OidcSettings
from streams.config.receipts import ReceiptSettings
from streams.config.tasks import TaskSettings
from streams.domain.config import MatchWeights, RulesConfig
from streams.domain.matching.frequencies import TermFrequencies
from streams.domain.ports.routing import DEFAULT_ROUTE


class RetentionSettings(BaseModel):
    """How long personal data is held, and how often the worker purges what is past it.

    Nested in `Settings.retention`; from the environment as `DVTRIGGER_RETENTION__<FIELD>`,
    maps as JSON. The rules are `streams/domain/retention.py`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    register_purge_after_days: int = Field(
        180,
        ge=0,
        description="A register subject is purged this long after it leaves scope (first"
        " birthday, end of pregnancy, withdrawal). At least `recent_incidents_days`, so no"
        " re-decided incident loses a subject; the default doubles that 90-day window so a police"
        " report of an incident that happened while the child was in scope, sent up to 90 days"
        " late, still finds the family.",
    )
    register_events_days: int = Field(
        1_100,
        ge=1,
        description="retention.ms of the register-events topic, in days. The changelog holds"
        " the folded records; the events are kept only so a new app id or record form can fold"
        " them again. A subject is in scope at most about 22 months from its first event (a"
        " pregnancy booked early, then the first year) and kept `register_purge_after_days`"
        " after: about 850 days. 1,100 days leaves a margin, and an event older than that"
        " belongs to a subject already purged.",
    )
    incident_state_margin_days: int = Field(
        30,
        ge=0,
        description="An incident's state is purged this long after it stops being recent"
        " (`recent_incidents_days` after the later of its day and its latest report). Default:"
        " 30 days, twice the 14 days the police and incidents topics keep, so a later police"
        " revision still updates or withdraws its tasks rather than raising new ones.",
    )
    purge_interval_s: float = Field(
        3600.0,
        gt=0,
        description="How often each worker purges (a timer). Hourly: periods are counted in"
        " days, so an hour late is nothing, and a sweep is cheap (windows are read, not records).",
    )
    purge_slice: int = Field(
        200,
        ge=1,
        description="Subjects or incidents purged per hold of the decide lock; decisions run"
        " between slices, so a large purge never stalls the worker.",
    )
    inbox_task_days: int = Field(
        365,
        ge=0,
        description="A closed duty-inbox task is purged this many days after it was closed,"
        " unless under a legal hold. Default: a year, long enough for a complaint, a review of"
        " the duty team's response or a subject access request; the case record itself is the"
        " council's, kept on its own schedule. Each council sets its own below.",
    )
    inbox_task_days_by_council: dict[str, int] = Field(
        default_factory=dict,
        description="Each council's period for closed tasks, by council code, as JSON:"
        ' {"E09000033": 730}. Councils missing here, and tasks of no council, take'
        " `inbox_task_days`.",
    )
    audit_detail_days: int = Field(
        365,
        ge=0,
        description="Audit details (decision inputs, what a view showed) older than this are"
        " purged, except those about tasks under legal hold; envelopes stay. Default: as long as"
        " the closed tasks they explain (`inbox_task_days`).",
    )
    inbox_purge: bool = Field(
        True,
        description="The duty inbox purges its closed tasks and its audit chain's details"
        " itself, every `purge_interval_s` (first a minute after it starts). Off only where"
        " something else runs `dvtrigger retention inbox` (or in tests).",
    )
    held_refs: frozenset[str] = Field(
        frozenset(),
        description="References (held task ids and their incident ids, as JSON:"
        ' ["MPS-2026-000002"]) whose audit details the decide worker keeps, besides those in'
        " `<data_dir>/audit/held-refs.txt` that the inbox writes: for a worker that does not"
        " share the inbox's data directory. `dvtrigger retention hold` prints them.",
    )

    @field_validator("inbox_task_days_by_council")
    @classmethod
    def _periods_not_negative(cls, periods: dict[str, int]) -> dict[str, int]:
        """A council's period is a number of days, 0 or more."""
        if any(days < 0 for days in periods.values()):
            raise ValueError("a council's period is negative")
        return periods


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables are prefixed `DVTRIGGER_`,
    except `KAFKA_BOOTSTRAP_SERVERS`, which Kafka tooling already knows."""

    model_config = SettingsConfigDict(
        env_prefix="DVTRIGGER_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
        hide_input_in_errors=True,  # a refused setting's input may hold a password or token
    )

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="host:port[,host:port]; unset: `dvtrigger run` starts the embedded broker.",
    )
    app_id: str = Field("dvtrigger", description="Consumer group and table prefix.")
    topic_prefix: str = Field("dvtrigger.", description="Prefix of every topic dvtrigger uses.")
    topic_partitions: int = Field(
        4, ge=1, description="Partitions of the topics dvtrigger creates."
    )
    topic_replication: int = Field(1, ge=1, description="Replication factor of created topics.")
    topic_min_insync_replicas: int = Field(
        1,
        ge=1,
        description="min.insync.replicas of every topic: replicas that must have a write before"
        " it is acknowledged (producers send acks=all). Production: 2 with replication 3.",
    )
    decision_log_retention_ms: int = Field(
        7 * 366 * 86_400_000,
        ge=-1,
        description="retention.ms of the decision log; -1 keeps it for ever. Default: seven"
        " years, so a serious case review can read it; archive it too (README, Topics).",
    )
    web_host: str = Field("127.0.0.1", description="Worker HTTP (metrics, health) bind address.")
    web_port: int = Field(6066, description="Worker HTTP port: /metrics, /healthz, /readyz.")
    deliver_web_port: int = Field(
        6067, description="HTTP port of a `worker --role deliver` (its own /metrics, /healthz)."
    )
    data_dir: Path = Field(Path("var"), description="Local state: faust data, duty inbox db.")
    broker_probe_interval_s: float = Field(
        5.0,
        ge=0,
        description="How often a worker asks the broker for metadata to tell whether it is"
        " reachable (dvtrigger_broker_reachable, the outage's log lines); 0: no probe, and the"
        " Kafka clients' connection errors are logged as they come.",
    )
    broker_probe_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A probe not answered within this long opens a broker outage: a broker"
        " that hangs rather than refuses makes the Kafka clients log nothing for minutes.",
    )
    kafka_fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=5000,
        description="How long a worker's consumer lets the broker hold a fetch that finds"
        " nothing new (faust's own is 1,500 ms). Tansu answers only when the wait runs out,"
        " so it is added to every hop on a quiet partition; Apache Kafka answers as soon as"
        " a record arrives, and a short wait costs an empty fetch now and then.",
    )
    recovery_consistency_check: bool = Field(
        False,
        description="faust's check, at a table's recovery, that its changelog was read to the"
        " end. Off by default: the embedded Tansu reports a partition's end below what was"
        " read, which would stop a worker at a rebalance. Set true on Apache Kafka.",
    )
    register_snapshot_dir: Path | None = Field(
        None,
        description="Where a worker keeps its register snapshot (the index, every subject"
        " record: personal data, protect it as the broker's data); unset:"
        " `data_dir`/register-snapshots. Workers of one app may share it.",
    )
    register_snapshot_interval_s: float = Field(
        300.0,
        ge=0,
        description="A worker writes its register snapshot this often when the register"
        " changed; 0: no snapshots (a restart reads the whole register changelog).",
    )
    register_snapshot_max_age_s: float = Field(
        12 * 3600.0,
        gt=0,
        description="An older snapshot is not used: the changelog may have compacted away"
        " tombstones written since (delete.retention.ms, a day by default).",
    )
    case_system_url: str = Field(
        "http://127.0.0.1:8081", description="Base URL of the case system's task API."
    )
    case_system_token: SecretStr | None = Field(None, description="Bearer token, if required.")
    case_system_timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")
    case_system_adapter: Adapter = Field(
        "json", description="The default route's adapter: `json`, `fhir` or `email`."
    )
    case_system_fhir: FhirOptions = Field(
        default_factory=FhirOptions, description="The default route's `fhir` options."
    )
    case_system_mail: MailOptions | None = Field(
        None, description="The default route's mailbox, when its adapter is `email`."
    )
    case_systems: dict[str, CaseSystemRoute] = Field(
        default_factory=dict,
        description="Case system of each council, by council code (the subject's"
        ' local_authority), as JSON: {"E09000033": {"url": "https://…", "token": "…",'
        ' "timeout_s": 5, "adapter": "fhir"}}. Tasks of no council go to `case_system_url`;'
        " tasks of a council missing here too, and are counted as unrouted. Adapters:"
        " docs/case-systems.md.",
    )
    task_retry_deadline_s: float = Field(
        300.0,
        gt=0,
        description="How long one task is retried, from its first attempt, before it is parked.",
    )
    task_inline_budget_s: float = Field(
        2.0,
        gt=0,
        description="Longest the deliver agent spends on one task (requests and pauses) before"
        " it hands the task to the retry topic and moves on.",
    )
    task_first_backoff_s: float = Field(
        0.2, ge=0, description="Backoff before the first retry; doubles per attempt, jittered."
    )
    task_max_backoff_s: float = Field(
        30.0, ge=0, description="Longest backoff between two attempts at one task."
    )
    breaker_failures: int = Field(
        5, ge=1, description="Consecutive retryable failures that open a route's circuit."
    )
    breaker_reset_s: float = Field(
        30.0, ge=0, description="How long an open circuit makes no request before one trial."
    )
    dead_letter_limit: int = Field(
        100,
        ge=1,
        description="Dead letters within `dead_letter_window_s` from which a worker whose dead"
        " letters are also most of what it read stops, rather than empty its input into the"
        " dead-letter topic (a broken worker, not bad input).",
    )
    dead_letter_window_s: float = Field(
        60.0, gt=0, description="The window over which the dead-letter guard counts."
    )
    dead_letter_ratio: float = Field(
        0.5,
        gt=0,
        le=1,
        description="Share of the messages read that must be dead letters for the guard to trip.",
    )
    recent_incidents_days: int = Field(
        90,
        ge=0,
        description="Incidents whose day is at most this many days ago are re-decided when the"
        " register learns of their family late.",
    )
    duty_inbox_host: str = Field("127.0.0.1", description="Duty inbox bind address.")
    duty_inbox_port: int = Field(8081, description="Duty inbox port.")
    duty_inbox_db: Path = Field(Path("var/duty-inbox.sqlite3"), description="Duty inbox SQLite.")
    duty_inbox_session_idle_s: float = Field(
        1800.0, gt=0, description="A duty inbox session ends after this long without a request."
    )
    duty_inbox_session_max_s: float = Field(
        36000.0, gt=0, description="A duty inbox session ends this long after sign-in, whatever."
    )
    duty_inbox_cookie_secure: bool = Field(
        False, description="Mark the duty inbox's cookies Secure: set it when served over HTTPS."
    )
    duty_inbox_session_secret: SecretStr | None = Field(
        None, description="Key signing duty inbox session cookies; unset: the secret file's."
    )
    duty_inbox_session_secret_file: Path | None = Field(
        None,
        description="File of that key, made (mode 0600) when missing; unset:"
        " duty-inbox-session.key beside the duty inbox database.",
    )
    audit_dir: Path | None = Field(
        None,
        description="Directory of the audit log's chains (one file per writing process) and of"
        " held-refs.txt; unset: `data_dir`/audit. Production: a persistent volume shared by the"
        " decide workers and the duty inbox, so that every chain outlives its pod and"
        " `dvtrigger audit verify` sees them all.",
    )
    audit_chain: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Name of this process's chain in `audit_dir`; unset: its role (`decide`,"
        " `inbox`). Each writer needs its own: on Kubernetes, the pod's name.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token every /metrics of the workers and the duty inbox requires,"
        " when set. Production: set it, or bind the ports to an internal address only"
        " (docs/security.md).",
    )
    oidc: OidcSettings | None = Field(
        None,
        description="OpenID Connect sign-in to the duty inbox; unset: none. E.g."
        " DVTRIGGER_OIDC__ISSUER, DVTRIGGER_OIDC__CLIENT_ID, DVTRIGGER_OIDC__REDIRECT_URL.",
    )
    log_level: str = Field("INFO", description="Log level of the worker.")
    clock_file: Path | None = Field(
        None,
        description="Benchmarks only: a file holding the time now as Unix seconds, which the"
        " worker takes as its clock (the time-compressed soak moves it month by month); unset:"
        " the machine's clock. Never set it in production.",
    )
    retention: RetentionSettings = Field(
        default_factory=RetentionSettings,
        description="Retention periods and the purge timer, e.g."
        " DVTRIGGER_RETENTION__REGISTER_PURGE_AFTER_DAYS=180.",
    )
    receipts: ReceiptSettings = Field(
        default_factory=ReceiptSettings,
        description="The acknowledgement watch behind the task_acknowledged receipts, e.g."
        " DVTRIGGER_RECEIPTS__ACK_POLL_INTERVAL_S=30.",
    )
    tasks: TaskSettings = Field(
        default_factory=TaskSettings,
        description="When tasks fall due (office hours, working days, closure days) and the"
        " emergency duty team's queue out of office hours, e.g."
        " DVTRIGGER_TASKS__EMERGENCY_DUTY_QUEUE=edt.",
    )
    rules: RulesConfig = Field(
        default_factory=RulesConfig,
        description="Thresholds of the rule, e.g. DVTRIGGER_RULES__REVIEW_SCORE=0.5.",
    )
    rules_weights_file: Path | None = Field(
        None,
        description="A match weights file (`dvtrigger calibrate --out`): its weights replace"
        " `rules.weights` (DVTRIGGER_RULES__WEIGHTS__* are then ignored); unset: those.",
    )
    rules_term_frequencies_file: Path | None = Field(
        None,
        description="A term-frequency file (`dvtrigger calibrate` writes it beside the weights,"
        " `*.tf.json`): a common name agreeing weighs less; unset: no adjustment.",
    )
    kafka: KafkaSecurity = Field(
        default_factory=KafkaSecurity,
        description="TLS and SASL of every Kafka client (worker, CLI, ingress, file drop), e.g."
        " DVTRIGGER_KAFKA__SECURITY_PROTOCOL=SASL_SSL, DVTRIGGER_KAFKA__SASL_PASSWORD_FILE=/run/…",
    )
    ingress: IngressSettings = Field(
        default_factory=IngressSettings,
        description="The HTTPS ingress for forces without a Kafka producer (`dvtrigger"
        " ingress`), e.g. DVTRIGGER_INGRESS__PORT=8443.",
    )
    file_drop: FileDropSettings = Field(
        default_factory=FileDropSettings,
        description="The watched folder of police notification batches (`dvtrigger file-drop`),"
        " e.g. DVTRIGGER_FILE_DROP__DIRECTORY=/srv/drop, DVTRIGGER_FILE_DROP__BATCH_SIZE=100.",
    )

    @model_validator(mode="after")
    def _default_route_is_whole(self) -> Settings:
        """The default route's adapter has its options (`email`: its mailbox)."""
        self.default_route()
        return self

    def default_route(self) -> CaseSystemRoute:
        """The default route (`case_system_*`) as a route like any council's."""
        return CaseSystemRoute(
            adapter=self.case_system_adapter,
            url=self.case_system_url,
            token=self.case_system_token,
            timeout_s=self.case_system_timeout_s,
            fhir=self.case_system_fhir,
            mail=self.case_system_mail,
        )

    @field_validator("case_systems")
    @classmethod
    def _no_council_called_default(
        cls, routes: dict[str, CaseSystemRoute]
    ) -> dict[str, CaseSystemRoute]:
        """`default` names `case_system_url`'s route; a council code must not take it."""
        if DEFAULT_ROUTE in routes:
            raise ValueError(f"{DEFAULT_ROUTE!r} is not a council code")
        return routes

    #: Settings that were removed, kept only to refuse them: a deadline setting silently
    #: ignored would change every task's due time without anyone noticing.
    trigger_due_hours: float | None = Field(
        None, description="Removed: tasks.trigger_due_working_days replaces it; set, it is refused."
    )
    review_due_hours: float | None = Field(
        None, description="Removed: tasks.review_due_working_hours replaces it; set, it is refused."
    )

    @model_validator(mode="after")
    def _no_removed_settings(self) -> Settings:
        """Refuse a removed setting, saying what replaces it."""
        for name, instead in _REMOVED.items():
            if getattr(self, name) is not None:
                raise ValueError(f"DVTRIGGER_{name.upper()} is no longer read: set {instead}")
        return self

    @model_validator(mode="after")
    def _subjects_outlive_the_recent_window(self) -> Settings:
        """A recent incident is re-decided against the register: its subjects must still be held."""
        if self.retention.register_purge_after_days < self.recent_incidents_days:
            raise ValueError(
                "retention.register_purge_after_days is less than recent_incidents_days: a"
                " re-decided incident would no longer find a subject that was in scope on its day"
            )
        return self

    def with_weights_file(self) -> Settings:
        """These settings with `rules_weights_file`'s weights and `rules_term_frequencies_file`'s
        table in `rules` (as they are where unset)."""
        update: dict[str, object] = {}
        if self.rules_weights_file is not None:
            update["weights"] = load_rules_file(self.rules_weights_file, MatchWeights)
        if self.rules_term_frequencies_file is not None:
            table = load_rules_file(self.rules_term_frequencies_file, TermFrequencies)
            update["term_frequencies"] = table
        if not update:
            return self
        return self.model_copy(update={"rules": self.rules.model_copy(update=update)})

    def register_snapshot_directory(self) -> Path:
        """`register_snapshot_dir`, else `data_dir`/register-snapshots."""
        if self.register_snapshot_dir is not None:
            return self.register_snapshot_dir
        return self.data_dir / "register-snapshots"

    def audit_directory(self) -> Path:
        """Where the audit log's chains are: `audit_dir`, else `data_dir`/audit."""
        return self.audit_dir if self.audit_dir is not None else self.data_dir / "audit"

    def topic(self, role: str) -> str:
        """Full name of the topic with role `role` (e.g. `police-incidents`)."""
        return f"{self.topic_prefix}{role}"


_File = TypeVar("_File", MatchWeights, TermFrequencies)


#: Removed settings and the settings that replace them (`Settings._no_removed_settings`).
_REMOVED = {
    "trigger_due_hours": "DVTRIGGER_TASKS__TRIGGER_DUE_WORKING_DAYS (working days)",
    "review_due_hours": "DVTRIGGER_TASKS__REVIEW_DUE_WORKING_HOURS (office hours)",
}


def load_match_weights(path: Path) -> MatchWeights:
    """The match weights of a weights file; ValueError naming the file and field, never a value."""
    return load_rules_file(path, MatchWeights)


def _field_of(loc: tuple[int | str, ...]) -> str:
    """Where a file is invalid, down to its field and that field's part (`values.family`):
    deeper lies a term-frequency table's key, which is a name."""
    return ".".join(str(part) for part in loc[:2]) or "(file)"


def load_rules_file(path: Path, model: type[_File]) -> _File:
    """A weights or term-frequency file; ValueError naming the file and field, never a value."""
    what = "match weights" if model is MatchWeights else "term frequencies"
    try:
        return model.model_validate_json(path.read_bytes())
    except OSError as error:
        raise ValueError(f"{what} file {path}: cannot be read ({error.strerror})") from None
    except ValidationError as error:
        where = "; ".join(f"{_field_of(e['loc'])}: {e['type']}" for e in error.errors())
        raise ValueError(f"{what} file {path}: invalid: {where}") from None
