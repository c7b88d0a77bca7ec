"""Check-ins follow the directory: a leaver's series end, a new manager takes the report's series.

They ride the feedback service's own people consumer (``feedback-people``): each person event
first updates the projection, then the series, in the same transaction. One durable consumer
means no new NATS permission, and the projection is current when the series are looked at.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins.service import CheckinService
from services.feedback.events import people
from shared.events import CloudEvent, Subscription
from shared.people import PERSON_DEACTIVATED, PersonEventData


async def on_person_event(session: AsyncSession, event: CloudEvent) -> None:
    await people.apply(session, event)
    data = PersonEventData.model_validate(event.data)
    await CheckinService(session).follow_person(data, deactivated=event.type == PERSON_DEACTIVATED)


def people_subscription() -> Subscription:
    """The projection's subscription, with a handler that also moves the check-in series on."""
    return replace(people.subscription("feedback"), handler=on_person_event)
