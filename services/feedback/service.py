"""Praise and peer-rating rules, and the events each change publishes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.events import outbox, people, praise_event_data
from services.feedback.models import PeerAggregate, PeerCycle, PeerRating, Praise, PraiseReceiver
from services.feedback.repository import PeerRatingRepository, PraiseRepository
from services.feedback.schemas import PraiseCreate
from shared.auth import Principal
from shared.database import utcnow
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.events import CloudEvent
from shared.peer_ratings import MIN_PEER_RATERS, PeerAggregateComputed, aggregate_event_id, peer_score

OPEN, CLOSED, CANCELLED = "open", "closed", "cancelled"
UNKNOWN_CYCLE = "Cycle {cycle_id} takes no peer ratings (unknown here, or not launched yet)."


class PraiseService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.praise = PraiseRepository.from_session(session)

    async def give(self, data: PraiseCreate, principal: Principal) -> Praise:
        # Sorted and unique, so the answer to this request matches every later read.
        receiver_ids = sorted(set(data.receiver_ids))
        if receiver_ids == [principal.person_id]:
            raise ValidationFailed.field("receiver_ids", "praise needs someone other than yourself")
        praise = await self.praise.add(
            Praise(
                giver_id=principal.person_id,
                message=data.message,
                company_value=data.company_value,
                receivers=[PraiseReceiver(person_id=person_id) for person_id in receiver_ids],
            )
        )
        outbox.add(self.session, "praise", "given", praise_event_data(praise), subject=str(praise.id))
        return praise


class PeerRatingService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.ratings = PeerRatingRepository.from_session(session)

    async def _open_cycle(self, cycle_id: uuid.UUID) -> PeerCycle:
        cycle = await self.ratings.cycle(cycle_id)
        if cycle is None:
            raise NotFound(UNKNOWN_CYCLE.format(cycle_id=cycle_id))
        if cycle.status != OPEN:
            raise Conflict(f"Peer ratings of cycle {cycle_id} are {cycle.status}.")
        return cycle

    async def rate(
        self, cycle_id: uuid.UUID, receiver_id: uuid.UUID, rating: int, principal: Principal
    ) -> tuple[PeerRating, bool]:
        """Give or change a rating; True when it is new."""
        await self._open_cycle(cycle_id)
        if receiver_id == principal.person_id:
            raise ValidationFailed.field("receiver_id", "peers rate colleagues, not themselves")
        receiver = await people.get(self.session, receiver_id)
        if receiver is None or not receiver.active:
            raise ValidationFailed.field("receiver_id", "no active person with this id")
        existing = await self.ratings.given(cycle_id, principal.person_id, receiver_id)
        if existing is not None:
            existing.rating = rating
            await self.session.flush()
            return existing, False
        created = PeerRating(cycle_id=cycle_id, giver_id=principal.person_id, receiver_id=receiver_id, rating=rating)
        return await self.ratings.add(created), True

    async def given(
        self, cycle_id: uuid.UUID, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[PeerRating], int]:
        if await self.ratings.cycle(cycle_id) is None:
            raise NotFound(UNKNOWN_CYCLE.format(cycle_id=cycle_id))
        return await self.ratings.given_by(cycle_id, principal.person_id, limit=limit, offset=offset)

    async def withdraw(self, cycle_id: uuid.UUID, receiver_id: uuid.UUID, principal: Principal) -> None:
        await self._open_cycle(cycle_id)
        existing = await self.ratings.given(cycle_id, principal.person_id, receiver_id)
        if existing is None:
            raise NotFound(f"You have not rated {receiver_id} in cycle {cycle_id}.")
        await self.ratings.delete(existing)

    async def my_aggregate(self, cycle_id: uuid.UUID, principal: Principal) -> PeerAggregate:
        found = await self.ratings.aggregate(cycle_id, principal.person_id)
        if found is None:
            raise NotFound(f"No peer aggregate for you in cycle {cycle_id} (ratings still open, or nobody rated).")
        return found

    # --- driven by the cycle's events ----------------------------------------------------------

    async def open(self, cycle_id: uuid.UUID) -> None:
        if await self.ratings.cycle(cycle_id) is None:
            await self.ratings.add_cycle(PeerCycle(id=cycle_id, status=OPEN))

    async def close(self, cycle_id: uuid.UUID, *, cancelled: bool = False) -> int:
        """Close the cycle's ratings once; unless cancelled, publish one aggregate per rated person."""
        cycle = await self.ratings.cycle(cycle_id, for_update=True)
        if cycle is None:
            cycle = await self.ratings.add_cycle(PeerCycle(id=cycle_id, status=OPEN))
        if cycle.status != OPEN:
            return 0
        cycle.status, cycle.closed_at = (CANCELLED if cancelled else CLOSED), utcnow()
        if cancelled:
            await self.session.flush()
            return 0
        now = utcnow()
        aggregates: list[PeerAggregate] = []
        events: list[CloudEvent] = []
        for receiver_id, count, mean in await self.ratings.summaries(cycle_id):
            score = peer_score(mean) if count >= MIN_PEER_RATERS else None
            aggregates.append(PeerAggregate(cycle_id=cycle_id, person_id=receiver_id, score=score, rater_count=count))
            data = PeerAggregateComputed(
                cycle_id=cycle_id, person_id=receiver_id, score=score, rater_count=count, computed_at=now
            )
            events.append(
                outbox.event(
                    "peer-aggregate",
                    "computed",
                    data.model_dump(mode="json"),
                    subject=str(cycle_id),
                    event_id=aggregate_event_id(cycle_id, receiver_id, data.revision),
                )
            )
        await self.ratings.add_aggregates(aggregates)
        return await outbox.add_many(self.session, events)
