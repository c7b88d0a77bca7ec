"""A cycle's bonus plan: HR and admins."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from services.rewards.access import ActiveHR
from services.rewards.bonus.schemas import BonusPlanDefinition, BonusPlanRead
from services.rewards.bonus.service import BonusService, plan_of
from services.rewards.models import BonusPlan
from services.rewards.proposals.repository import PayCycleRepository
from services.rewards.proposals.service import ProposalService
from shared.database import SessionDep
from shared.errors import Conflict, NotFound

router = APIRouter(tags=["bonus"])


def _read(stored: BonusPlan, recomputed: int = 0) -> BonusPlanRead:
    return BonusPlanRead(
        cycle_id=stored.cycle_id,
        revision=stored.revision,
        definition=plan_of(stored),
        updated_by=stored.updated_by,
        modified_at=stored.modified_at or stored.created_at,
        recomputed=recomputed,
    )


@router.get("/cycles/{cycle_id}/bonus-plan", response_model=BonusPlanRead, summary="A cycle's bonus plan")
async def get_bonus_plan(cycle_id: uuid.UUID, session: SessionDep, _hr: ActiveHR) -> BonusPlanRead:
    stored = await BonusService(session).bonuses.plan(cycle_id)
    if stored is None:
        raise NotFound(f"Pay cycle {cycle_id} has no bonus plan.")
    return _read(stored)


@router.put(
    "/cycles/{cycle_id}/bonus-plan",
    response_model=BonusPlanRead,
    summary="Set a cycle's bonus plan (201 created, 200 replaced); recomputes the drafts' bonuses",
)
async def put_bonus_plan(
    cycle_id: uuid.UUID, plan: BonusPlanDefinition, response: Response, session: SessionDep, hr: ActiveHR
) -> BonusPlanRead:
    cycle = await PayCycleRepository.from_session(session).get_or_create(cycle_id, for_update=True)
    if cycle.finalized_at is not None:
        raise Conflict(f"Pay cycle {cycle_id} is finalized; its bonus plan can no longer change.")
    stored, created = await BonusService(session).put(cycle_id, plan, hr.person_id)
    recomputed = await ProposalService(session).recompute_bonuses(cycle_id, plan)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return _read(stored, recomputed)
