from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.pagination import Page

AgendaText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
NoteText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10000)]
TemplateName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Prompts = Annotated[
    list[Prompt], Field(min_length=1, max_length=10, description="In the order the agenda shows them; none twice.")
]
TEMPLATE_ID = "HR's agenda template (GET /checkins/agenda-templates) whose prompts every meeting's agenda shows."


class SeriesCreate(BaseModel):
    report_id: uuid.UUID = Field(description="The report; the caller is their manager, or the report themselves.")
    rrule: str = Field(
        max_length=500,
        description="RFC 5545 RRULE value, e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=TU (no DTSTART: starts_at is it).",
    )
    starts_at: datetime = Field(
        description="The first meeting. Without an offset it is wall-clock time in the series' time zone."
    )
    timezone: str | None = Field(
        None,
        max_length=64,
        description="IANA zone; default the manager's zone in the directory, else the report's, else UTC.",
    )
    duration_minutes: int = Field(30, ge=5, le=480)
    reminder_minutes: int = Field(60, ge=0, le=7 * 24 * 60, description="How long before a meeting to remind.")
    agenda_template_id: uuid.UUID | None = Field(None, description=TEMPLATE_ID + " Not an archived one.")


class SeriesUpdate(BaseModel):
    agenda_template_id: uuid.UUID | None = Field(
        None,
        description=TEMPLATE_ID + " Null: none. Not an archived one, unless it is the series' template already.",
    )


class OccurrenceRead(BaseModel):
    recurrence_id: str = Field(description="RFC 5545 RECURRENCE-ID (original start, UTC): names it in routes.")
    original_start: datetime
    starts_at: datetime
    ends_at: datetime
    status: str = Field(description="scheduled, moved or skipped.")


class SeriesRead(BaseModel):
    id: uuid.UUID
    manager_id: uuid.UUID
    report_id: uuid.UUID
    rrule: str
    first_start: datetime
    timezone: str
    duration_minutes: int
    reminder_minutes: int
    status: str
    ended_at: datetime | None
    end_reason: str | None
    next_occurrence: OccurrenceRead | None
    agenda_template_id: uuid.UUID | None
    created_at: datetime


class OccurrenceMove(BaseModel):
    starts_at: datetime = Field(description="The new start; without an offset, wall-clock time in the series' zone.")


class AgendaCreate(BaseModel):
    text: AgendaText


class AgendaUpdate(BaseModel):
    text: AgendaText | None = None
    covered: bool | None = None


class AgendaRead(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    recurrence_id: str
    author_id: uuid.UUID
    text: str | None = Field(description="Null when it can no longer be decrypted for you (a key was erased).")
    covered: bool
    added_for: str = Field(description="RECURRENCE-ID of the occurrence it was first put on.")
    carry_count: int = Field(description="How often it moved on to the next meeting uncovered.")
    created_at: datetime


class AgendaPage(Page[AgendaRead]):
    """A page of an occurrence's talking points, with the prompts of the series' agenda template."""

    prompts: list[str] = Field(
        description="The series' agenda template's prompts as they are now (an archived template's too); "
        "[] without one. The same on every page and every occurrence: they are not stored per meeting."
    )


class AgendaTemplateCreate(BaseModel):
    name: TemplateName = Field(description="Unique among the templates, in any case.")
    prompts: Prompts


class AgendaTemplateUpdate(BaseModel):
    name: TemplateName | None = None
    prompts: Prompts | None = Field(None, description="The whole new list; the series that use it show it at once.")
    archived: bool | None = Field(
        None, description="An archived template can no longer be chosen; the series that use it keep it."
    )


class AgendaTemplateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prompts: list[str]
    archived: bool
    created_at: datetime
    modified_at: datetime | None


class ActionCreate(BaseModel):
    title: AgendaText
    owner_id: uuid.UUID = Field(description="The manager or the report of the series.")
    due_on: date | None = None


class ActionUpdate(BaseModel):
    title: AgendaText | None = None
    due_on: date | None = None
    done: bool | None = None
    owner_id: uuid.UUID | None = Field(
        None, description="Hand it to the series' manager or report (a previous manager's item too)."
    )


class ActionRead(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    recurrence_id: str
    author_id: uuid.UUID
    owner_id: uuid.UUID
    title: str | None = Field(description="Null when it can no longer be decrypted for you (a key was erased).")
    due_on: date | None
    done: bool
    created_at: datetime


class NoteCreate(BaseModel):
    text: NoteText


class NoteRead(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    recurrence_id: str
    text: str | None = Field(description="Null when it can no longer be decrypted (the key was erased).")
    created_at: datetime


class CalendarFeedRead(BaseModel):
    """Whether the caller has a subscription address; the address itself is shown only when made."""

    active: bool
    created_at: datetime | None


class CalendarFeedCreated(BaseModel):
    token: str = Field(
        description="The secret of the new address, shown this once (only its digest is stored). Whoever has it "
        "reads the caller's 1:1 times and counterparts, never agendas: treat it as a password."
    )
    created_at: datetime
