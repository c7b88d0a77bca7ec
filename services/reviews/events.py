"""What the reviews service publishes and consumes."""

from __future__ import annotations

from services.reviews.models import OutboxEvent, Person
from shared.events import Outbox, Subscription
from shared.people import PersonEventData

outbox = Outbox("reviews", OutboxEvent)

# The reviews service owns the directory, so it consumes nothing yet.
subscriptions: tuple[Subscription, ...] = ()


def person_event_data(person: Person) -> dict[str, object]:
    return PersonEventData.model_validate(person, from_attributes=True).model_dump(mode="json")


def person_verb(person: Person) -> str:
    return "upserted" if person.active else "deactivated"
