"""What the feedback service consumes: person events (the people projection) and the reviews
service's cycle events, which open and close peer ratings (contract in ``shared.peer_ratings``)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins.consumers import people_subscription
from services.feedback.service import PeerRatingService
from services.feedback.upward import cycles as upward_cycles
from shared.events import CloudEvent, Subscription
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLES_STREAM
from shared.settings import get_settings

# Peer ratings are open while the cycle is launched or in self-assessment; any later phase closes them.
COLLECTING_PHASES = frozenset({"self_assessment"})


async def on_cycle_event(session: AsyncSession, event: CloudEvent) -> None:
    cycle_id = uuid.UUID(str(event.data["cycle_id"]))
    ratings = PeerRatingService(session)
    if event.type == CYCLE_CANCELLED:
        await ratings.close(cycle_id, cancelled=True)
    elif event.type == CYCLE_LAUNCHED or event.data.get("phase") in COLLECTING_PHASES:
        await ratings.open(cycle_id)
    else:
        await ratings.close(cycle_id, min_raters=get_settings().feedback_peer_min_raters)


cycles_subscription = Subscription(
    durable="feedback-peer-cycles",
    stream=CYCLES_STREAM,
    subjects=(CYCLE_LAUNCHED, CYCLE_PHASE_OPENED, CYCLE_CANCELLED),
    handler=on_cycle_event,
)

# The people consumer also moves 1:1 check-in series on (leavers, new managers).
# Upward feedback asked for by a cycle follows the same events on a durable of its own.
subscriptions: tuple[Subscription, ...] = (
    people_subscription(),
    cycles_subscription,
    upward_cycles.cycles_subscription,
)
