"""All SQL of the reviews service."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import Person


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PersonRepository:
        return cls(session)

    async def get(self, person_id: uuid.UUID) -> Person | None:
        return await self.session.get(Person, person_id)

    async def get_by_email(self, email: str) -> Person | None:
        person: Person | None = await self.session.scalar(
            select(Person).where(func.lower(Person.email) == email.lower())
        )
        return person

    async def list(
        self, *, limit: int, offset: int, active: bool | None, department: str | None
    ) -> tuple[list[Person], int]:
        query = select(Person)
        if active is not None:
            query = query.where(Person.active.is_(active))
        if department is not None:
            query = query.where(Person.department == department)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(Person.display_name, Person.id).limit(limit).offset(offset))
        return list(rows), total

    async def add(self, person: Person) -> Person:
        self.session.add(person)
        await self.session.flush()
        return person
