"""All SQL of check-ins."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins.models import ACTIVE
from services.feedback.models import (
    CheckinActionItem,
    CheckinAgendaItem,
    CheckinCalendarFeed,
    CheckinNote,
    CheckinOccurrence,
    CheckinSeries,
    ContentKey,
)
from shared.database import dialect_insert

T = TypeVar("T")


class CheckinRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CheckinRepository:
        return cls(session)

    async def _page(self, query: Select[tuple[T]], *order: Any, limit: int, offset: int) -> tuple[list[T], int]:
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(*order).limit(limit).offset(offset))
        return list(rows), total

    async def add(self, row: T) -> T:
        self.session.add(row)
        await self.session.flush()
        return row

    # --- series --------------------------------------------------------------------------------

    async def series(self, series_id: uuid.UUID, *, for_update: bool = False) -> CheckinSeries | None:
        query = select(CheckinSeries).where(CheckinSeries.id == series_id)
        if for_update:
            query = query.with_for_update()
        found: CheckinSeries | None = await self.session.scalar(query)
        return found

    async def active_between(self, manager_id: uuid.UUID, report_id: uuid.UUID) -> CheckinSeries | None:
        found: CheckinSeries | None = await self.session.scalar(
            select(CheckinSeries).where(
                CheckinSeries.manager_id == manager_id,
                CheckinSeries.report_id == report_id,
                CheckinSeries.status == ACTIVE,
            )
        )
        return found

    async def series_of(
        self, person_id: uuid.UUID, *, status: str | None, limit: int, offset: int
    ) -> tuple[list[CheckinSeries], int]:
        query = select(CheckinSeries).where(
            or_(CheckinSeries.manager_id == person_id, CheckinSeries.report_id == person_id)
        )
        if status is not None:
            query = query.where(CheckinSeries.status == status)
        return await self._page(query, CheckinSeries.created_at.desc(), CheckinSeries.id, limit=limit, offset=offset)

    async def all_of(self, person_id: uuid.UUID, *, limit: int) -> list[CheckinSeries]:
        """A person's series as manager or report, ended ones too, newest first."""
        rows = await self.session.scalars(
            select(CheckinSeries)
            .where(or_(CheckinSeries.manager_id == person_id, CheckinSeries.report_id == person_id))
            .order_by(CheckinSeries.created_at.desc(), CheckinSeries.id)
            .limit(limit)
        )
        return list(rows)

    async def active_with(self, person_id: uuid.UUID) -> list[CheckinSeries]:
        rows = await self.session.scalars(
            select(CheckinSeries)
            .where(
                CheckinSeries.status == ACTIVE,
                or_(CheckinSeries.manager_id == person_id, CheckinSeries.report_id == person_id),
            )
            .with_for_update()
        )
        return list(rows)

    async def due_reminders(self, now: datetime, *, limit: int) -> list[CheckinSeries]:
        rows = await self.session.scalars(
            select(CheckinSeries)
            .where(CheckinSeries.status == ACTIVE, CheckinSeries.remind_at <= now)
            .order_by(CheckinSeries.remind_at, CheckinSeries.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    # --- occurrences (exceptions to the rule only) ---------------------------------------------

    async def occurrences(self, series_id: uuid.UUID) -> dict[datetime, CheckinOccurrence]:
        rows = await self.session.scalars(select(CheckinOccurrence).where(CheckinOccurrence.series_id == series_id))
        return {row.original_start: row for row in rows}

    async def occurrence(self, series_id: uuid.UUID, original_start: datetime) -> CheckinOccurrence | None:
        found: CheckinOccurrence | None = await self.session.scalar(
            select(CheckinOccurrence).where(
                CheckinOccurrence.series_id == series_id, CheckinOccurrence.original_start == original_start
            )
        )
        return found

    # --- agenda, actions, notes ----------------------------------------------------------------

    async def agenda(
        self, series_id: uuid.UUID, original_start: datetime, *, limit: int, offset: int
    ) -> tuple[list[CheckinAgendaItem], int]:
        query = select(CheckinAgendaItem).where(
            CheckinAgendaItem.series_id == series_id, CheckinAgendaItem.occurrence_start == original_start
        )
        return await self._page(query, CheckinAgendaItem.created_at, CheckinAgendaItem.id, limit=limit, offset=offset)

    async def uncovered_before(self, series_id: uuid.UUID, moment: datetime) -> list[CheckinAgendaItem]:
        rows = await self.session.scalars(
            select(CheckinAgendaItem).where(
                CheckinAgendaItem.series_id == series_id,
                CheckinAgendaItem.covered_at.is_(None),
                CheckinAgendaItem.occurrence_start <= moment,
            )
        )
        return list(rows)

    async def agenda_item(self, series_id: uuid.UUID, item_id: uuid.UUID) -> CheckinAgendaItem | None:
        found: CheckinAgendaItem | None = await self.session.scalar(
            select(CheckinAgendaItem).where(CheckinAgendaItem.id == item_id, CheckinAgendaItem.series_id == series_id)
        )
        return found

    async def actions(
        self, series_id: uuid.UUID, *, done: bool | None, limit: int, offset: int
    ) -> tuple[list[CheckinActionItem], int]:
        query = select(CheckinActionItem).where(CheckinActionItem.series_id == series_id)
        if done is not None:
            query = query.where(CheckinActionItem.done_at.is_not(None) if done else CheckinActionItem.done_at.is_(None))
        return await self._page(query, CheckinActionItem.created_at, CheckinActionItem.id, limit=limit, offset=offset)

    async def action(self, series_id: uuid.UUID, item_id: uuid.UUID) -> CheckinActionItem | None:
        found: CheckinActionItem | None = await self.session.scalar(
            select(CheckinActionItem).where(CheckinActionItem.id == item_id, CheckinActionItem.series_id == series_id)
        )
        return found

    async def notes(
        self, series_id: uuid.UUID, author_id: uuid.UUID, *, limit: int, offset: int
    ) -> tuple[list[CheckinNote], int]:
        query = select(CheckinNote).where(CheckinNote.series_id == series_id, CheckinNote.author_id == author_id)
        return await self._page(query, CheckinNote.created_at.desc(), CheckinNote.id, limit=limit, offset=offset)

    async def has_notes(self, series_id: uuid.UUID, author_id: uuid.UUID) -> bool:
        found = await self.session.scalar(
            select(CheckinNote.id)
            .where(CheckinNote.series_id == series_id, CheckinNote.author_id == author_id)
            .limit(1)
        )
        return found is not None

    async def without_key(self, object_ids: list[uuid.UUID], reader_id: uuid.UUID) -> set[uuid.UUID]:
        held = await self.session.scalars(
            select(ContentKey.object_id).where(ContentKey.reader_id == reader_id, ContentKey.object_id.in_(object_ids))
        )
        return set(object_ids) - set(held)

    async def drop_shared_keys(self, series_id: uuid.UUID, reader_id: uuid.UUID) -> None:
        """Delete ``reader_id``'s keys to the series' agenda and action items (never to notes)."""
        shared = union_all(
            select(CheckinAgendaItem.id).where(CheckinAgendaItem.series_id == series_id),
            select(CheckinActionItem.id).where(CheckinActionItem.series_id == series_id),
        )
        await self.session.execute(
            delete(ContentKey).where(ContentKey.reader_id == reader_id, ContentKey.object_id.in_(shared))
        )

    # --- calendar subscriptions ------------------------------------------------------------------

    async def feed_of(self, person_id: uuid.UUID) -> CheckinCalendarFeed | None:
        found = await self.session.scalar(select(CheckinCalendarFeed).where(CheckinCalendarFeed.person_id == person_id))
        return found

    async def feed_by_digest(self, digest: str) -> CheckinCalendarFeed | None:
        found = await self.session.scalar(select(CheckinCalendarFeed).where(CheckinCalendarFeed.token_digest == digest))
        return found

    async def put_feed(self, person_id: uuid.UUID, digest: str, at: datetime) -> None:
        """The person's one address, new or replacing theirs in one statement: two requests at once
        (a double click) both succeed and the later one's secret stands, where a delete and an insert
        would fail the second on the unique person under read committed."""
        values = {"id": uuid.uuid4(), "person_id": person_id, "token_digest": digest, "created_at": at}
        statement = dialect_insert(self.session, CheckinCalendarFeed).values(**values)
        update = {"token_digest": digest, "created_at": at, "modified_at": at}
        await self.session.execute(statement.on_conflict_do_update(index_elements=["person_id"], set_=update))

    async def drop_feed(self, person_id: uuid.UUID) -> None:
        await self.session.execute(delete(CheckinCalendarFeed).where(CheckinCalendarFeed.person_id == person_id))
