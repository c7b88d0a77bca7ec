"""What SCIM keeps beyond the directory: deleted Users and the attributes a client left unset.

A SCIM DELETE ends the User for the provisioning client (RFC 7644 3.6: every later request
for it answers 404 and searches leave it out) but not for Meritloop: the person stays in the
directory, deactivated, so their reviews, goals and pay history keep their owner.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import Person, ScimUserState
from shared.database import utcnow

# Optional attributes the directory cannot leave empty: when a client unsets them, the
# directory keeps a derived value (the name, the userName) and SCIM does not show it.
UNSETTABLE = ("displayName", "emails")


def not_deleted() -> ColumnElement[bool]:
    """People SCIM still serves: no User of theirs was deleted."""
    return ~exists(
        select(ScimUserState.person_id).where(
            ScimUserState.person_id == Person.id, ScimUserState.deleted_at.is_not(None)
        )
    )


class ScimStates:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, person_id: uuid.UUID) -> ScimUserState | None:
        return await self.session.get(ScimUserState, person_id)

    async def many(self, person_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ScimUserState]:
        ids = list(person_ids)
        if not ids:
            return {}
        rows = await self.session.scalars(select(ScimUserState).where(ScimUserState.person_id.in_(ids)))
        return {row.person_id: row for row in rows}

    async def is_deleted(self, person_id: uuid.UUID) -> bool:
        state = await self.get(person_id)
        return state is not None and state.deleted_at is not None

    async def deleted_person(self, user_name: str) -> Person | None:
        """The deleted person with this userName (ignoring case), whom a POST brings back."""
        query = (
            select(Person)
            .join(ScimUserState, ScimUserState.person_id == Person.id)
            .where(ScimUserState.deleted_at.is_not(None), func.lower(Person.user_name) == user_name.lower())
        )
        return (await self.session.scalars(query.limit(1))).first()

    async def written(self, person: Person, unset: Iterable[str]) -> ScimUserState:
        """After a write by the client: the person is served again, with these attributes unset."""
        state = await self._state(person.id)
        state.deleted_at = None
        state.unset = sorted(set(unset))
        state.unset_version = person.version
        await self.session.flush()
        return state

    async def deleted(self, person_id: uuid.UUID) -> None:
        state = await self._state(person_id)
        state.deleted_at = utcnow()
        await self.session.flush()

    async def _state(self, person_id: uuid.UUID) -> ScimUserState:
        state = await self.get(person_id)
        if state is None:
            state = ScimUserState(person_id=person_id, unset=[], unset_version=0)
            self.session.add(state)
        return state


def unset_of(person: Person, state: ScimUserState | None) -> frozenset[str]:
    """What to leave out of the User: only while no other API changed the person since."""
    if state is None or state.unset_version != person.version:
        return frozenset()
    return frozenset(state.unset)
