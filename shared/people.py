"""The people projection that goals, feedback and rewards keep from the directory's events.

The reviews service owns the directory; the others never read its tables. Each event
carries the person's ``version``, and an older version never overwrites a newer one, so
out-of-order or repeated delivery leaves the projection correct.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Boolean, Integer, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from shared.auth import CurrentPrincipal
from shared.database import SessionDep, UTCDateTime, utcnow
from shared.errors import NotFound
from shared.events import CloudEvent, Subscription, event_type, stream_name
from shared.pagination import Page, PageDep

PERSON_UPSERTED = event_type("reviews", "person", "upserted")
PERSON_DEACTIVATED = event_type("reviews", "person", "deactivated")
DIRECTORY_STREAM = stream_name("reviews")


class PersonEventData(BaseModel):
    """What the bus may carry about a person: ids and directory basics, nothing sensitive."""

    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    version: int
    display_name: str
    email: str
    manager_id: uuid.UUID | None = None
    department: str | None = None
    active: bool = True
    # Added with the full directory (issue 3); absent from older events, hence the defaults.
    title: str | None = None
    organization: str | None = None
    division: str | None = None
    locale: str | None = None
    timezone: str | None = None


class PersonProjectionMixin:
    __tablename__ = "people"

    if TYPE_CHECKING:
        # Mapped subclasses get SQLAlchemy's keyword constructor; the mixin alone has none.
        def __init__(self, **kwargs: Any) -> None: ...

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    manager_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    division: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # When the directory told this copy the person went from active to inactive (that event's
    # time); None while active, and when not known (left before copies kept it, or first seen inactive).
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PersonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    display_name: str
    email: str
    manager_id: uuid.UUID | None
    department: str | None
    active: bool
    title: str | None = None
    organization: str | None = None
    division: str | None = None
    deactivated_at: datetime | None = Field(
        None, description="When this service learned the person left; null while active or when not known."
    )


class PeopleSync(BaseModel):
    """How far a copy of the directory has come: equal figures in the directory and a projection
    mean the projection has applied every change (versions only grow, and a projection keeps the
    highest it saw, so the sum matches only when every person is at the directory's version)."""

    people: int = Field(description="People held, active or not.")
    versions: int = Field(description="The sum of every person's version.")
    last_synced_at: datetime | None = Field(None, description="When the latest change was applied here.")


class PeopleProjection:
    """Repository and event handler for one service's ``people`` table."""

    def __init__(self, model: type[PersonProjectionMixin]) -> None:
        self.model = model

    async def apply(self, session: AsyncSession, event: CloudEvent) -> None:
        data = PersonEventData.model_validate(event.data)
        if event.type == PERSON_DEACTIVATED:
            data.active = False
        person = await session.get(self.model, data.id, with_for_update=True)
        if person is None:
            # First seen inactive: when they left is not known here (an import of past staff).
            session.add(self.model(**data.model_dump(), synced_at=utcnow()))
            return
        if data.version < person.version:
            return
        if data.active:
            person.deactivated_at = None
        elif person.active:
            # Only the change from active counts: every later change to someone inactive is told
            # as a deactivation again.
            person.deactivated_at = event.time
        values: dict[str, Any] = data.model_dump(exclude={"id"})
        for name, value in values.items():
            setattr(person, name, value)
        person.synced_at = utcnow()

    def subscription(self, service: str) -> Subscription:
        return Subscription(
            durable=f"{service}-people",
            stream=DIRECTORY_STREAM,
            subjects=(PERSON_UPSERTED, PERSON_DEACTIVATED),
            handler=self.apply,
        )

    async def get(self, session: AsyncSession, person_id: uuid.UUID) -> PersonProjectionMixin | None:
        return await session.get(self.model, person_id)

    async def sync(self, session: AsyncSession) -> PeopleSync:
        row = (
            await session.execute(
                select(func.count(), func.coalesce(func.sum(self.model.version), 0), func.max(self.model.synced_at))
            )
        ).one()
        return PeopleSync(people=int(row[0]), versions=int(row[1]), last_synced_at=row[2])

    async def list(
        self, session: AsyncSession, *, limit: int, offset: int, active: bool | None = None
    ) -> tuple[list[PersonProjectionMixin], int]:
        query = select(self.model)
        if active is not None:
            query = query.where(self.model.active.is_(active))
        total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await session.scalars(query.order_by(self.model.display_name, self.model.id).limit(limit).offset(offset))
        return list(rows), total


def people_router(projection: PeopleProjection) -> APIRouter:
    """``GET /people`` and ``GET /people/{id}`` over the local projection (any signed-in person)."""
    router = APIRouter(prefix="/people", tags=["people"])

    @router.get("", response_model=Page[PersonOut], summary="People known to this service")
    async def list_people(
        session: SessionDep,
        _principal: CurrentPrincipal,
        page: PageDep,
        active: Annotated[bool | None, Query(description="Only active (or inactive) people.")] = None,
    ) -> Page[PersonOut]:
        rows, total = await projection.list(session, limit=page.limit, offset=page.offset, active=active)
        return Page(
            items=[PersonOut.model_validate(row) for row in rows],
            total=total,
            limit=page.limit,
            offset=page.offset,
        )

    @router.get("/sync", response_model=PeopleSync, summary="How far this service's copy of the directory has come")
    async def people_sync(session: SessionDep, _principal: CurrentPrincipal) -> PeopleSync:
        """Compare with the directory's ``GET /people/sync`` (reviews service) after an import."""
        return await projection.sync(session)

    @router.get("/{person_id}", response_model=PersonOut, summary="One person of the projection")
    async def get_person(person_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> PersonOut:
        person = await projection.get(session, person_id)
        if person is None:
            raise NotFound(f"No person with id {person_id} is known to this service.")
        return PersonOut.model_validate(person)

    return router
