"""All SQL about the rewards policy row and worker categories."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import RewardsPolicy, WorkerCategory

POLICY_ID = 1


class PolicyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PolicyRepository:
        return cls(session)

    async def get(self, *, for_update: bool = False) -> RewardsPolicy | None:
        return await self.session.get(RewardsPolicy, POLICY_ID, with_for_update=for_update)

    async def add(self, policy: RewardsPolicy) -> None:
        self.session.add(policy)
        await self.session.flush()

    async def category(self, code: str) -> WorkerCategory | None:
        found: WorkerCategory | None = await self.session.scalar(
            select(WorkerCategory).where(WorkerCategory.code == code)
        )
        return found

    async def add_category(self, category: WorkerCategory) -> None:
        self.session.add(category)
        await self.session.flush()

    async def categories(self, *, limit: int, offset: int) -> tuple[list[WorkerCategory], int]:
        total = await self.session.scalar(select(func.count()).select_from(WorkerCategory)) or 0
        rows = await self.session.scalars(
            select(WorkerCategory).order_by(WorkerCategory.code).limit(limit).offset(offset)
        )
        return list(rows), total
