"""What the feedback service publishes (its consumers are in ``consumers.py``)."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict

from services.feedback.models import OutboxEvent, Person, Praise
from shared.events import Outbox
from shared.people import PeopleProjection

outbox = Outbox("feedback", OutboxEvent)
people = PeopleProjection(Person)


class PraiseGivenData(BaseModel):
    """What the bus may carry about praise: who and which value (by id), never the message text."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_ids: list[uuid.UUID]
    company_value_id: uuid.UUID | None


def praise_event_data(praise: Praise) -> dict[str, object]:
    return PraiseGivenData.model_validate(praise).model_dump(mode="json")


# Written feedback, requests and shares: ids and dates only. Never text, never a question,
# and never the giver of an item (the receiver's notification needs only the receiver).


class FeedbackGivenData(BaseModel):
    id: uuid.UUID
    receiver_id: uuid.UUID
    request_id: uuid.UUID | None


class FeedbackSharedData(BaseModel):
    id: uuid.UUID
    item_id: uuid.UUID
    receiver_id: uuid.UUID
    manager_id: uuid.UUID


class FeedbackRequestedData(BaseModel):
    id: uuid.UUID
    requester_id: uuid.UUID
    recipient_ids: list[uuid.UUID]
    due_on: date


class RequestResponseData(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    person_id: uuid.UUID


class ReminderDueData(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    person_id: uuid.UUID
    due_on: date


class PersonErasedData(BaseModel):
    id: uuid.UUID
    person_id: uuid.UUID


def reminder_event_id(request_id: uuid.UUID, person_id: uuid.UUID) -> uuid.UUID:
    """One reminder per asked person and request: a second sweep's event is a JetStream duplicate."""
    return uuid.uuid5(request_id, f"feedback-request-reminder:{person_id}")
