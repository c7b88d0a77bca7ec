"""All SQL of the feedback service."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Generic, TypeVar

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.models import (
    CheckinAgendaTemplate,
    CompanyValue,
    Competency,
    ContentKey,
    FeedbackItem,
    FeedbackRequest,
    FeedbackRequestRecipient,
    FeedbackShare,
    PeerAggregate,
    PeerCycle,
    PeerRating,
    Praise,
    PraiseReceiver,
)

# A list HR keeps: entries with a name unique in any case, archived rather than deleted.
Entry = TypeVar("Entry", CompanyValue, Competency, CheckinAgendaTemplate)


class PraiseRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PraiseRepository:
        return cls(session)

    async def list(self, *, limit: int, offset: int, receiver_id: uuid.UUID | None) -> tuple[list[Praise], int]:
        query = select(Praise)
        if receiver_id is not None:
            query = query.where(
                select(PraiseReceiver.praise_id)
                .where(PraiseReceiver.praise_id == Praise.id, PraiseReceiver.person_id == receiver_id)
                .exists()
            )
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(Praise.created_at.desc(), Praise.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), total

    async def add(self, praise: Praise) -> Praise:
        self.session.add(praise)
        await self.session.flush()
        return praise


class PeerRatingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PeerRatingRepository:
        return cls(session)

    async def cycle(
        self, cycle_id: uuid.UUID, *, for_update: bool = False, for_share: bool = False
    ) -> PeerCycle | None:
        query = select(PeerCycle).where(PeerCycle.id == cycle_id)
        if for_update or for_share:
            query = query.with_for_update(read=not for_update)
        found: PeerCycle | None = await self.session.scalar(query)
        return found

    async def add_cycle(self, cycle: PeerCycle) -> PeerCycle:
        self.session.add(cycle)
        await self.session.flush()
        return cycle

    async def given(self, cycle_id: uuid.UUID, giver_tag: bytes, receiver_id: uuid.UUID) -> PeerRating | None:
        found: PeerRating | None = await self.session.scalar(
            select(PeerRating).where(
                PeerRating.cycle_id == cycle_id,
                PeerRating.giver_tag == giver_tag,
                PeerRating.receiver_id == receiver_id,
            )
        )
        return found

    async def given_by(
        self, cycle_id: uuid.UUID, giver_tag: bytes, *, limit: int, offset: int
    ) -> tuple[list[PeerRating], int]:
        query = select(PeerRating).where(PeerRating.cycle_id == cycle_id, PeerRating.giver_tag == giver_tag)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(PeerRating.receiver_id).limit(limit).offset(offset))
        return list(rows), total

    async def add(self, rating: PeerRating) -> PeerRating:
        self.session.add(rating)
        await self.session.flush()
        return rating

    async def delete(self, rating: PeerRating) -> None:
        await self.session.delete(rating)
        await self.session.flush()

    async def sealed(self, cycle_id: uuid.UUID) -> list[tuple[uuid.UUID, uuid.UUID, bytes, bytes]]:
        """Every rating of the cycle as stored: id, receiver, giver's tag and the sealed value."""
        rows = await self.session.execute(
            select(PeerRating.id, PeerRating.receiver_id, PeerRating.giver_tag, PeerRating.sealed_rating).where(
                PeerRating.cycle_id == cycle_id
            )
        )
        return [(row_id, receiver, bytes(tag), bytes(sealed)) for row_id, receiver, tag, sealed in rows]

    async def add_aggregates(self, aggregates: list[PeerAggregate]) -> None:
        self.session.add_all(aggregates)
        await self.session.flush()

    async def aggregate(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> PeerAggregate | None:
        found: PeerAggregate | None = await self.session.scalar(
            select(PeerAggregate).where(PeerAggregate.cycle_id == cycle_id, PeerAggregate.person_id == person_id)
        )
        return found


class CatalogueRepository(Generic[Entry]):
    """One of the lists HR keeps (company values, competencies, 1:1 agenda templates)."""

    def __init__(self, session: AsyncSession, model: type[Entry]) -> None:
        self.session = session
        self.model: type[Entry] = model

    async def get(self, entry_id: uuid.UUID) -> Entry | None:
        return await self.session.get(self.model, entry_id)

    async def by_name(self, name: str) -> Entry | None:
        found: Entry | None = await self.session.scalar(
            select(self.model).where(func.lower(self.model.name) == name.lower())
        )
        return found

    async def list(self, *, limit: int, offset: int, include_archived: bool) -> tuple[list[Entry], int]:
        query = select(self.model)
        if not include_archived:
            query = query.where(self.model.archived.is_(False))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(self.model.name, self.model.id).limit(limit).offset(offset))
        return list(rows), total


class CompanyValueRepository(CatalogueRepository[CompanyValue]):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, CompanyValue)

    @classmethod
    def from_session(cls, session: AsyncSession) -> CompanyValueRepository:
        return cls(session)


class CompetencyRepository(CatalogueRepository[Competency]):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, Competency)

    @classmethod
    def from_session(cls, session: AsyncSession) -> CompetencyRepository:
        return cls(session)


class AgendaTemplateRepository(CatalogueRepository[CheckinAgendaTemplate]):
    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, CheckinAgendaTemplate)

    @classmethod
    def from_session(cls, session: AsyncSession) -> AgendaTemplateRepository:
        return cls(session)


class FeedbackRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> FeedbackRepository:
        return cls(session)

    async def add_all(self, items: list[FeedbackItem]) -> None:
        self.session.add_all(items)
        await self.session.flush()

    async def get(self, item_id: uuid.UUID) -> FeedbackItem | None:
        return await self.session.get(FeedbackItem, item_id)

    async def page_for_reader(
        self,
        reader_id: uuid.UUID,
        *,
        limit: int,
        offset: int,
        receiver_id: uuid.UUID | None = None,
        giver_id: uuid.UUID | None = None,
        competency_id: uuid.UUID | None = None,
    ) -> tuple[list[tuple[FeedbackItem, bytes | None, bool]], int]:
        """A page with the reader's wrapped content key and the share flag of each item, and the total.

        One statement where ``page`` plus the key and share look-ups took four: on SQLite every
        statement is a round trip to aiosqlite's thread, which under load costs more than the
        query. The page is cut first (from the receiver's or giver's index) and only its rows
        are joined; the total is an uncorrelated subquery, computed once.
        """
        mine = [FeedbackItem.receiver_id == receiver_id] if receiver_id is not None else []
        if giver_id is not None:
            mine.append(FeedbackItem.giver_id == giver_id)
        if competency_id is not None:
            mine.append(FeedbackItem.competency_id == competency_id)
        # Only ids are cut, from the (person, created_at, id) index alone (migration 0007): a deep
        # page skips its offset inside the index instead of reading every skipped row.
        cut = (
            select(FeedbackItem.id.label("cut_id"), FeedbackItem.created_at.label("cut_at"))
            .where(*mine)
            .order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc())
            .limit(limit)
            .offset(offset)
            .subquery()
        )
        total = select(func.count()).select_from(FeedbackItem).where(*mine).correlate(None).scalar_subquery()
        shared = (
            select(FeedbackShare.id)
            .where(FeedbackShare.item_id == FeedbackItem.id, FeedbackShare.revoked_at.is_(None))
            .exists()
        )
        rows = (
            await self.session.execute(
                select(FeedbackItem, ContentKey.wrapped_key, shared, total)
                .select_from(cut)
                .join(FeedbackItem, FeedbackItem.id == cut.c.cut_id)
                .outerjoin(ContentKey, and_(ContentKey.object_id == FeedbackItem.id, ContentKey.reader_id == reader_id))
                .order_by(cut.c.cut_at.desc(), cut.c.cut_id.desc())
            )
        ).all()
        if not rows:
            # Past the last page (or nothing at all): the total still has to be told.
            return [], await self.session.scalar(select(func.count()).select_from(FeedbackItem).where(*mine)) or 0
        return [(row[0], row[1], bool(row[2])) for row in rows], int(rows[0][3])

    async def shared_with(
        self, manager_id: uuid.UUID, *, limit: int, offset: int, competency_id: uuid.UUID | None = None
    ) -> tuple[list[FeedbackItem], int]:
        query = (
            select(FeedbackItem)
            .join(FeedbackShare, FeedbackShare.item_id == FeedbackItem.id)
            .where(FeedbackShare.manager_id == manager_id, FeedbackShare.revoked_at.is_(None))
        )
        if competency_id is not None:
            query = query.where(FeedbackItem.competency_id == competency_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(FeedbackItem.created_at.desc(), FeedbackItem.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), total

    async def active_share(self, item_id: uuid.UUID) -> FeedbackShare | None:
        found: FeedbackShare | None = await self.session.scalar(
            select(FeedbackShare).where(FeedbackShare.item_id == item_id, FeedbackShare.revoked_at.is_(None))
        )
        return found

    async def shared_items(self, item_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        rows = await self.session.scalars(
            select(FeedbackShare.item_id).where(FeedbackShare.item_id.in_(item_ids), FeedbackShare.revoked_at.is_(None))
        )
        return set(rows)

    async def add_share(self, share: FeedbackShare) -> FeedbackShare:
        self.session.add(share)
        await self.session.flush()
        return share


class FeedbackRequestRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> FeedbackRequestRepository:
        return cls(session)

    async def add(self, request: FeedbackRequest) -> FeedbackRequest:
        self.session.add(request)
        await self.session.flush()
        return request

    async def get(self, request_id: uuid.UUID) -> FeedbackRequest | None:
        return await self.session.get(FeedbackRequest, request_id)

    async def recipient(self, request_id: uuid.UUID, person_id: uuid.UUID) -> FeedbackRequestRecipient | None:
        return await self.session.get(FeedbackRequestRecipient, (request_id, person_id), with_for_update=True)

    async def sent(self, requester_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[FeedbackRequest], int]:
        query = select(FeedbackRequest).where(FeedbackRequest.requester_id == requester_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(FeedbackRequest.created_at.desc(), FeedbackRequest.id.desc()).limit(limit).offset(offset)
        )
        return list(rows), total

    async def inbox(
        self, person_id: uuid.UUID, *, status: str | None, limit: int, offset: int
    ) -> tuple[list[tuple[FeedbackRequestRecipient, FeedbackRequest]], int]:
        query = (
            select(FeedbackRequestRecipient, FeedbackRequest)
            .join(FeedbackRequest, FeedbackRequest.id == FeedbackRequestRecipient.request_id)
            .where(FeedbackRequestRecipient.person_id == person_id)
        )
        if status is not None:
            query = query.where(FeedbackRequestRecipient.status == status)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.execute(
            query.order_by(FeedbackRequestRecipient.due_on, FeedbackRequest.id).limit(limit).offset(offset)
        )
        return [(recipient, request) for recipient, request in rows.tuples()], total

    async def due_reminders(self, last_due_on: date, *, limit: int) -> list[FeedbackRequestRecipient]:
        rows = await self.session.scalars(
            select(FeedbackRequestRecipient)
            .where(
                FeedbackRequestRecipient.status == "open",
                FeedbackRequestRecipient.reminded_at.is_(None),
                FeedbackRequestRecipient.due_on <= last_due_on,
            )
            .order_by(FeedbackRequestRecipient.due_on, FeedbackRequestRecipient.request_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(rows)
