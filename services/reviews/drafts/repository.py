"""SQL of review drafts: when drafts were generated for a task (the audit log holds them)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import CycleParticipant, LLMAudit, ReviewCycle

FEATURE = "review_draft"
SUMMARY_FEATURE = "year_summary"


class DraftRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DraftRepository:
        return cls(session)

    async def generated(self, task_id: str) -> tuple[int, datetime | None]:
        """How many drafts were generated for the task, and when the last one was."""
        query = select(func.count(), func.max(LLMAudit.created_at)).where(
            LLMAudit.feature == FEATURE, LLMAudit.subject == task_id
        )
        count, last = (await self.session.execute(query)).one()
        return int(count), last

    async def participations(self, person_id: uuid.UUID, year: int) -> list[tuple[ReviewCycle, CycleParticipant]]:
        """The person's cycles whose period ends in ``year`` (not cancelled), oldest first."""
        query = (
            select(ReviewCycle, CycleParticipant)
            .join(CycleParticipant, CycleParticipant.cycle_id == ReviewCycle.id)
            .where(
                CycleParticipant.person_id == person_id,
                ReviewCycle.status != "cancelled",
                ReviewCycle.period_end >= date(year, 1, 1),
                ReviewCycle.period_end <= date(year, 12, 31),
            )
            .order_by(ReviewCycle.period_end, ReviewCycle.id)
        )
        return [(cycle, participant) for cycle, participant in (await self.session.execute(query)).tuples()]
