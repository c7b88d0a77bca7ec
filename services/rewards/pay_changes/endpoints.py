"""HR writes a finalized cycle's approved salaries into the compensation records."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.rewards.access import ActiveHR
from services.rewards.pay_changes.schemas import PayChangesWrite, PayChangesWritten
from services.rewards.pay_changes.service import PayChangeService
from shared.database import SessionDep
from shared.openapi import problems

router = APIRouter(tags=["pay approval"])


@router.post(
    "/cycles/{cycle_id}/pay-changes",
    response_model=PayChangesWritten,
    summary="Write the approved salaries as compensation records from a date",
    responses=problems(404, 409, 422),
)
async def write_pay_changes(
    cycle_id: uuid.UUID, data: PayChangesWrite, session: SessionDep, hr: ActiveHR
) -> PayChangesWritten:
    """Once the cycle is finalized; safe to repeat (nobody is raised twice)."""
    return await PayChangeService(session).write(cycle_id, data.effective_date, hr.person_id)
