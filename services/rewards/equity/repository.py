"""All SQL of the pay-equity reports: everyone's record on a reference date, as plain rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Float, String, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import CompensationRecord, Person


class PayColumns(NamedTuple):
    """The records of a report as columns, in the cheapest types the driver gives.

    ``person_ids`` are strings (UUID hex on SQLite, UUIDs on PostgreSQL: ``uuid.UUID(str(x))``
    reads both); amounts floats (or Decimals on PostgreSQL); ``hire_dates`` ISO strings or
    dates. Converting 100,000 rows to UUID, Decimal and date objects took seconds.
    """

    person_ids: tuple[Any, ...]
    currencies: tuple[str, ...]
    base: tuple[Any, ...]
    variable: tuple[Any, ...]
    fte: tuple[Any, ...]
    gender: tuple[str | None, ...]
    job_level: tuple[str | None, ...]
    job_family: tuple[str | None, ...]
    worker_category: tuple[str | None, ...]
    employment_type: tuple[str | None, ...]
    location: tuple[str | None, ...]
    hire_dates: tuple[Any, ...]


class EquityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> EquityRepository:
        return cls(session)

    async def on(self, reference_date: date) -> PayColumns:
        """The record in force on ``reference_date`` of each person employed then, as columns.

        Employed then: active now, or left after that day (``deactivated_at``); someone who
        left that day or before, or at a time not known, is not in it. One scan of the records,
        the latest per person picked here, and the (few) leavers excluded by id: on SQLite the
        join to people and the grouped subquery took three times as long as the scan for
        100,000 records.
        """
        day_after = datetime.combine(reference_date + timedelta(days=1), time.min, tzinfo=UTC)
        # Same column type as the records' person_id below, so the two compare on any driver.
        inactive = set(
            await self.session.scalars(
                select(type_coerce(Person.id, String)).where(
                    Person.active.is_(False),
                    or_(Person.deactivated_at.is_(None), Person.deactivated_at < day_after),
                )
            )
        )
        record = CompensationRecord
        query = (
            select(
                type_coerce(record.person_id, String),
                record.currency,
                type_coerce(record.base_salary, Float),
                type_coerce(record.variable_pay, Float),
                type_coerce(record.fte, Float),
                record.gender,
                record.job_level,
                record.job_family,
                record.worker_category,
                record.employment_type,
                record.location,
                type_coerce(record.hire_date, String),
                type_coerce(record.effective_date, String),
            )
            .where(record.effective_date <= reference_date)
            .order_by(record.person_id, record.effective_date)
        )
        # Core, not the ORM session's execute: its per-row loading took half of the time.
        connection = await self.session.connection()
        rows = (await connection.execute(query)).tuples()
        # Ordered by person, then effective date: the dictionary keeps each person's latest
        # record, in person order (deterministic ties in the quartile ranking).
        latest = {row[0]: row for row in rows}
        kept = [row for key, row in latest.items() if key not in inactive] if inactive else list(latest.values())
        if not kept:
            return PayColumns(*(() for _ in PayColumns._fields))
        return PayColumns(*list(zip(*kept, strict=True))[:12])
