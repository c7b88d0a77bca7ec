"""What the feedback service publishes and consumes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import OutboxEvent, Person, Praise
from shared.events import CloudEvent, Outbox, Subscription
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLES_STREAM
from shared.people import PeopleProjection

outbox = Outbox("feedback", OutboxEvent)
people = PeopleProjection(Person)

# Peer ratings are open while the cycle is launched or in self-assessment; any later phase closes them.
COLLECTING_PHASES = frozenset({"self_assessment"})


async def on_cycle_event(session: AsyncSession, event: CloudEvent) -> None:
    from services.feedback.service import PeerRatingService  # the service imports this module

    cycle_id = uuid.UUID(str(event.data["cycle_id"]))
    ratings = PeerRatingService(session)
    if event.type == CYCLE_CANCELLED:
        await ratings.close(cycle_id, cancelled=True)
    elif event.type == CYCLE_LAUNCHED or event.data.get("phase") in COLLECTING_PHASES:
        await ratings.open(cycle_id)
    else:
        await ratings.close(cycle_id)


cycles_subscription = Subscription(
    durable="feedback-peer-cycles",
    stream=CYCLES_STREAM,
    subjects=(CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLE_CANCELLED),
    handler=on_cycle_event,
)

subscriptions: tuple[Subscription, ...] = (people.subscription("feedback"), cycles_subscription)


class PraiseGivenData(BaseModel):
    """What the bus may carry about praise: who and which value, never the message text."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_ids: list[uuid.UUID]
    company_value: str | None


def praise_event_data(praise: Praise) -> dict[str, object]:
    return PraiseGivenData.model_validate(praise).model_dump(mode="json")
