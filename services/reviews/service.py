"""Directory rules: validation, versioning and the events each change publishes."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.events import outbox, person_event_data, person_verb
from services.reviews.models import Person
from services.reviews.repository import PersonRepository
from services.reviews.schemas import PersonCreate, PersonUpdate
from shared.errors import Conflict, NotFound, ValidationFailed


class PeopleService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.people = PersonRepository.from_session(session)

    async def get(self, person_id: uuid.UUID) -> Person:
        person = await self.people.get(person_id)
        if person is None:
            raise NotFound(f"No person with id {person_id}.")
        return person

    async def create(self, data: PersonCreate) -> Person:
        if await self.people.get_by_email(data.email) is not None:
            raise Conflict(f"A person with email {data.email} already exists.", field="email")
        if data.manager_id is not None:
            await self._require_manager(data.manager_id)
        person = await self.people.add(
            Person(
                email=data.email,
                display_name=data.display_name,
                manager_id=data.manager_id,
                department=data.department,
                active=True,
                version=1,
            )
        )
        self._publish(person)
        return person

    async def update(self, person_id: uuid.UUID, data: PersonUpdate) -> Person:
        person = await self.get(person_id)
        changes = data.model_dump(exclude_unset=True)
        if "email" in changes and changes["email"] is not None:
            other = await self.people.get_by_email(changes["email"])
            if other is not None and other.id != person.id:
                raise Conflict(f"A person with email {changes['email']} already exists.", field="email")
        if changes.get("manager_id") is not None:
            await self._require_manager(changes["manager_id"], for_person=person.id)
        for name, value in changes.items():
            if value is None and name not in {"manager_id", "department"}:
                raise ValidationFailed.field(name, "may not be null")
            setattr(person, name, value)
        if changes:
            person.version += 1
            await self.session.flush()
            self._publish(person)
        return person

    def _publish(self, person: Person) -> None:
        outbox.add(self.session, "person", person_verb(person), person_event_data(person), subject=str(person.id))

    async def _require_manager(self, manager_id: uuid.UUID, *, for_person: uuid.UUID | None = None) -> None:
        if for_person is not None and manager_id == for_person:
            raise ValidationFailed.field("manager_id", "a person cannot be their own manager")
        if await self.people.get(manager_id) is None:
            raise ValidationFailed.field("manager_id", f"no person with id {manager_id}")
        if for_person is not None and manager_id in await self._reports_of(for_person):
            raise ValidationFailed.field("manager_id", "this manager reports to the person (a cycle)")

    async def _reports_of(self, person_id: uuid.UUID) -> set[uuid.UUID]:
        # One recursive query, however deep the tree.
        tree = select(Person.id).where(Person.manager_id == person_id).cte(recursive=True)
        tree = tree.union_all(select(Person.id).where(Person.manager_id == tree.c.id))
        return set(await self.session.scalars(select(tree.c.id)))
