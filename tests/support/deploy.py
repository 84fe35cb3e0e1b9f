"""What the deploy tests share: the settings' environment names and the command line."""

from __future__ import annotations

from pathlib import Path

from connectors.cli.main import PASSTHROUGH, parser
from streams.config.settings import Settings
from streams.config.tasks import TaskSettings
from streams.domain.config import RulesConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def setting_names() -> set[str]:
    """Every environment variable `Settings` reads (nested rules and tasks: their first level)."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias if isinstance(alias, str) else f"DVTRIGGER_{name.upper()}")
    names |= {f"DVTRIGGER_RULES__{name.upper()}" for name in RulesConfig.model_fields}
    names |= {f"DVTRIGGER_TASKS__{name.upper()}" for name in TaskSettings.model_fields}
    return names


def is_setting(name: str) -> bool:
    """Whether `name` is an environment variable of `Settings` (nested ones included)."""
    known = setting_names()
    parts = name.split("__")
    return name in known or "__".join(parts[:2]) in known


def assert_cli_knows(args: list[str]) -> None:
    """The image's entry point is `dvtrigger`: its arguments must be a command it has."""
    if args[0] in PASSTHROUGH:
        assert args[0] == "duty-inbox" and args[1::2] == ["--host", "--port", "--db"], args
        return
    parsed = parser().parse_args(args)
    assert parsed.func is not None


def settings_from(env: dict[str, str | None]) -> Settings:
    """The settings a process would read from `env` (its DVTRIGGER_ variables that are set)."""
    return Settings.model_validate(
        {
            name.removeprefix("DVTRIGGER_").lower(): value
            for name, value in env.items()
            if value is not None and name.startswith("DVTRIGGER_")
        }
    )
