"""Check-ins follow the directory: a leaver's series end, a new manager takes the report's series.

A durable consumer of its own on the directory's person events, so the people projection's
consumer stays as it is; stale events are recognised by the person's version.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins.service import CheckinService
from shared.events import CloudEvent, Subscription
from shared.people import DIRECTORY_STREAM, PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData


async def on_person_event(session: AsyncSession, event: CloudEvent) -> None:
    data = PersonEventData.model_validate(event.data)
    await CheckinService(session).follow_person(data, deactivated=event.type == PERSON_DEACTIVATED)


subscriptions: tuple[Subscription, ...] = (
    Subscription(
        durable="feedback-checkin-people",
        stream=DIRECTORY_STREAM,
        subjects=(PERSON_UPSERTED, PERSON_DEACTIVATED),
        handler=on_person_event,
    ),
)
