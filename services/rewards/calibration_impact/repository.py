"""All SQL of calibration's impact: each person's current record with its band's midpoint, as plain rows."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Float, String, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import CompensationRecord, PayBand, PayProposal, Person


def key_of(value: Any) -> str:
    """One spelling of a person id whatever the driver gives (UUID hex on SQLite, UUID on PostgreSQL)."""
    return str(value).replace("-", "").lower()


class Record(NamedTuple):
    """One person's record in force, in the cheapest types the driver gives (floats, ISO strings)."""

    person_key: str
    currency: str
    base: float
    variable: float
    fte: float
    gender: str | None
    job_level: str | None
    job_family: str | None
    worker_category: str | None
    employment_type: str | None
    location: str | None
    hire_date: Any
    midpoint: float


class ImpactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ImpactRepository:
        return cls(session)

    async def records(self, on: date, people: set[str]) -> dict[str, Record]:
        """The record in force on ``on`` of each person in ``people`` (keys as ``key_of``).

        One ordered scan through Core, like the pay-equity reports: for a 10,000-person session
        an ``IN`` list would need chunking on SQLite, and ORM objects cost seconds.
        """
        record, band = CompensationRecord, PayBand
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
                type_coerce(band.midpoint, Float),
            )
            .join(band, band.id == record.pay_band_id)
            .where(record.effective_date <= on)
            .order_by(record.person_id, record.effective_date)
        )
        connection = await self.session.connection()
        found: dict[str, Record] = {}
        for row in (await connection.execute(query)).tuples():
            key = key_of(row[0])
            if key in people:
                found[key] = Record(key, *row[1:])  # later rows (newer dates) win
        return found

    async def departments(self) -> dict[str, str | None]:
        connection = await self.session.connection()
        rows = await connection.execute(select(type_coerce(Person.id, String), Person.department))
        return {key_of(person): department for person, department in rows.tuples()}

    async def final_ratings(self, cycle_id: uuid.UUID) -> list[tuple[uuid.UUID, Decimal, Decimal, Decimal]]:
        """(person, rating, scale_min, scale_max) of every final rating the cycle's proposals hold."""
        rows = await self.session.execute(
            select(PayProposal.person_id, PayProposal.rating, PayProposal.scale_min, PayProposal.scale_max).where(
                PayProposal.cycle_id == cycle_id
            )
        )
        return [(person, rating, low, high) for person, rating, low, high in rows.tuples()]
