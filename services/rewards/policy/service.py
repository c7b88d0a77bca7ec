"""HR's rewards policy (report suppression, pay-equity settings) and worker categories."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import MIN_CELL_SIZE_FLOOR, RewardsPolicy, WorkerCategory
from services.rewards.policy.repository import POLICY_ID, PolicyRepository
from services.rewards.policy.schemas import (
    DEFAULT_CONTROLS,
    DEFAULT_IMPACT_ATTRIBUTES,
    BudgetMode,
    Control,
    PolicyUpdate,
    WorkerCategoryCreate,
)
from services.rewards.schemas import Attribute
from shared.errors import Conflict


@dataclass(frozen=True)
class Policy:
    min_cell_size: int
    equity_flag_pct: Decimal
    equity_controls: tuple[Control, ...]
    budget_mode: BudgetMode = BudgetMode.block
    impact_attributes: tuple[Attribute, ...] = DEFAULT_IMPACT_ATTRIBUTES


DEFAULT_POLICY = Policy(MIN_CELL_SIZE_FLOOR, Decimal(5), DEFAULT_CONTROLS)


class PolicyService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.policies = PolicyRepository.from_session(session)

    async def stored(self) -> RewardsPolicy | None:
        return await self.policies.get()

    async def current(self) -> Policy:
        stored = await self.policies.get()
        if stored is None:
            return DEFAULT_POLICY
        # Never below the floor, whatever a hand-edited row says.
        return Policy(
            max(stored.min_cell_size, MIN_CELL_SIZE_FLOOR),
            stored.equity_flag_pct,
            tuple(Control(name) for name in stored.equity_controls),
            BudgetMode(stored.budget_mode),
            tuple(Attribute(name) for name in stored.impact_attributes or ()) or DEFAULT_IMPACT_ATTRIBUTES,
        )

    async def update(self, data: PolicyUpdate, by: uuid.UUID) -> RewardsPolicy:
        stored = await self.policies.get(for_update=True)
        if stored is None:
            stored = RewardsPolicy(
                id=POLICY_ID,
                min_cell_size=DEFAULT_POLICY.min_cell_size,
                equity_flag_pct=DEFAULT_POLICY.equity_flag_pct,
                equity_controls=[control.value for control in DEFAULT_POLICY.equity_controls],
                budget_mode=DEFAULT_POLICY.budget_mode.value,
            )
            await self.policies.add(stored)
        if data.min_cell_size is not None:
            stored.min_cell_size = data.min_cell_size
        if data.equity_flag_pct is not None:
            stored.equity_flag_pct = data.equity_flag_pct
        if data.equity_controls is not None:
            stored.equity_controls = [control.value for control in dict.fromkeys(data.equity_controls)]
        if data.budget_mode is not None:
            stored.budget_mode = data.budget_mode.value
        if data.impact_attributes is not None:
            stored.impact_attributes = [attribute.value for attribute in dict.fromkeys(data.impact_attributes)]
        stored.updated_by = by
        await self.session.flush()
        return stored

    async def add_category(self, data: WorkerCategoryCreate, by: uuid.UUID) -> WorkerCategory:
        if await self.policies.category(data.code) is not None:
            raise Conflict(f"A worker category with code {data.code!r} exists already.")
        category = WorkerCategory(code=data.code, name=data.name, description=data.description, created_by=by)
        await self.policies.add_category(category)
        return category
