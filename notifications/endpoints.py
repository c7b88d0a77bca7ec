"""The preferences API (a person's own, or anyone's for HR and admins) and the delivery log."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.kinds import DIGEST_KINDS, OPTIONAL_KINDS
from notifications.models import Delivery, Person, Preference
from notifications.schedule import zone
from notifications.schemas import DeliveryOut, PreferencesIn, PreferencesOut
from notifications.service import NotificationService, quiet_hours_of
from shared.auth import CurrentPrincipal, Principal, Role
from shared.database import SessionDep
from shared.errors import Forbidden
from shared.pagination import Page, PageDep

router = APIRouter(tags=["notifications"])


def get_service(request: Request) -> NotificationService:
    service: NotificationService = request.app.state.notifications
    return service


ServiceDep = Annotated[NotificationService, Depends(get_service)]


async def _authorize(session: AsyncSession, principal: Principal, person_id: uuid.UUID) -> None:
    """Self, HR or an admin; never a manager (a report's inbox settings are their own), never a leaver."""
    me = await session.get(Person, principal.person_id)
    if me is not None and not me.active:
        raise Forbidden("Your directory record is deactivated.")
    if principal.person_id != person_id and not principal.has_any(Role.hr, Role.admin):
        raise Forbidden("Only the person, HR or an admin may see or change these notification settings.")


async def _out(session: AsyncSession, service: NotificationService, preference: Preference) -> PreferencesOut:
    person = await session.get(Person, preference.person_id)
    return PreferencesOut(
        person_id=preference.person_id,
        digest_hour=preference.digest_hour,
        effective_digest_hour=service.digest_hour(preference),
        time_zone=zone(person.timezone if person else None).key,
        opted_out=list(preference.opted_out or []),
        optional_kinds=[kind.value for kind in OPTIONAL_KINDS],
        at_once=list(preference.at_once or []),
        at_once_kinds=[kind.value for kind in DIGEST_KINDS],
        quiet_hours=quiet_hours_of(preference),
    )


@router.get("/notification-preferences/me", response_model=PreferencesOut, summary="My notification settings")
async def my_preferences(session: SessionDep, principal: CurrentPrincipal, service: ServiceDep) -> PreferencesOut:
    await _authorize(session, principal, principal.person_id)
    return await _out(session, service, await service.preferences(session, principal.person_id))


@router.put("/notification-preferences/me", response_model=PreferencesOut, summary="Change my notification settings")
async def set_my_preferences(
    body: PreferencesIn, session: SessionDep, principal: CurrentPrincipal, service: ServiceDep
) -> PreferencesOut:
    await _authorize(session, principal, principal.person_id)
    preference = await service.set_preferences(session, principal.person_id, body)
    return await _out(session, service, preference)


@router.get(
    "/notification-preferences/{person_id}", response_model=PreferencesOut, summary="A person's notification settings"
)
async def person_preferences(
    person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, service: ServiceDep
) -> PreferencesOut:
    await _authorize(session, principal, person_id)
    return await _out(session, service, await service.preferences(session, person_id))


@router.put(
    "/notification-preferences/{person_id}",
    response_model=PreferencesOut,
    summary="Change a person's notification settings",
)
async def set_person_preferences(
    person_id: uuid.UUID, body: PreferencesIn, session: SessionDep, principal: CurrentPrincipal, service: ServiceDep
) -> PreferencesOut:
    await _authorize(session, principal, person_id)
    preference = await service.set_preferences(session, person_id, body)
    return await _out(session, service, preference)


@router.get(
    "/people/{person_id}/deliveries", response_model=Page[DeliveryOut], summary="Mails sent to a person, newest first"
)
async def deliveries(
    person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[DeliveryOut]:
    await _authorize(session, principal, person_id)
    query = select(Delivery).where(Delivery.person_id == person_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Delivery.created_at.desc(), Delivery.id).limit(page.limit).offset(page.offset)
    )
    return Page(
        items=[DeliveryOut.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )
