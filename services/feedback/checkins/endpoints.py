"""Routes of 1:1 check-ins (``/checkins``): only the series' two people get anything but a 404.

HR's agenda templates (``/checkins/agenda-templates``) are the exception: company text everyone reads."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.feedback.checkins.schemas import (
    ActionCreate,
    ActionRead,
    ActionUpdate,
    AgendaCreate,
    AgendaPage,
    AgendaRead,
    AgendaTemplateCreate,
    AgendaTemplateRead,
    AgendaTemplateUpdate,
    AgendaUpdate,
    CalendarFeedCreated,
    CalendarFeedRead,
    NoteCreate,
    NoteRead,
    OccurrenceMove,
    OccurrenceRead,
    SeriesCreate,
    SeriesRead,
    SeriesUpdate,
)
from services.feedback.checkins.service import AgendaTemplateService, CheckinService
from services.feedback.keyring import KeyringDep
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.database import SessionDep
from shared.errors import Unauthorized
from shared.openapi import SecurityScheme, problems, register_security
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/checkins/series", tags=["check-ins"])
feeds = APIRouter(prefix="/checkins/calendar-feed", tags=["check-ins"])
templates = APIRouter(prefix="/checkins/agenda-templates", tags=["check-ins"])


def _service(session: SessionDep) -> CheckinService:
    return CheckinService(session)


def _with_keys(session: SessionDep, keyring: KeyringDep) -> CheckinService:
    return CheckinService(session, keyring)


def _templates(session: SessionDep) -> AgendaTemplateService:
    return AgendaTemplateService(session)


ServiceDep = Annotated[CheckinService, Depends(_service)]
TemplatesDep = Annotated[AgendaTemplateService, Depends(_templates)]
# Routes that read or write content need the key file (503 while it is unavailable).
KeyedServiceDep = Annotated[CheckinService, Depends(_with_keys)]
OCCURRENCE = "/{series_id}/occurrences/{recurrence_id}"
CALENDAR = "text/calendar; charset=utf-8"
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


@router.patch(
    "/{series_id}",
    response_model=SeriesRead,
    summary="Choose the series' agenda template, or none (either participant)",
    responses=CONFLICT,
)
async def update_series(
    series_id: uuid.UUID, data: SeriesUpdate, service: ServiceDep, principal: CurrentPrincipal
) -> SeriesRead:
    return await service.update(series_id, data, principal)


@router.get(
    "/{series_id}/calendar",
    response_class=Response,
    summary="The series as an iCalendar file (either participant)",
    responses={200: {"content": {CALENDAR: {}}, "description": "RFC 5545 text: the meetings, no agenda"}},
)
async def series_calendar(series_id: uuid.UUID, service: ServiceDep, principal: CurrentPrincipal) -> Response:
    text = await service.calendar(series_id, principal)
    disposition = f'attachment; filename="checkin-{series_id}.ics"'
    return Response(text, media_type=CALENDAR, headers={"Content-Disposition": disposition})


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


@router.get(
    OCCURRENCE + "/agenda",
    response_model=AgendaPage,
    summary="The shared agenda of one occurrence, with the agenda template's prompts",
)
async def occurrence_agenda(
    series_id: uuid.UUID, recurrence_id: str, service: KeyedServiceDep, principal: CurrentPrincipal, page: PageDep
) -> AgendaPage:
    return await service.agenda(series_id, recurrence_id, principal, limit=page.limit, offset=page.offset)


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


# --- HR's agenda templates (HR writes them; everyone signed in reads them to choose one) ----------


@templates.get("", response_model=Page[AgendaTemplateRead], summary="The agenda templates, by name")
async def list_templates(
    service: TemplatesDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    include_archived: Annotated[bool, Query(description="Also archived templates.")] = False,
) -> Page[AgendaTemplateRead]:
    items, total = await service.listed(include_archived=include_archived, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@templates.post(
    "",
    response_model=AgendaTemplateRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add an agenda template (HR)",
    responses=problems(409),
)
async def create_template(data: AgendaTemplateCreate, service: TemplatesDep, _hr: HRPrincipal) -> AgendaTemplateRead:
    return await service.create(data)


@templates.get("/{template_id}", response_model=AgendaTemplateRead, summary="One agenda template")
async def get_template(
    template_id: uuid.UUID, service: TemplatesDep, _principal: CurrentPrincipal
) -> AgendaTemplateRead:
    return await service.read(template_id)


@templates.patch(
    "/{template_id}",
    response_model=AgendaTemplateRead,
    summary="Rename, change the prompts, archive or restore (HR)",
    responses=problems(409),
)
async def update_template(
    template_id: uuid.UUID, data: AgendaTemplateUpdate, service: TemplatesDep, _hr: HRPrincipal
) -> AgendaTemplateRead:
    return await service.update(template_id, data)


@templates.delete(
    "/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Archive an agenda template (HR); the series that use it keep its prompts",
)
async def archive_template(template_id: uuid.UUID, service: TemplatesDep, _hr: HRPrincipal) -> None:
    await service.archive(template_id)


# --- the caller's calendar subscription ---------------------------------------------------------


@feeds.get("", response_model=CalendarFeedRead, summary="Whether you have a calendar subscription address")
async def get_feed(service: ServiceDep, principal: CurrentPrincipal) -> CalendarFeedRead:
    return await service.feed(principal)


@feeds.post(
    "",
    response_model=CalendarFeedCreated,
    status_code=status.HTTP_201_CREATED,
    summary="A new subscription address for all your 1:1s; the one before stops working",
)
async def new_feed(service: ServiceDep, principal: CurrentPrincipal) -> CalendarFeedCreated:
    return await service.new_feed(principal)


@feeds.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Stop your subscription address")
async def drop_feed(service: ServiceDep, principal: CurrentPrincipal) -> None:
    await service.drop_feed(principal)


FEED_HEADER = "X-Calendar-Token"


async def calendar_token(request: Request) -> str:
    """The subscription address's secret, in a header so that it stays out of URLs and their logs here.

    None is a 401; a wrong one is the calendar route's 404 (whether the secret is known is never said)."""
    token = request.headers.get(FEED_HEADER, "").strip()
    if not token:
        raise Unauthorized(f"The {FEED_HEADER} header is required.")
    return token


register_security(
    calendar_token,
    SecurityScheme(
        "calendarToken",
        {
            "type": "apiKey",
            "in": "header",
            "name": FEED_HEADER,
            "description": "The secret of a person's calendar subscription address (POST /checkins/calendar-feed).",
        },
        (401,),
    ),
)


@feeds.get(
    "/calendar",
    response_class=Response,
    summary="The calendar behind a subscription address (no sign-in: the secret is the credential)",
    responses={
        200: {"content": {CALENDAR: {}}, "description": "RFC 5545 text: every series of the address's owner"},
        **problems(404, s404="No such address, or its owner is no longer active."),
    },
)
async def feed_calendar(service: ServiceDep, token: Annotated[str, Depends(calendar_token)]) -> Response:
    text = await service.feed_calendar(token)
    return Response(text, media_type=CALENDAR, headers={"Cache-Control": "private, no-store"})
