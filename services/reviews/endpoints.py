"""HTTP routes of the reviews service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.reviews.schemas import PersonCreate, PersonRead, PersonUpdate
from services.reviews.service import PeopleService
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.database import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/people", tags=["directory"])


@router.post("", response_model=PersonRead, status_code=status.HTTP_201_CREATED, summary="Add a person")
async def create_person(data: PersonCreate, session: SessionDep, _hr: HRPrincipal) -> PersonRead:
    person = await PeopleService(session).create(data)
    return PersonRead.model_validate(person)


@router.get("", response_model=Page[PersonRead], summary="The directory")
async def list_people(
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    active: Annotated[bool | None, Query(description="Only active (or inactive) people.")] = None,
    department: Annotated[str | None, Query(description="Only this department.")] = None,
) -> Page[PersonRead]:
    service = PeopleService(session)
    rows, total = await service.people.list(limit=page.limit, offset=page.offset, active=active, department=department)
    return Page(
        items=[PersonRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/{person_id}", response_model=PersonRead, summary="One person")
async def get_person(person_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> PersonRead:
    return PersonRead.model_validate(await PeopleService(session).get(person_id))


@router.patch("/{person_id}", response_model=PersonRead, summary="Change or deactivate a person")
async def update_person(person_id: uuid.UUID, data: PersonUpdate, session: SessionDep, _hr: HRPrincipal) -> PersonRead:
    return PersonRead.model_validate(await PeopleService(session).update(person_id, data))
