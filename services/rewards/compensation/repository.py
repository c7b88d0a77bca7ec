"""All SQL about compensation records."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import CompensationRecord, PayBand, Person, WorkerCategory


class CompensationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CompensationRepository:
        return cls(session)

    async def known_people(self, person_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
        wanted = set(person_ids)
        if not wanted:
            return set()
        return set(await self.session.scalars(select(Person.id).where(Person.id.in_(wanted))))

    async def existing(self, person_ids: Iterable[uuid.UUID]) -> dict[tuple[uuid.UUID, date], CompensationRecord]:
        """Every record of these people, by ``(person_id, effective_date)``."""
        wanted = set(person_ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(CompensationRecord).where(CompensationRecord.person_id.in_(wanted)))
        return {(row.person_id, row.effective_date): row for row in rows}

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CompensationRecord]:
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(CompensationRecord).where(CompensationRecord.id.in_(wanted)))
        return {row.id: row for row in rows}

    async def category_codes(self) -> set[str]:
        return set(await self.session.scalars(select(WorkerCategory.code)))

    async def add_all(self, records: Sequence[CompensationRecord]) -> None:
        self.session.add_all(records)
        await self.session.flush()

    def _current(self, today: date, people: set[uuid.UUID] | None = None) -> Select[tuple[CompensationRecord, PayBand]]:
        effective = func.max(CompensationRecord.effective_date).label("effective")
        query = select(CompensationRecord.person_id, effective).where(CompensationRecord.effective_date <= today)
        if people is not None:
            # In the grouping itself: SQLite does not push the outer filter down, and grouped every record.
            query = query.where(CompensationRecord.person_id.in_(people))
        latest = query.group_by(CompensationRecord.person_id).subquery()
        return (
            select(CompensationRecord, PayBand)
            .join(
                latest,
                and_(
                    CompensationRecord.person_id == latest.c.person_id,
                    CompensationRecord.effective_date == latest.c.effective,
                ),
            )
            .join(PayBand, PayBand.id == CompensationRecord.pay_band_id)
        )

    async def current(
        self, person_ids: Iterable[uuid.UUID], today: date
    ) -> dict[uuid.UUID, tuple[CompensationRecord, PayBand]]:
        """Each person's current record (latest effective on or before ``today``) and its band."""
        wanted = set(person_ids)
        if not wanted:
            return {}
        rows = await self.session.execute(self._current(today, wanted))
        return {record.person_id: (record, band) for record, band in rows.tuples()}

    async def history(self, person_id: uuid.UUID) -> list[tuple[CompensationRecord, PayBand]]:
        rows = await self.session.execute(
            select(CompensationRecord, PayBand)
            .join(PayBand, PayBand.id == CompensationRecord.pay_band_id)
            .where(CompensationRecord.person_id == person_id)
            .order_by(CompensationRecord.effective_date.desc())
        )
        return list(rows.tuples())

    async def list_current(
        self, *, today: date, limit: int, offset: int, department: str | None, currency: str | None
    ) -> tuple[list[tuple[CompensationRecord, PayBand, Person]], int]:
        query: Select[Any] = (
            self._current(today).add_columns(Person).join(Person, Person.id == CompensationRecord.person_id)
        )
        if department is not None:
            query = query.where(Person.department == department)
        if currency is not None:
            query = query.where(CompensationRecord.currency == currency)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.execute(query.order_by(Person.display_name, Person.id).limit(limit).offset(offset))
        return [(row[0], row[1], row[2]) for row in rows.all()], total
