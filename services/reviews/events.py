"""What the reviews service publishes and consumes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, cast

from opentelemetry import propagate
from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.cycles.consumers import cycle_subscriptions
from services.reviews.models import OutboxEvent, Person
from shared.events import CloudEvent, Outbox, Subscription
from shared.events.outbox import WAKE_RELAY
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData

outbox = Outbox("reviews", OutboxEvent)

# Review cycles consume leavers (from its own stream), goal scores and pay approvals.
subscriptions: tuple[Subscription, ...] = cycle_subscriptions

EVENT_FIELDS = frozenset(PersonEventData.model_fields)


def person_event_data(person: Person | dict[str, Any]) -> dict[str, object]:
    """Only what PersonEventData names travels: never salary, gender or any sensitive field."""
    if isinstance(person, dict):
        return PersonEventData.model_validate({k: v for k, v in person.items() if k in EVENT_FIELDS}).model_dump(
            mode="json"
        )
    return PersonEventData.model_validate(person, from_attributes=True).model_dump(mode="json")


def person_verb(person: Person | dict[str, Any]) -> str:
    active = person["active"] if isinstance(person, dict) else person.active
    return "upserted" if active else "deactivated"


async def add_person_events(session: AsyncSession, people: Iterable[dict[str, Any]]) -> int:
    """Outbox rows for many people in one executemany: what ``outbox.add`` writes, row for row.

    The importer changes thousands of people in one transaction; building an ORM object per
    event costs more than the change itself.
    """
    headers: dict[str, str] = {}
    propagate.inject(headers)
    encoded_headers = json.dumps(headers)
    rows: list[dict[str, Any]] = []
    for person in people:
        verb = person_verb(person)
        event = CloudEvent(
            source=outbox.source,
            type=PERSON_UPSERTED if verb == "upserted" else PERSON_DEACTIVATED,
            subject=str(person["id"]),
            data=person_event_data(person),
        )
        rows.append(
            {
                "id": event.id,
                "subject": event.nats_subject,
                "payload": event.model_dump_json(),
                "headers": encoded_headers,
                "created_at": event.time,
                "attempts": 0,
            }
        )
    if rows:
        await session.execute(insert(cast(Table, OutboxEvent.__table__)), rows)
        session.info[WAKE_RELAY] = True
    return len(rows)
