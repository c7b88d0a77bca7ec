"""Calibration's adverse impact and live consequences for pay: HR and admins (active) only.

The reviews service never calls this one: the web app posts the ids and ratings the
calibration page shows, and gets back what only this service may compute (it holds gender
and pay).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.rewards.access import ActiveHR
from services.rewards.calibration_impact.schemas import (
    AdverseImpactRead,
    AdverseImpactRequest,
    ImpactRead,
    ImpactRequest,
)
from services.rewards.calibration_impact.service import ImpactService
from shared.database import SessionDep

router = APIRouter(tags=["calibration impact"])


@router.post(
    "/cycles/{cycle_id}/adverse-impact",
    response_model=AdverseImpactRead,
    summary="Rate of top ratings per gender (or another attribute): four-fifths rule and Fisher exact test",
)
async def adverse_impact(
    cycle_id: uuid.UUID, data: AdverseImpactRequest, session: SessionDep, _hr: ActiveHR
) -> AdverseImpactRead:
    return await ImpactService(session).adverse_impact(cycle_id, data)


@router.post(
    "/cycles/{cycle_id}/calibration-impact",
    response_model=ImpactRead,
    summary="Projected merit and bonus spend per unit against its budget, and the projected adjusted pay gap",
)
async def calibration_impact(
    cycle_id: uuid.UUID, data: ImpactRequest, session: SessionDep, _hr: ActiveHR
) -> ImpactRead:
    return await ImpactService(session).impact(cycle_id, data)
