"""HTTP routes of the goals service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.goals.schemas import GoalCreate, GoalRead
from services.goals.service import GoalService
from shared.auth import CurrentPrincipal
from shared.database import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/goals", tags=["goals"])


@router.post("", response_model=GoalRead, status_code=status.HTTP_201_CREATED, summary="Set a goal")
async def create_goal(data: GoalCreate, session: SessionDep, principal: CurrentPrincipal) -> GoalRead:
    goal = await GoalService(session).create(data, principal)
    return GoalRead.model_validate(goal)


@router.get("", response_model=Page[GoalRead], summary="Goals, newest first")
async def list_goals(
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    owner_id: Annotated[uuid.UUID | None, Query(description="Only this person's goals.")] = None,
) -> Page[GoalRead]:
    rows, total = await GoalService(session).goals.list(limit=page.limit, offset=page.offset, owner_id=owner_id)
    return Page(
        items=[GoalRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{goal_id}", response_model=GoalRead, summary="One goal")
async def get_goal(goal_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> GoalRead:
    return GoalRead.model_validate(await GoalService(session).get(goal_id))
