"""The reviews service's periodic dispute sweep: remind HR before a dispute's due date, escalate at it and after.

Every ``MERITLOOP_REVIEWS_DISPUTE_SWEEP_INTERVAL`` seconds (0 turns it off) each reviews process
runs one round (``service.sweep_disputes``), with ``shared.sweeps``' loop. Replicas may sweep at once: the
marks are conditional UPDATEs in the event's transaction (see ``sweep_disputes``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reviews.cycles.service import DISPUTE_SWEEP_BATCH, sweep_disputes
from shared.database import utcnow
from shared.settings import Settings
from shared.sweeps import sweep_router


async def sweep_once(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime | None = None
) -> tuple[int, int]:
    """One round in one transaction: (escalated, reminded)."""
    lead = timedelta(days=settings.reviews_dispute_reminder_days)
    again = timedelta(days=settings.reviews_dispute_reescalation_days) or None
    async with sessionmaker() as session, session.begin():
        return await sweep_disputes(session, now=now or utcnow(), reminder_lead=lead, again_after=again)


async def _round(app: FastAPI, settings: Settings) -> bool:
    return max(await sweep_once(app.state.sessionmaker, settings)) >= DISPUTE_SWEEP_BATCH


dispute_sweep_router = sweep_router("reviews-dispute", _round, lambda settings: settings.reviews_dispute_sweep_interval)
