"""The in-process sweep that announces feedback requests nearing their due date.

Every ``MERITLOOP_FEEDBACK_REMINDER_INTERVAL`` seconds each feedback process marks the open,
unreminded recipients whose request is due within ``MERITLOOP_FEEDBACK_REMINDER_DAYS`` and
writes one ``meritloop.feedback.feedback-request.reminder-due`` event each through the outbox
(``service.sweep_reminders``). Replicas may sweep at once: the rows are locked with SKIP
LOCKED on PostgreSQL, marked in the same transaction, and the event id is derived from the
request and the person, so JetStream drops a duplicate.
"""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.feedback.checkins.service import sweep_checkin_reminders
from services.feedback.service import sweep_reminders
from services.feedback.sweeps import sweep_router
from shared.database import utcnow
from shared.settings import Settings


async def sweep_once(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    async with sessionmaker() as session, session.begin():
        done = await sweep_reminders(session, today=utcnow().date(), lead_days=settings.feedback_reminder_days)
    # Check-in reminders ride the same sweep, in a transaction of their own.
    async with sessionmaker() as session, session.begin():
        return done + await sweep_checkin_reminders(session, now=utcnow())


async def _round(app: FastAPI, settings: Settings) -> bool:
    return bool(await sweep_once(app.state.sessionmaker, settings))


reminders_router = sweep_router("reminder", _round)
