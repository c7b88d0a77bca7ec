"""All SQL of the goals service."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.models import Goal


class GoalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> GoalRepository:
        return cls(session)

    async def get(self, goal_id: uuid.UUID) -> Goal | None:
        return await self.session.get(Goal, goal_id)

    async def list(self, *, limit: int, offset: int, owner_id: uuid.UUID | None) -> tuple[list[Goal], int]:
        query = select(Goal)
        if owner_id is not None:
            query = query.where(Goal.owner_id == owner_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(Goal.created_at.desc(), Goal.id).limit(limit).offset(offset))
        return list(rows), total

    async def add(self, goal: Goal) -> Goal:
        self.session.add(goal)
        await self.session.flush()
        return goal
