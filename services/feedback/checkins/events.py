"""What check-ins publish: ids, times and reasons only, never an agenda, an action or a note."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class SeriesEventData(BaseModel):
    id: uuid.UUID
    manager_id: uuid.UUID
    report_id: uuid.UUID


class SeriesEndedData(SeriesEventData):
    reason: str


class SeriesTransferredData(SeriesEventData):
    previous_manager_id: uuid.UUID


class OccurrenceEventData(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    recurrence_id: str
    starts_at: datetime


class ActionAssignedData(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    owner_id: uuid.UUID


class ReminderDueData(BaseModel):
    id: uuid.UUID
    series_id: uuid.UUID
    occurrence_id: uuid.UUID
    recurrence_id: str
    manager_id: uuid.UUID
    report_id: uuid.UUID
    starts_at: datetime


def occurrence_id(series_id: uuid.UUID, recurrence_id: str) -> uuid.UUID:
    """Stable whether or not the occurrence has a row: derived from the series and original start."""
    return uuid.uuid5(series_id, f"checkin-occurrence:{recurrence_id}")


def reminder_event_id(series_id: uuid.UUID, recurrence_id: str, starts_at: datetime) -> uuid.UUID:
    """One reminder per occurrence and start time: a second sweep's event is a JetStream duplicate,
    and a moved occurrence gets a reminder of its own for its new time."""
    return uuid.uuid5(series_id, f"checkin-reminder:{recurrence_id}:{starts_at.isoformat()}")
