"""Settings of the file drop: the watched folder of police notification batches."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class FileDropSettings(BaseModel):
    """Where the file drop watches, how often, and how much it sends between checkpoints."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    directory: Path = Field(
        Path("var/drop"),
        description="The watched folder; receipts/, done/, failed/ and state/ are made in it.",
    )
    poll_interval_s: float = Field(2.0, gt=0, description="Pause between two looks at the folder.")
    batch_size: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Lines sent and acknowledged between two checkpoints of a file's progress.",
    )
    max_file_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1,
        description="Larger files are not read: they go to failed/ with a receipt saying why.",
    )
    keep_days: float = Field(
        14.0,
        gt=0,
        description="Days files stay in done/ and failed/ (they hold personal data) before they"
        " are deleted; receipts and state (no personal data) are kept.",
    )
    web_port: int = Field(
        6068, ge=0, le=65535, description="HTTP port of `dvtrigger file-drop`: /metrics, /healthz."
    )
