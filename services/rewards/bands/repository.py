"""All SQL about pay bands."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import PayBand


class PayBandRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PayBandRepository:
        return cls(session)

    async def get_by_grade(self, grade: str, currency: str) -> PayBand | None:
        # Through a local: mypy infers Any for ``return await session.scalar(...)``.
        band = await self.session.scalar(select(PayBand).where(PayBand.grade == grade, PayBand.currency == currency))
        return band

    async def get(self, band_id: uuid.UUID) -> PayBand | None:
        return await self.session.get(PayBand, band_id)

    async def by_keys(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PayBand]:
        """The bands of these ``(grade, currency)`` pairs that exist, by pair."""
        wanted = set(keys)
        if not wanted:
            return {}
        grades = {grade for grade, _ in wanted}
        rows = await self.session.scalars(select(PayBand).where(PayBand.grade.in_(grades)))
        return {(band.grade, band.currency): band for band in rows if (band.grade, band.currency) in wanted}

    async def list(self, *, limit: int, offset: int, currency: str | None) -> tuple[list[PayBand], int]:
        query = select(PayBand)
        if currency is not None:
            query = query.where(PayBand.currency == currency)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(PayBand.currency, PayBand.grade, PayBand.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def add(self, band: PayBand) -> PayBand:
        self.session.add(band)
        await self.session.flush()
        return band
