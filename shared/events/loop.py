"""A background task that a service starts with its lifespan and stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod


class BackgroundLoop(ABC):
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.task_name)

    async def stop(self) -> None:
        # The flag matters as much as the cancel: nats-py turns a cancellation inside some
        # calls (publish_async waiting for a slot) into its own error, which the loop's
        # retry handler would otherwise swallow and carry on.
        self._stopping = True
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    @property
    @abstractmethod
    def task_name(self) -> str: ...

    @abstractmethod
    async def _run(self) -> None: ...
