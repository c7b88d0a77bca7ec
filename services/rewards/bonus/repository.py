"""All SQL about bonus plans and per-unit budget overrides."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import BonusPlan, BudgetOverride


class BonusRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> BonusRepository:
        return cls(session)

    async def plan(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> BonusPlan | None:
        query = select(BonusPlan).where(BonusPlan.cycle_id == cycle_id)
        if for_update:
            query = query.with_for_update()
        found: BonusPlan | None = await self.session.scalar(query)
        return found

    async def add(self, row: BonusPlan | BudgetOverride) -> None:
        self.session.add(row)
        await self.session.flush()

    async def override(self, cycle_id: uuid.UUID, org_unit: str, *, for_update: bool = False) -> BudgetOverride | None:
        query = select(BudgetOverride).where(BudgetOverride.cycle_id == cycle_id, BudgetOverride.org_unit == org_unit)
        if for_update:
            query = query.with_for_update()
        found: BudgetOverride | None = await self.session.scalar(query)
        return found

    async def overrides(self, cycle_id: uuid.UUID) -> dict[str, BudgetOverride]:
        rows = await self.session.scalars(select(BudgetOverride).where(BudgetOverride.cycle_id == cycle_id))
        return {row.org_unit: row for row in rows}
