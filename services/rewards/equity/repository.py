"""All SQL of the pay-equity reports: everyone's record on a reference date, as plain rows."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import CompensationRecord, Person


class PayRow(NamedTuple):
    person_id: uuid.UUID
    currency: str
    base_salary: Decimal
    variable_pay: Decimal
    fte: Decimal
    gender: str | None
    job_level: str | None
    job_family: str | None
    worker_category: str | None
    employment_type: str | None
    location: str | None
    hire_date: date | None


class EquityRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> EquityRepository:
        return cls(session)

    async def on(self, reference_date: date) -> list[PayRow]:
        """Each active person's record in force on ``reference_date`` (columns only: no ORM objects)."""
        latest = (
            select(CompensationRecord.person_id, func.max(CompensationRecord.effective_date).label("effective"))
            .where(CompensationRecord.effective_date <= reference_date)
            .group_by(CompensationRecord.person_id)
            .subquery()
        )
        record = CompensationRecord
        query = (
            select(
                record.person_id,
                record.currency,
                record.base_salary,
                record.variable_pay,
                record.fte,
                record.gender,
                record.job_level,
                record.job_family,
                record.worker_category,
                record.employment_type,
                record.location,
                record.hire_date,
            )
            .join(latest, and_(record.person_id == latest.c.person_id, record.effective_date == latest.c.effective))
            .join(Person, Person.id == record.person_id)
            .where(Person.active.is_(True))
            .order_by(record.person_id)
        )
        return [PayRow(*row) for row in (await self.session.execute(query)).tuples()]
