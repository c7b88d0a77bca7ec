"""Routes of 1:1 check-ins (``/checkins``): only the series' two people get anything but a 404."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from services.feedback.checkins.schemas import (
    ActionCreate,
    ActionRead,
    ActionUpdate,
    AgendaCreate,
    AgendaRead,
    AgendaUpdate,
    NoteCreate,
    NoteRead,
    OccurrenceMove,
    OccurrenceRead,
    SeriesCreate,
    SeriesRead,
)
from services.feedback.checkins.service import CheckinService
from services.feedback.keyring import KeyringDep
from shared.auth import CurrentPrincipal
from shared.database import SessionDep
from shared.openapi import problems
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/checkins/series", tags=["check-ins"])


def _service(session: SessionDep) -> CheckinService:
    return CheckinService(session)


def _with_keys(session: SessionDep, keyring: KeyringDep) -> CheckinService:
    return CheckinService(session, keyring)


ServiceDep = Annotated[CheckinService, Depends(_service)]
# Routes that read or write content need the key file (503 while it is unavailable).
KeyedServiceDep = Annotated[CheckinService, Depends(_with_keys)]
OCCURRENCE = "/{series_id}/occurrences/{recurrence_id}"
# Statuses only these routes' own rules give (an ended series, an occurrence already over...).
CONFLICT = problems(409, s409="The series or occurrence does not allow it now.")


@router.post(
    "", response_model=SeriesRead, status_code=status.HTTP_201_CREATED, summary="Start a 1:1 series", responses=CONFLICT
)
async def create_series(data: SeriesCreate, service: ServiceDep, principal: CurrentPrincipal) -> SeriesRead:
    return await service.create(data, principal)


@router.get("", response_model=Page[SeriesRead], summary="Your series (as manager or report), newest first")
async def list_series(
    service: ServiceDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status_filter: Annotated[Literal["active", "ended"] | None, Query(alias="status")] = None,
) -> Page[SeriesRead]:
    items, total = await service.mine(principal, status=status_filter, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{series_id}", response_model=SeriesRead, summary="One series with its next occurrence")
async def get_series(series_id: uuid.UUID, service: ServiceDep, principal: CurrentPrincipal) -> SeriesRead:
    return await service.get(series_id, principal)


@router.post(
    "/{series_id}/end", response_model=SeriesRead, summary="End the series (either participant)", responses=CONFLICT
)
async def end_series(series_id: uuid.UUID, service: ServiceDep, principal: CurrentPrincipal) -> SeriesRead:
    return await service.end(series_id, principal)


@router.get(
    "/{series_id}/occurrences", response_model=Page[OccurrenceRead], summary="Occurrences in a window, in order"
)
async def list_occurrences(
    series_id: uuid.UUID,
    service: ServiceDep,
    principal: CurrentPrincipal,
    page: PageDep,
    start: Annotated[datetime | None, Query(alias="from", description="Default now.")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="Default 90 days after from; 366 at most.")] = None,
) -> Page[OccurrenceRead]:
    items, total = await service.occurrences(
        series_id, principal, start=start, end=end, limit=page.limit, offset=page.offset
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(OCCURRENCE + "/skip", response_model=OccurrenceRead, summary="Skip one occurrence", responses=CONFLICT)
async def skip_occurrence(
    series_id: uuid.UUID, recurrence_id: str, service: ServiceDep, principal: CurrentPrincipal
) -> OccurrenceRead:
    return await service.skip(series_id, recurrence_id, principal)


@router.post(OCCURRENCE + "/move", response_model=OccurrenceRead, summary="Move one occurrence", responses=CONFLICT)
async def move_occurrence(
    series_id: uuid.UUID, recurrence_id: str, data: OccurrenceMove, service: ServiceDep, principal: CurrentPrincipal
) -> OccurrenceRead:
    return await service.move(series_id, recurrence_id, data, principal)


@router.get(OCCURRENCE + "/agenda", response_model=Page[AgendaRead], summary="The shared agenda of one occurrence")
async def occurrence_agenda(
    series_id: uuid.UUID, recurrence_id: str, service: KeyedServiceDep, principal: CurrentPrincipal, page: PageDep
) -> Page[AgendaRead]:
    items, total = await service.agenda(series_id, recurrence_id, principal, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    OCCURRENCE + "/agenda",
    response_model=AgendaRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a talking point",
    responses=CONFLICT,
)
async def add_agenda_item(
    series_id: uuid.UUID, recurrence_id: str, data: AgendaCreate, service: KeyedServiceDep, principal: CurrentPrincipal
) -> AgendaRead:
    return await service.add_agenda(series_id, recurrence_id, data, principal)


@router.patch(
    "/{series_id}/agenda/{item_id}", response_model=AgendaRead, summary="Mark covered, or reword", responses=CONFLICT
)
async def update_agenda_item(
    series_id: uuid.UUID, item_id: uuid.UUID, data: AgendaUpdate, service: KeyedServiceDep, principal: CurrentPrincipal
) -> AgendaRead:
    return await service.update_agenda(series_id, item_id, data, principal)


@router.post(
    OCCURRENCE + "/action-items",
    response_model=ActionRead,
    status_code=status.HTTP_201_CREATED,
    summary="Record an action item",
    responses=CONFLICT,
)
async def add_action_item(
    series_id: uuid.UUID, recurrence_id: str, data: ActionCreate, service: KeyedServiceDep, principal: CurrentPrincipal
) -> ActionRead:
    return await service.add_action(series_id, recurrence_id, data, principal)


@router.get("/{series_id}/action-items", response_model=Page[ActionRead], summary="The series' action items")
async def list_action_items(
    series_id: uuid.UUID,
    service: KeyedServiceDep,
    principal: CurrentPrincipal,
    page: PageDep,
    done: Annotated[bool | None, Query(description="Only done (or open) items.")] = None,
) -> Page[ActionRead]:
    items, total = await service.actions(series_id, principal, done=done, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.patch(
    "/{series_id}/action-items/{item_id}",
    response_model=ActionRead,
    summary="Update an action item",
    responses=CONFLICT,
)
async def update_action_item(
    series_id: uuid.UUID, item_id: uuid.UUID, data: ActionUpdate, service: KeyedServiceDep, principal: CurrentPrincipal
) -> ActionRead:
    return await service.update_action(series_id, item_id, data, principal)


@router.post(
    OCCURRENCE + "/notes",
    response_model=NoteRead,
    status_code=status.HTTP_201_CREATED,
    summary="Write a private note (readable by you alone)",
    responses=CONFLICT,
)
async def add_note(
    series_id: uuid.UUID, recurrence_id: str, data: NoteCreate, service: KeyedServiceDep, principal: CurrentPrincipal
) -> NoteRead:
    return await service.add_note(series_id, recurrence_id, data, principal)


@router.get("/{series_id}/notes", response_model=Page[NoteRead], summary="Your own private notes, newest first")
async def list_notes(
    series_id: uuid.UUID, service: KeyedServiceDep, principal: CurrentPrincipal, page: PageDep
) -> Page[NoteRead]:
    items, total = await service.notes(series_id, principal, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
