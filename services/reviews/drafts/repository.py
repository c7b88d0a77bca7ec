"""SQL of review drafts: when drafts were generated for a task (the audit log holds them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import LLMAudit

FEATURE = "review_draft"


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
