"""What the rewards service publishes and consumes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict

from services.rewards.models import OutboxEvent, PayBand, Person
from shared.events import Outbox, Subscription
from shared.people import PeopleProjection

outbox = Outbox("rewards", OutboxEvent)
people = PeopleProjection(Person)

subscriptions: tuple[Subscription, ...] = (people.subscription("rewards"),)


class PayBandCreatedData(BaseModel):
    """What the bus may carry about a pay band: its identity, never an amount."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grade: str
    currency: str


def pay_band_event_data(band: PayBand) -> dict[str, object]:
    return PayBandCreatedData.model_validate(band).model_dump(mode="json")
