"""Who may read the rewards service's reports: HR and admins whom the directory lists as active."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.rewards.models import Person
from shared.auth import CurrentPrincipal, HRPrincipal, Principal
from shared.database import SessionDep
from shared.errors import Forbidden


async def _ensure_active(principal: Principal, session: SessionDep) -> Principal:
    # A token outlives a deactivation in the directory; the projection knows better. Someone
    # the projection does not hold (an HR account outside the directory) keeps their roles.
    person = await session.get(Person, principal.person_id)
    if person is not None and not person.active:
        raise Forbidden("Your account is deactivated.")
    return principal


async def _active_hr(principal: HRPrincipal, session: SessionDep) -> Principal:
    return await _ensure_active(principal, session)


async def _active(principal: CurrentPrincipal, session: SessionDep) -> Principal:
    return await _ensure_active(principal, session)


ActiveHR = Annotated[Principal, Depends(_active_hr)]
ActivePrincipal = Annotated[Principal, Depends(_active)]
