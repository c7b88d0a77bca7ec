"""All SQL of the reviews service."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, UnaryExpression, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import ID_LENGTH, Person, PersonEmail, path_range

# A guard against a corrupted hierarchy: no real organisation is this deep.
MAX_DEPTH = 64


class PersonRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PersonRepository:
        return cls(session)

    async def get(self, person_id: uuid.UUID) -> Person | None:
        return await self.session.get(Person, person_id)

    async def sync(self) -> tuple[int, int, datetime | None]:
        """People, the sum of their versions and the latest change: what every projection catches up to."""
        changed = func.max(func.coalesce(Person.modified_at, Person.created_at))
        row = (
            await self.session.execute(select(func.count(), func.coalesce(func.sum(Person.version), 0), changed))
        ).one()
        return int(row[0]), int(row[1]), row[2]

    async def get_by_email(self, email: str) -> Person | None:
        person: Person | None = await self.session.scalar(
            select(Person).join(PersonEmail).where(PersonEmail.value_key == email.strip().lower())
        )
        return person

    async def exists(self, person_id: uuid.UUID) -> bool:
        return await self.session.scalar(select(Person.id).where(Person.id == person_id)) is not None

    async def owners(
        self,
        *,
        user_name: str | None = None,
        external_id: str | None = None,
        email_keys: Sequence[str] = (),
    ) -> dict[str, set[uuid.UUID]]:
        """Who holds each of these keys already: ``{"user_name": {id}, "email": {ids}, ...}``."""
        found: dict[str, set[uuid.UUID]] = {}
        if user_name is not None:
            ids = await self.session.scalars(select(Person.id).where(func.lower(Person.user_name) == user_name.lower()))
            found["user_name"] = set(ids)
        if external_id is not None:
            ids = await self.session.scalars(select(Person.id).where(Person.external_id == external_id))
            found["external_id"] = set(ids)
        if email_keys:
            ids = await self.session.scalars(
                select(PersonEmail.person_id).where(PersonEmail.value_key.in_(list(email_keys)))
            )
            found["email"] = set(ids)
        return found

    def _filtered(
        self,
        *,
        active: bool | None = None,
        department: str | None = None,
        organization: str | None = None,
        division: str | None = None,
        location: str | None = None,
        ids: Sequence[uuid.UUID] | None = None,
        text: str | None = None,
        every_address: bool = False,
    ) -> Select[tuple[Person]]:
        query = select(Person)
        if text is not None:
            query = query.where(name_or_email_contains(text, every_address=every_address))
        if ids is not None:
            query = query.where(Person.id.in_(list(ids)))
        if active is not None:
            query = query.where(Person.active.is_(active))
        if department is not None:
            query = query.where(Person.department == department)
        if organization is not None:
            query = query.where(Person.organization == organization)
        if division is not None:
            query = query.where(Person.division == division)
        if location is not None:
            query = query.where(Person.location == location)
        return query

    async def search(
        self,
        where: ColumnElement[bool] | None,
        *,
        limit: int,
        offset: int,
        order_by: Sequence[UnaryExpression[Any]] = (),
    ) -> tuple[list[Person], int]:
        """People matching a SCIM filter (already turned into SQL), in ``order_by`` and then a stable order."""
        query = select(Person)
        if where is not None:
            query = query.where(where)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if limit == 0:
            return [], total
        ordered = query.order_by(*order_by, Person.created_at, Person.id)
        rows = await self.session.scalars(ordered.limit(limit).offset(offset))
        return list(rows), total

    async def add(self, person: Person) -> Person:
        self.session.add(person)
        await self.session.flush()
        return person

    # Hierarchy: one recursive query each, walking the manager_id index.

    async def manager_chain_ids(self, person_id: uuid.UUID) -> list[uuid.UUID]:
        """The ids above a person, nearest first (the person excluded)."""
        return [person.id for person, _level in await self.manager_chain(person_id)]

    async def manager_chain(self, person_id: uuid.UUID) -> list[tuple[Person, int]]:
        start = select(Person.manager_id.label("id"), literal(1).label("level")).where(Person.id == person_id)
        chain = start.cte("chain", recursive=True)
        chain = chain.union_all(
            select(Person.manager_id, chain.c.level + 1)
            .join(chain, Person.id == chain.c.id)
            .where(Person.manager_id.is_not(None), chain.c.level < MAX_DEPTH)
        )
        query = (
            select(Person, chain.c.level)
            .join(chain, Person.id == chain.c.id)
            .order_by(chain.c.level)
            .execution_options(populate_existing=False)
        )
        result = await self.session.execute(query)
        return [(row[0], int(row[1])) for row in result.all()]

    async def path_of(self, person_id: uuid.UUID) -> str | None:
        path: str | None = await self.session.scalar(select(Person.path).where(Person.id == person_id))
        return path

    async def move_subtree(self, old_path: str, new_path: str) -> None:
        """Re-root the paths of a person and everyone below them (one statement)."""
        low, high = path_range(old_path)
        await self.session.execute(
            update(Person)
            .where(Person.path >= low, Person.path < high)
            .values(path=literal(new_path) + func.substr(Person.path, len(old_path) + 1))
            .execution_options(synchronize_session=False)
        )

    def _below(self, path: str, *, all_levels: bool, person_id: uuid.UUID) -> ColumnElement[bool]:
        if not all_levels:
            return Person.manager_id == person_id
        low, high = path_range(path)
        return (Person.path > low) & (Person.path < high)

    async def reports(
        self,
        person_id: uuid.UUID,
        *,
        all_levels: bool,
        limit: int,
        offset: int,
        active: bool | None = None,
    ) -> tuple[list[tuple[Person, int]], int]:
        """A page of the people under ``person_id`` and how many there are.

        All levels: one index range on the materialized path, in org-chart order (each
        manager followed by their team). Direct reports: the manager_id index, by name.
        """
        path = await self.path_of(person_id)
        if path is None:
            return [], 0
        where = self._below(path, all_levels=all_levels, person_id=person_id)
        if active is not None:
            where = where & Person.active.is_(active)
        total = int(await self.session.scalar(select(func.count()).select_from(Person).where(where)) or 0)
        order = (Person.path,) if all_levels else (Person.display_name, Person.id)
        level = (func.length(Person.path) - len(path)) / ID_LENGTH
        rows = (
            await self.session.execute(select(Person, level).where(where).order_by(*order).limit(limit).offset(offset))
        ).all()
        return [(row[0], int(row[1])) for row in rows], total

    async def report_ids(self, person_id: uuid.UUID) -> set[uuid.UUID]:
        path = await self.path_of(person_id)
        if path is None:
            return set()
        return set(
            await self.session.scalars(select(Person.id).where(self._below(path, all_levels=True, person_id=person_id)))
        )

    async def with_reports(self, person_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of these people who manage at least one active person directly."""
        rows = await self.session.scalars(
            select(Person.manager_id).where(Person.manager_id.in_(list(person_ids)), Person.active.is_(True)).distinct()
        )
        return {manager_id for manager_id in rows if manager_id is not None}

    async def org_units(self, *, active_only: bool = True) -> list[tuple[str | None, str | None, str | None, int]]:
        query = select(Person.organization, Person.division, Person.department, func.count())
        if active_only:
            query = query.where(Person.active.is_(True))
        query = query.group_by(Person.organization, Person.division, Person.department).order_by(
            Person.organization, Person.division, Person.department
        )
        rows = (await self.session.execute(query)).all()
        return [(row[0], row[1], row[2], int(row[3])) for row in rows]

    # Last in the class: its name would shadow the builtin in the annotations below it.
    async def list(
        self,
        *,
        limit: int,
        offset: int,
        active: bool | None = None,
        department: str | None = None,
        organization: str | None = None,
        division: str | None = None,
        location: str | None = None,
        ids: Sequence[uuid.UUID] | None = None,
        text: str | None = None,
        every_address: bool = False,
    ) -> tuple[list[Person], int]:
        """A page of the directory by name; ``text``: only people whose display name or e-mail address
        contains it (see ``name_or_email_contains``)."""
        query = self._filtered(
            active=active,
            department=department,
            organization=organization,
            division=division,
            location=location,
            ids=ids,
            text=text,
            every_address=every_address,
        )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(Person.display_name, Person.id).limit(limit).offset(offset))
        return list(rows), total


def any_email_is(key: str) -> ColumnElement[bool]:
    """People holding this address (lower-cased key) among any of theirs."""
    return Person.id.in_(select(PersonEmail.person_id).where(PersonEmail.value_key == key))


def any_email_matches(condition: ColumnElement[bool]) -> ColumnElement[bool]:
    return Person.id.in_(select(PersonEmail.person_id).where(condition))


def name_or_email_contains(text: str, *, every_address: bool) -> ColumnElement[bool]:
    """People whose display name or e-mail address contains ``text``, ignoring case.

    ``%`` and ``_`` in ``text`` are literal (autoescape). The primary address only, unless
    ``every_address``: then any of the person's addresses (HR and admins see them all).
    On SQLite case is ignored for ASCII letters only; PostgreSQL folds every letter.
    """
    name = Person.display_name.icontains(text, autoescape=True)
    if every_address:
        # person_emails keeps every address lower-cased (its key), the primary one included.
        return name | any_email_matches(PersonEmail.value_key.contains(text.lower(), autoescape=True))
    return name | Person.email.icontains(text, autoescape=True)
