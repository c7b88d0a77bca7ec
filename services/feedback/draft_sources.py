"""Draft sources: what the caller may read here about one person, for a review draft, signed.

The reviews service never holds feedback text, and the bus never carries it. The writer of a
draft fetches this bundle with their own token and passes it to reviews, which checks its
attestation (``shared.attestation``). Only what the caller may read under this service's rules:

* praise the person received (public, like the praise wall), with its company value, never its giver;
* written feedback the caller gave the person: their own words. Feedback others gave is peer
  feedback text and never a source, not even for its receiver or a manager it was shared with;
* of the 1:1 series where the person is the report and the caller takes part: the shared agenda
  points and action items, and the caller's own private notes (never the other participant's);
* never peer-review (360) or upward answers, peer ratings or anyone's aggregate.

Texts the caller holds no key to (an erased person, a series taken over from another manager
whose points were never opened) are left out rather than granted here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.feedback.checkins.service import action_seal, agenda_seal, note_seal
from services.feedback.crypto import DecryptionFailed, KeyUnavailable
from services.feedback.keyring import Keyring, KeyringDep, Sealed
from services.feedback.models import (
    CheckinActionItem,
    CheckinAgendaItem,
    CheckinNote,
    CheckinSeries,
    FeedbackItem,
    Praise,
    PraiseReceiver,
)
from services.feedback.service import active_caller, item_seal
from shared.attestation import MAX_ITEMS, SourceBundle, SourceItem, SourceItemKind, sign_bundle
from shared.auth import CurrentPrincipal, Principal
from shared.database import SessionDep
from shared.errors import ValidationFailed

ISSUER = "feedback"
TEXT_LENGTH = 1200
PER_KIND = 60


def _window(
    column: InstrumentedAttribute[datetime], start: datetime | None, end: datetime | None
) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if start is not None:
        found.append(column >= start)
    if end is not None:
        found.append(column < end)
    return found


class DraftSourceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DraftSourceRepository:
        return cls(session)

    async def praise(self, person_id: uuid.UUID, start: datetime | None, end: datetime | None) -> list[Praise]:
        received = (
            select(PraiseReceiver.praise_id)
            .where(PraiseReceiver.praise_id == Praise.id, PraiseReceiver.person_id == person_id)
            .exists()
        )
        query = select(Praise).where(received, *_window(Praise.created_at, start, end))
        rows = await self.session.scalars(query.order_by(Praise.created_at, Praise.id).limit(PER_KIND))
        return list(rows)

    async def written(
        self, person_id: uuid.UUID, reader_id: uuid.UUID, start: datetime | None, end: datetime | None
    ) -> list[FeedbackItem]:
        """Items the reader gave the person: their own words, the only written feedback a draft may use."""
        query = select(FeedbackItem).where(
            FeedbackItem.receiver_id == person_id,
            FeedbackItem.giver_id == reader_id,
            *_window(FeedbackItem.created_at, start, end),
        )
        rows = await self.session.scalars(query.order_by(FeedbackItem.created_at, FeedbackItem.id).limit(PER_KIND))
        return list(rows)

    async def series(self, person_id: uuid.UUID, reader_id: uuid.UUID) -> list[CheckinSeries]:
        """The person's 1:1 series as the report, where the reader is one of the two."""
        query = select(CheckinSeries).where(
            CheckinSeries.report_id == person_id,
            or_(CheckinSeries.manager_id == reader_id, CheckinSeries.report_id == reader_id),
        )
        return list(await self.session.scalars(query.order_by(CheckinSeries.created_at, CheckinSeries.id)))

    async def agenda(
        self, series_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None
    ) -> list[CheckinAgendaItem]:
        query = select(CheckinAgendaItem).where(
            CheckinAgendaItem.series_id.in_(series_ids), *_window(CheckinAgendaItem.occurrence_start, start, end)
        )
        order = (CheckinAgendaItem.occurrence_start, CheckinAgendaItem.created_at, CheckinAgendaItem.id)
        return list(await self.session.scalars(query.order_by(*order).limit(PER_KIND)))

    async def actions(
        self, series_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None
    ) -> list[CheckinActionItem]:
        query = select(CheckinActionItem).where(
            CheckinActionItem.series_id.in_(series_ids), *_window(CheckinActionItem.occurrence_start, start, end)
        )
        order = (CheckinActionItem.occurrence_start, CheckinActionItem.created_at, CheckinActionItem.id)
        return list(await self.session.scalars(query.order_by(*order).limit(PER_KIND)))

    async def notes(
        self, series_ids: Sequence[uuid.UUID], author_id: uuid.UUID, start: datetime | None, end: datetime | None
    ) -> list[CheckinNote]:
        query = select(CheckinNote).where(
            and_(CheckinNote.series_id.in_(series_ids), CheckinNote.author_id == author_id),
            *_window(CheckinNote.occurrence_start, start, end),
        )
        order = (CheckinNote.occurrence_start, CheckinNote.created_at, CheckinNote.id)
        return list(await self.session.scalars(query.order_by(*order).limit(PER_KIND)))


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


class FeedbackDraftSources:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.repo = DraftSourceRepository.from_session(session)

    async def _open(self, sealed: Sealed, ciphertext: bytes, reader: uuid.UUID) -> str | None:
        try:
            return (await self.keyring.open(sealed, ciphertext, reader))[:TEXT_LENGTH]
        except (KeyUnavailable, DecryptionFailed):
            return None

    async def items(
        self, person_id: uuid.UUID, principal: Principal, start: date | None, end: date | None
    ) -> list[SourceItem]:
        await active_caller(self.session, principal)
        me = principal.person_id
        since = datetime.combine(start, time.min, UTC) if start is not None else None
        until = datetime.combine(end + timedelta(days=1), time.min, UTC) if end is not None else None
        items: list[SourceItem] = []
        for praise in await self.repo.praise(person_id, since, until):
            value = f" for the value '{praise.company_value}'" if praise.company_value else ""
            text = f"Praise received on {_day(praise.created_at)}{value}: {praise.message[:TEXT_LENGTH]}"
            items.append(
                SourceItem(
                    id=f"feedback:praise:{praise.id}",
                    kind=SourceItemKind.praise,
                    text=text,
                    date=_day(praise.created_at),
                )
            )
        for item in await self.repo.written(person_id, me, since, until):
            opened = await self._open(item_seal(item), item.ciphertext, me)
            if opened is None:
                continue
            text = f"Written feedback you gave on {_day(item.created_at)}: {opened}"
            items.append(
                SourceItem(
                    id=f"feedback:written:{item.id}",
                    kind=SourceItemKind.written_feedback,
                    text=text,
                    date=_day(item.created_at),
                )
            )
        series_ids = [series.id for series in await self.repo.series(person_id, me)]
        if series_ids:
            items.extend(await self._checkin_items(series_ids, me, since, until))
        return items[:MAX_ITEMS]

    async def _checkin_items(
        self, series_ids: list[uuid.UUID], me: uuid.UUID, since: datetime | None, until: datetime | None
    ) -> list[SourceItem]:
        items: list[SourceItem] = []
        for point in await self.repo.agenda(series_ids, since, until):
            opened = await self._open(agenda_seal(point), point.ciphertext, me)
            if opened is None:
                continue
            covered = "covered" if point.covered_at is not None else "not covered yet"
            day = _day(point.occurrence_start)
            items.append(
                SourceItem(
                    id=f"feedback:agenda:{point.id}",
                    kind=SourceItemKind.checkin_agenda,
                    text=f"1:1 talking point for {day} ({covered}): {opened}",
                    date=day,
                )
            )
        for action in await self.repo.actions(series_ids, since, until):
            opened = await self._open(action_seal(action), action.ciphertext, me)
            if opened is None:
                continue
            owner = "yours" if action.owner_id == me else "the other participant's"
            due = f", due {action.due_on.isoformat()}" if action.due_on is not None else ""
            done = "done" if action.done_at is not None else "open"
            day = _day(action.occurrence_start)
            items.append(
                SourceItem(
                    id=f"feedback:action:{action.id}",
                    kind=SourceItemKind.checkin_action,
                    text=f"1:1 action item from {day} ({owner}{due}, {done}): {opened}",
                    date=day,
                )
            )
        for note in await self.repo.notes(series_ids, me, since, until):
            opened = await self._open(note_seal(note), note.ciphertext, me)
            if opened is None:
                continue
            day = _day(note.occurrence_start)
            items.append(
                SourceItem(
                    id=f"feedback:note:{note.id}",
                    kind=SourceItemKind.own_note,
                    text=f"Your private note on the 1:1 of {day}: {opened}",
                    date=day,
                )
            )
        return items


router = APIRouter(prefix="/feedback", tags=["written feedback"])


@router.get(
    "/draft-sources",
    response_model=SourceBundle,
    summary="Praise, feedback and 1:1 items about a person that you may read, signed for your review draft",
)
async def draft_sources(
    request: Request,
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    person_id: Annotated[uuid.UUID, Query(description="The person the draft is about.")],
    start: Annotated[date | None, Query(alias="from", description="From this day (UTC)...")] = None,
    end: Annotated[date | None, Query(alias="to", description="...to this day, included.")] = None,
) -> SourceBundle:
    """Praise the person received; written feedback you gave them (never what others wrote); of their 1:1 series
    with you, the agenda points and action items, and your own private notes. Never peer-review or upward
    answers. Pass the answer unchanged to the reviews service's draft routes within 15 minutes: it is bound
    to you and to the person, and signed. Only active people of the directory ask."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed(
            "to must not be before from", [{"field": "to", "in": "query", "message": "must not be before from"}]
        )
    items = await FeedbackDraftSources(session, keyring).items(person_id, principal, start, end)
    return sign_bundle(
        request.app.state.source_signing_key,
        issuer=ISSUER,
        reader_id=principal.person_id,
        subject_id=person_id,
        items=items,
        now=datetime.now(UTC),
    )
