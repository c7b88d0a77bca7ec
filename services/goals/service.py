"""Goal rules: who may own a goal, period checks and the events each change publishes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.events import goal_event_data, outbox
from services.goals.models import Goal
from services.goals.repository import GoalRepository
from services.goals.schemas import GoalCreate
from shared.auth import Principal, Role
from shared.errors import Forbidden, NotFound, ValidationFailed


class GoalService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.goals = GoalRepository.from_session(session)

    async def get(self, goal_id: uuid.UUID) -> Goal:
        goal = await self.goals.get(goal_id)
        if goal is None:
            raise NotFound(f"No goal with id {goal_id}.")
        return goal

    async def create(self, data: GoalCreate, principal: Principal) -> Goal:
        owner_id = data.owner_id or principal.person_id
        if owner_id != principal.person_id and not principal.has_any(Role.hr, Role.admin):
            raise Forbidden("Only HR and admins may create a goal for someone else.")
        start, end = data.period_start, data.period_end
        if start is not None and end is not None and start > end:
            raise ValidationFailed.field("period_end", "must not be before period_start")
        goal = await self.goals.add(
            Goal(
                owner_id=owner_id,
                title=data.title,
                description=data.description,
                due_date=data.due_date,
                period_start=data.period_start,
                period_end=data.period_end,
                status="draft",
            )
        )
        outbox.add(self.session, "goal", "created", goal_event_data(goal), subject=str(goal.id))
        return goal
