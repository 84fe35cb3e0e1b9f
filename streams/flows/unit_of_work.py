"""One unit of work: send, await every acknowledgement from the broker, then write the states.

A batch of decisions (or of re-decisions after a register change) sends its
decision records and task commands, and only once the broker has acknowledged
every one of them writes the incidents' states. A crash in between redelivers
the input and decides it again, which the idempotent task commands absorb; the
other order could record a task as raised that was never sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, MutableMapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

StateT = TypeVar("StateT", bound=BaseModel)


class UnitOfWork(Generic[StateT]):
    """The sends of one batch and the states they justify, written only after every ack."""

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        """A unit of work writing its states to `table` (a faust table, or a dict in tests)."""
        self._table = table
        self._acks: list[Awaitable[Any]] = []
        #: The states to write at commit, by key; later in a batch, a key's state is read here.
        self.states: dict[bytes, StateT] = {}

    async def send(self, topic: Any, key: bytes, value: bytes) -> None:
        """Send one message now; its acknowledgement is awaited at commit."""
        self._acks.append(await topic.send(key=key, value=value))

    def stage(self, key: bytes, state: StateT) -> None:
        """Write `state` under `key` at commit."""
        self.states[key] = state

    async def commit(self) -> None:
        """Await every acknowledgement, then write the states; a failed ack writes none."""
        await asyncio.gather(*self._acks)
        for key, state in self.states.items():
            self._table[key] = state.model_dump_json().encode()
