"""All SQL about exchange rates."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards import rules
from services.rewards.models import ExchangeRate, ExchangeRateChange


class ExchangeRateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ExchangeRateRepository:
        return cls(session)

    async def lock(self) -> None:
        """Rate writers take turns until the transaction ends; the first statement of a rate write.

        The first rate fixes the base: two first rates against different bases must not both
        see an empty table, nor two rates of one currency and day both see none. SQLite has one
        writer at a time, but its reads before a transaction's first write take no lock: a write
        that changes nothing takes the write lock first (waiting as long as the busy timeout lets it).
        """
        connection = await self.session.connection()
        if connection.dialect.name == "postgresql":
            await connection.execute(text("LOCK TABLE exchange_rates IN SHARE ROW EXCLUSIVE MODE"))
        else:
            await connection.execute(text("UPDATE exchange_rates SET currency = currency WHERE currency = ''"))

    async def base(self) -> str | None:
        found = await self.session.scalar(select(ExchangeRate.base).limit(1))
        return found

    async def get(self, currency: str, effective_date: date) -> ExchangeRate | None:
        found = await self.session.scalar(
            select(ExchangeRate).where(ExchangeRate.currency == currency, ExchangeRate.effective_date == effective_date)
        )
        return found

    async def of_days(self, currencies: set[str], days: set[date]) -> dict[tuple[str, date], ExchangeRate]:
        """The stored rates of these currencies on these days (a file's worth: a few thousand at most)."""
        rows = await self.session.scalars(
            select(ExchangeRate).where(ExchangeRate.currency.in_(currencies), ExchangeRate.effective_date.in_(days))
        )
        return {(row.currency, row.effective_date): row for row in rows}

    async def add(self, rate: ExchangeRate) -> None:
        self.session.add(rate)
        await self.session.flush()

    async def delete(self, rate: ExchangeRate) -> None:
        await self.session.delete(rate)
        await self.session.flush()

    async def page(self, *, currency: str | None, limit: int, offset: int) -> tuple[list[ExchangeRate], int]:
        query = select(ExchangeRate)
        if currency is not None:
            query = query.where(ExchangeRate.currency == currency)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(ExchangeRate.effective_date.desc(), ExchangeRate.currency).limit(limit).offset(offset)
        )
        return list(rows), total

    async def add_change(self, change: ExchangeRateChange) -> None:
        self.session.add(change)
        await self.session.flush()

    async def changes(
        self, *, currency: str | None, effective_date: date | None, limit: int, offset: int
    ) -> tuple[list[ExchangeRateChange], int]:
        query = select(ExchangeRateChange)
        if currency is not None:
            query = query.where(ExchangeRateChange.currency == currency)
        if effective_date is not None:
            query = query.where(ExchangeRateChange.effective_date == effective_date)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(ExchangeRateChange.created_at.desc(), ExchangeRateChange.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def up_to(self, on: date) -> list[ExchangeRate]:
        """Every rate effective on or before ``on``: a few per currency and year, read whole."""
        rows = await self.session.scalars(select(ExchangeRate).where(ExchangeRate.effective_date <= on))
        return list(rows)


def rate_of(row: ExchangeRate) -> rules.Rate:
    return rules.Rate(row.currency, row.rate, row.effective_date)
