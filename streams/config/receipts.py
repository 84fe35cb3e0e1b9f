"""Receipts for the police: how often raised tasks are asked after for their acknowledgement."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReceiptSettings(BaseModel):
    """The acknowledgement watch of the deliver worker (`streams/flows/acknowledgements.py`).

    Nested in `Settings.receipts`; from the environment as `DVTRIGGER_RECEIPTS__<FIELD>`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    ack_poll_interval_s: float = Field(
        30.0,
        gt=0,
        description="How often the deliver worker asks the case systems whether the tasks it"
        " raised were acknowledged; a force sees the acknowledgement within about this long.",
    )
    ack_poll_batch: int = Field(
        200,
        ge=1,
        description="The most watched tasks asked after in one poll (one request each).",
    )
    ack_watch_days: int = Field(
        30,
        ge=1,
        description="A task not acknowledged within this many days is no longer asked after"
        ' (counted in dvtrigger_ack_watches_dropped_total{why="expired"}).',
    )
