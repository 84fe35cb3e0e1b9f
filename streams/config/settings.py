"""Settings: one frozen, typed object read from the environment once."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.domain.config import RulesConfig
from streams.domain.ports.routing import DEFAULT_ROUTE


class CaseSystemRoute(BaseModel):
    """Where one council's case system is: its task API, token and request timeout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="Base URL of this council's case system task API.")
    token: SecretStr | None = Field(None, description="Bearer token, if required.")
    timeout_s: float | None = Field(
        None, gt=0, description="Per-request timeout; unset: `case_system_timeout_s`."
    )


class Settings(BaseSettings):
    """Everything an operator can set. Environment variables are prefixed `DVTRIGGER_`,
    except `KAFKA_BOOTSTRAP_SERVERS`, which Kafka tooling already knows."""

    model_config = SettingsConfigDict(
        env_prefix="DVTRIGGER_", env_nested_delimiter="__", frozen=True, extra="ignore"
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
    web_port: int = Field(6066, description="Worker HTTP port: /metrics, /healthz.")
    deliver_web_port: int = Field(
        6067, description="HTTP port of a `worker --role deliver` (its own /metrics, /healthz)."
    )
    data_dir: Path = Field(Path("var"), description="Local state: faust data, duty inbox db.")
    case_system_url: str = Field(
        "http://127.0.0.1:8081", description="Base URL of the case system's task API."
    )
    case_system_token: SecretStr | None = Field(None, description="Bearer token, if required.")
    case_system_timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")
    case_systems: dict[str, CaseSystemRoute] = Field(
        default_factory=dict,
        description="Case system of each council, by council code (the subject's"
        ' local_authority), as JSON: {"E09000033": {"url": "https://…", "token": "…",'
        ' "timeout_s": 5}}. Tasks of no council go to `case_system_url`; tasks of a council'
        " missing here too, and are counted as unrouted.",
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
    trigger_due_hours: float = Field(24.0, gt=0, description="Due time of an investigation task.")
    review_due_hours: float = Field(4.0, gt=0, description="Due time of a match-review task.")
    recent_incidents_days: int = Field(
        90,
        ge=0,
        description="Incidents whose day is at most this many days ago are re-decided when the"
        " register learns of their family late.",
    )
    duty_inbox_host: str = Field("127.0.0.1", description="Duty inbox bind address.")
    duty_inbox_port: int = Field(8081, description="Duty inbox port.")
    duty_inbox_db: Path = Field(Path("var/duty-inbox.sqlite3"), description="Duty inbox SQLite.")
    log_level: str = Field("INFO", description="Log level of the worker.")
    rules: RulesConfig = Field(
        default_factory=RulesConfig,
        description="Thresholds of the rule, e.g. DVTRIGGER_RULES__REVIEW_SCORE=0.5.",
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

    def topic(self, role: str) -> str:
        """Full name of the topic with role `role` (e.g. `police-incidents`)."""
        return f"{self.topic_prefix}{role}"
