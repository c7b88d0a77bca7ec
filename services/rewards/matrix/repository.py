"""All SQL about merit matrices."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import MeritMatrix


class MeritMatrixRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> MeritMatrixRepository:
        return cls(session)

    async def get(self, scope: str, *, for_update: bool = False) -> MeritMatrix | None:
        query = select(MeritMatrix).where(MeritMatrix.scope == scope)
        if for_update:
            query = query.with_for_update()
        matrix = await self.session.scalar(query)
        return matrix

    async def add(self, matrix: MeritMatrix) -> MeritMatrix:
        self.session.add(matrix)
        await self.session.flush()
        return matrix

    async def delete(self, matrix: MeritMatrix) -> None:
        await self.session.delete(matrix)
        await self.session.flush()
