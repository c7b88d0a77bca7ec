"""A service's periodic sweep, in-process: a routeless router whose lifespan runs it.

The sweep runs every ``interval(settings)`` seconds (0 turns it off) for as long as the app
lives, at once again while a round says there is more, and outlives a failed round: it is logged
and retried at the next interval. It is a task beside the app, so a health check never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, FastAPI

from shared.settings import Settings

log = logging.getLogger(__name__)

# One round: ``True`` when it stopped at its batch size and more may be due.
Round = Callable[[FastAPI, Settings], Awaitable[bool]]


def sweep_router(name: str, sweep: Round, interval: Callable[[Settings], float]) -> APIRouter:
    """A routeless router whose lifespan runs ``sweep`` (FastAPI merges it into the app's)."""

    async def forever(app: FastAPI, settings: Settings) -> None:
        while True:
            try:
                while await sweep(app, settings):
                    pass
            except Exception:  # A failed round is retried next interval; the sweep must not die.
                log.exception("%s sweep failed", name)
            await asyncio.sleep(interval(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        if interval(settings) <= 0:
            yield
            return
        task = asyncio.create_task(forever(app, settings), name=f"{name}-sweep")
        try:
            yield
        finally:
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task

    return APIRouter(lifespan=lifespan)
