"""All SQL of the feedback service."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import PeerAggregate, PeerCycle, PeerRating, Praise, PraiseReceiver


class PraiseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PraiseRepository:
        return cls(session)

    async def list(self, *, limit: int, offset: int, receiver_id: uuid.UUID | None) -> tuple[list[Praise], int]:
        query = select(Praise)
        if receiver_id is not None:
            query = query.where(
                select(PraiseReceiver.praise_id)
                .where(PraiseReceiver.praise_id == Praise.id, PraiseReceiver.person_id == receiver_id)
                .exists()
            )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(Praise.created_at.desc(), Praise.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), total

    async def add(self, praise: Praise) -> Praise:
        self.session.add(praise)
        await self.session.flush()
        return praise


class PeerRatingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PeerRatingRepository:
        return cls(session)

    async def cycle(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> PeerCycle | None:
        query = select(PeerCycle).where(PeerCycle.id == cycle_id)
        if for_update:
            query = query.with_for_update()
        found: PeerCycle | None = await self.session.scalar(query)
        return found

    async def add_cycle(self, cycle: PeerCycle) -> PeerCycle:
        self.session.add(cycle)
        await self.session.flush()
        return cycle

    async def given(self, cycle_id: uuid.UUID, giver_id: uuid.UUID, receiver_id: uuid.UUID) -> PeerRating | None:
        found: PeerRating | None = await self.session.scalar(
            select(PeerRating).where(
                PeerRating.cycle_id == cycle_id, PeerRating.giver_id == giver_id, PeerRating.receiver_id == receiver_id
            )
        )
        return found

    async def given_by(
        self, cycle_id: uuid.UUID, giver_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[PeerRating], int]:
        query = select(PeerRating).where(PeerRating.cycle_id == cycle_id, PeerRating.giver_id == giver_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(PeerRating.receiver_id).limit(limit).offset(offset))
        return list(rows), total

    async def add(self, rating: PeerRating) -> PeerRating:
        self.session.add(rating)
        await self.session.flush()
        return rating

    async def delete(self, rating: PeerRating) -> None:
        await self.session.delete(rating)
        await self.session.flush()

    async def summaries(self, cycle_id: uuid.UUID) -> list[tuple[uuid.UUID, int, float]]:
        """Per receiver: how many peers rated and the mean rating."""
        rows = await self.session.execute(
            select(PeerRating.receiver_id, func.count(), func.avg(PeerRating.rating))
            .where(PeerRating.cycle_id == cycle_id)
            .group_by(PeerRating.receiver_id)
            .order_by(PeerRating.receiver_id)
        )
        return [(receiver, int(count), float(mean)) for receiver, count, mean in rows]

    async def add_aggregates(self, aggregates: list[PeerAggregate]) -> None:
        self.session.add_all(aggregates)
        await self.session.flush()

    async def aggregate(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> PeerAggregate | None:
        found: PeerAggregate | None = await self.session.scalar(
            select(PeerAggregate).where(PeerAggregate.cycle_id == cycle_id, PeerAggregate.person_id == person_id)
        )
        return found
