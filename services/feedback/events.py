"""What the feedback service publishes (its consumers are in ``consumers.py``)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from services.feedback.models import OutboxEvent, Person, Praise
from shared.events import Outbox
from shared.people import PeopleProjection

outbox = Outbox("feedback", OutboxEvent)
people = PeopleProjection(Person)


class PraiseGivenData(BaseModel):
    """What the bus may carry about praise: who and which value, never the message text."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_ids: list[uuid.UUID]
    company_value: str | None


def praise_event_data(praise: Praise) -> dict[str, object]:
    return PraiseGivenData.model_validate(praise).model_dump(mode="json")
