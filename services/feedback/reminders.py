"""The in-process sweep that announces feedback requests nearing their due date.

Every ``MERITLOOP_FEEDBACK_REMINDER_INTERVAL`` seconds each feedback process marks the open,
unreminded recipients whose request is due within ``MERITLOOP_FEEDBACK_REMINDER_DAYS`` and
writes one ``meritloop.feedback.feedback-request.reminder-due`` event each through the outbox
(``service.sweep_reminders``). Replicas may sweep at once: the rows are locked with SKIP
LOCKED on PostgreSQL, marked in the same transaction, and the event id is derived from the
request and the person, so JetStream drops a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.checkins.service import sweep_checkin_reminders
from services.feedback.service import sweep_reminders
from shared.database import utcnow
from shared.settings import Settings

log = logging.getLogger(__name__)


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    async with sessionmaker() as session, session.begin():
        done = await sweep_reminders(session, today=utcnow().date(), lead_days=settings.feedback_reminder_days)
    # Check-in reminders ride the same sweep, in a transaction of their own.
    async with sessionmaker() as session, session.begin():
        return done + await sweep_checkin_reminders(session, now=utcnow())


async def _sweep_forever(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> None:
    while True:
        try:
            while await sweep_once(sessionmaker, settings):
                pass
        except Exception:  # A failed round is retried next interval; the sweep must not die.
            log.exception("feedback reminder sweep failed")
        await asyncio.sleep(settings.feedback_reminder_interval)


@asynccontextmanager
async def reminder_sweep(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if settings.feedback_reminder_interval <= 0:
        yield
        return
    task = asyncio.create_task(_sweep_forever(app.state.sessionmaker, settings), name="feedback-reminders")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task


# Routeless: FastAPI merges a router's lifespan into the app's, after the bus and relay start.
reminders_router = APIRouter(lifespan=reminder_sweep)
