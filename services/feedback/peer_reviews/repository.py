"""All SQL of 360 rounds."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import PeerAnswer, PeerRound, PeerRoundPeer


class PeerRoundRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PeerRoundRepository:
        return cls(session)

    async def of(self, cycle_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False) -> PeerRound | None:
        query = select(PeerRound).where(PeerRound.cycle_id == cycle_id, PeerRound.person_id == person_id)
        if for_update:
            query = query.with_for_update()
        found: PeerRound | None = await self.session.scalar(query)
        return found

    async def get(self, round_id: uuid.UUID, *, for_update: bool = False) -> PeerRound | None:
        found: PeerRound | None = await self.session.get(PeerRound, round_id, with_for_update=for_update)
        return found

    async def subjects(self, cycle_id: uuid.UUID) -> set[uuid.UUID]:
        return set(await self.session.scalars(select(PeerRound.person_id).where(PeerRound.cycle_id == cycle_id)))

    async def invitation(self, task_id: str, *, for_update: bool = False) -> PeerRoundPeer | None:
        query = select(PeerRoundPeer).where(PeerRoundPeer.task_id == task_id)
        if for_update:
            query = query.with_for_update()
        found: PeerRoundPeer | None = await self.session.scalar(query)
        return found

    async def add(self, peer_round: PeerRound, peers: list[PeerRoundPeer]) -> PeerRound:
        self.session.add(peer_round)
        await self.session.flush()
        self.session.add_all(peers)
        await self.session.flush()
        return peer_round

    async def add_answer(self, answer: PeerAnswer) -> None:
        self.session.add(answer)
        await self.session.flush()

    async def answers(self, round_id: uuid.UUID) -> list[PeerAnswer]:
        # By a random position: neither insertion order nor time says who answered.
        query = select(PeerAnswer).where(PeerAnswer.round_id == round_id).order_by(PeerAnswer.position, PeerAnswer.id)
        return list(await self.session.scalars(query))
