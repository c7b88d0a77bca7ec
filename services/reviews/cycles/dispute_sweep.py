"""The reviews service's periodic dispute sweep: remind HR before a dispute's due date, escalate at it.

Every ``MERITLOOP_REVIEWS_DISPUTE_SWEEP_INTERVAL`` seconds (0 turns it off) each reviews process
runs one round (``service.sweep_disputes``), at once again while a round was full, for as long
as the app lives. A failed round is logged and retried at the next interval; the sweep is a
task beside the app, so the health check never waits for it. Replicas may sweep at once: the
marks are conditional UPDATEs in the event's transaction (see ``sweep_disputes``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime, timedelta

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reviews.cycles.service import DISPUTE_SWEEP_BATCH, sweep_disputes
from shared.database import utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)


async def sweep_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime | None = None
) -> tuple[int, int]:
    """One round in one transaction: (escalated, reminded)."""
    lead = timedelta(days=settings.reviews_dispute_reminder_days)
    async with sessionmaker() as session, session.begin():
        return await sweep_disputes(session, now=now or utcnow(), reminder_lead=lead)


async def _forever(app: FastAPI, settings: Settings) -> None:
    while True:
        try:
            while max(await sweep_once(app.state.sessionmaker, settings)) >= DISPUTE_SWEEP_BATCH:
                pass
        except Exception:  # A failed round is retried next interval; the sweep must not die.
            log.exception("dispute sweep failed")
        await asyncio.sleep(settings.reviews_dispute_sweep_interval)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.reviews_dispute_sweep_interval <= 0:
        yield
        return
    task = asyncio.create_task(_forever(app, settings), name="reviews-dispute-sweep")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# Routeless: FastAPI merges its lifespan into the app's.
dispute_sweep_router = APIRouter(lifespan=_lifespan)
