"""All SQL of the feedback service."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import Praise, PraiseReceiver


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
