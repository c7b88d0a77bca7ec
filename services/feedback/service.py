"""Praise and peer-rating rules, and the events each change publishes."""

from __future__ import annotations

import logging
import uuid
from datetime import date, timedelta
from typing import ClassVar, Generic, TypeVar

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.crypto import DecryptionFailed, KeyUnavailable
from services.feedback.events import (
    FeedbackGivenData,
    FeedbackRequestedData,
    FeedbackSharedData,
    PersonErasedData,
    ReminderDueData,
    RequestResponseData,
    outbox,
    people,
    praise_event_data,
    reminder_event_id,
)
from services.feedback.keyring import PEER_CYCLE, Keyring, Sealed, Tally
from services.feedback.models import (
    CompanyValue,
    Competency,
    FeedbackItem,
    FeedbackRequest,
    FeedbackRequestRecipient,
    FeedbackShare,
    PeerAggregate,
    PeerCycle,
    PeerRating,
    Person,
    Praise,
    PraiseReceiver,
)
from services.feedback.peer_reviews.repository import PeerRoundRepository
from services.feedback.repository import (
    CatalogueRepository,
    CompanyValueRepository,
    CompetencyRepository,
    Entry,
    FeedbackRepository,
    FeedbackRequestRepository,
    PeerRatingRepository,
    PraiseRepository,
)
from services.feedback.schemas import (
    CatalogueEntryCreate,
    CatalogueEntryUpdate,
    FeedbackAnswer,
    FeedbackGive,
    FeedbackLinks,
    FeedbackRead,
    FeedbackRequestCreate,
    FeedbackRequestRead,
    InboxEntry,
    PeerRatingRead,
    PraiseCreate,
    RecipientRead,
)
from shared.auth import Principal, Role
from shared.catalogue import CatalogueEntryChanged, CatalogueKind, entry_event_id
from shared.database import add_unique, utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.events import CloudEvent
from shared.peer_ratings import MIN_PEER_RATERS, PeerAggregateComputed, aggregate_event_id, peer_score
from shared.people import PersonProjectionMixin

OPEN, CLOSED, CANCELLED = "open", "closed", "cancelled"
log = logging.getLogger(__name__)

# The lists whose entries are a name and a description.
Described = TypeVar("Described", CompanyValue, Competency)
UNKNOWN_CYCLE = "Cycle {cycle_id} takes no peer ratings (unknown here, or not launched yet)."


class PraiseService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.praise = PraiseRepository.from_session(session)

    async def give(self, data: PraiseCreate, principal: Principal) -> Praise:
        # Sorted and unique, so the answer to this request matches every later read.
        receiver_ids = sorted(set(data.receiver_ids))
        if receiver_ids == [principal.person_id]:
            raise ValidationFailed.field("receiver_ids", "praise needs someone other than yourself")
        await refuse_deactivated(self.session, principal)
        # Checked in the order given, so the error names the position the caller sent.
        await require_active(self.session, "receiver_ids", data.receiver_ids)
        value = await CompanyValueService(self.session).current(data.company_value_id)
        praise = await self.praise.add(
            Praise(
                giver_id=principal.person_id,
                message=data.message,
                company_value=value.name if value else None,
                company_value_id=value.id if value else None,
                receivers=[PraiseReceiver(person_id=person_id) for person_id in receiver_ids],
            )
        )
        outbox.add(self.session, "praise", "given", praise_event_data(praise), subject=str(praise.id))
        return praise


async def refuse_deactivated(session: AsyncSession, principal: Principal) -> None:
    """A deactivated person's token may still be valid for a while; they give and ask nothing."""
    person = await people.get(session, principal.person_id)
    if person is not None and not person.active:
        raise Forbidden("Your account is deactivated.")


async def active_caller(session: AsyncSession, principal: Principal) -> None:
    """Written feedback and requests are for people of the directory, active ones."""
    person = await people.get(session, principal.person_id)
    if person is None or not person.active:
        raise Forbidden("Only active people of the directory use written feedback.")


async def require_active(session: AsyncSession, field: str, person_ids: list[uuid.UUID]) -> None:
    found = set(await session.scalars(select(Person.id).where(Person.id.in_(person_ids), Person.active.is_(True))))
    for index, person_id in enumerate(person_ids):
        if person_id not in found:
            raise ValidationFailed(
                f"{field}: no active person with id {person_id}",
                [{"field": f"{field}.{index}", "message": "no active person with this id"}],
            )


class CatalogueService(Generic[Entry]):
    """A list HR keeps (names unique in any case); everyone chooses from its current entries.

    Archived, never deleted: what named an entry keeps pointing at it. Each list adds its own
    create and update for the fields beside the name."""

    def __init__(self, session: AsyncSession, entries: CatalogueRepository[Entry], noun: str, field: str) -> None:
        self.session = session
        self.entries: CatalogueRepository[Entry] = entries
        self.noun = noun
        # The request field that names an entry of this list, for the 422 of a stale choice.
        self.field = field

    def _taken(self, name: str) -> str:
        article = "An" if self.noun[0] in "aeiou" else "A"
        return f"{article} {self.noun} named {name!r} exists already (in any case)."

    async def _unique(self, name: str, current: uuid.UUID | None = None) -> None:
        other = await self.entries.by_name(name)
        if other is not None and other.id != current:
            raise Conflict(self._taken(name))

    async def _save(self, entry: Entry) -> Entry:
        # The read in _unique cannot see a racing add; the lower(name) index can (migration 0020).
        return await add_unique(self.session, entry, self._taken(entry.name))

    async def _rename(self, entry: Entry, name: str | None, archived: bool | None) -> None:
        if name is not None:
            await self._unique(name, entry.id)
            entry.name = name
        if archived is not None:
            entry.archived = archived

    async def get(self, entry_id: uuid.UUID) -> Entry:
        entry = await self.entries.get(entry_id)
        if entry is None:
            raise NotFound(f"No {self.noun} {entry_id}.")
        return entry

    async def current(self, entry_id: uuid.UUID | None) -> Entry | None:
        """The entry a write chooses: none, or one that exists and is not archived."""
        if entry_id is None:
            return None
        entry = await self.entries.get(entry_id)
        if entry is None or entry.archived:
            raise ValidationFailed.field(self.field, f"no current {self.noun} with this id")
        return entry

    async def archive(self, entry_id: uuid.UUID) -> None:
        entry = await self.get(entry_id)
        entry.archived = True
        await self._save(entry)


class DescribedCatalogueService(CatalogueService[Described]):
    """The lists whose entries are a name and a description (company values, competencies), which
    other services follow: every write is a new revision on the bus (shared/catalogue.py)."""

    kind: ClassVar[CatalogueKind]

    async def _save(self, entry: Described) -> Described:
        held = inspect(entry).persistent
        if held:
            # In SQL, so that two changes racing on PostgreSQL get two revisions, not one twice.
            entry.revision = type(entry).revision + 1
        saved = await add_unique(self.session, entry, self._taken(entry.name))
        if held:
            await self.session.refresh(saved, attribute_names=["revision"])
        data = CatalogueEntryChanged.model_validate(saved).model_dump(mode="json")
        event_id = entry_event_id(self.kind, saved.id, saved.revision)
        outbox.add(self.session, self.kind.value, "changed", data, subject=str(saved.id), event_id=event_id)
        return saved

    async def create(self, data: CatalogueEntryCreate) -> Described:
        await self._unique(data.name)
        entry = self.entries.model(name=data.name, description=data.description, archived=False)
        return await self._save(entry)

    async def update(self, entry_id: uuid.UUID, data: CatalogueEntryUpdate) -> Described:
        entry = await self.get(entry_id)
        await self._rename(entry, data.name, data.archived)
        if "description" in data.model_fields_set:
            entry.description = data.description
        return await self._save(entry)


class CompanyValueService(DescribedCatalogueService[CompanyValue]):
    kind = CatalogueKind.company_value

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, CompanyValueRepository.from_session(session), "company value", "company_value_id")


class CompetencyService(DescribedCatalogueService[Competency]):
    kind = CatalogueKind.competency

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session, CompetencyRepository.from_session(session), "competency", "competency_id")


FEEDBACK = "feedback"
REQUEST = "feedback-request"


def item_seal(item: FeedbackItem) -> Sealed:
    return Sealed(FEEDBACK, item.id, item.giver_id, item.receiver_id)


def request_seal(request: FeedbackRequest) -> Sealed:
    return Sealed(REQUEST, request.id, request.requester_id, None)


def feedback_read(item: FeedbackItem, text: str | None, shared: bool) -> FeedbackRead:
    return FeedbackRead(
        id=item.id,
        giver_id=item.giver_id,
        receiver_id=item.receiver_id,
        text=text,
        goal_id=item.goal_id,
        competency_id=item.competency_id,
        company_value_id=item.company_value_id,
        request_id=item.request_id,
        shared_with_manager=shared,
        created_at=item.created_at,
    )


class FeedbackService:
    """Written feedback: readable by its giver and receiver, and by the receiver's manager while shared."""

    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
        self.items = FeedbackRepository.from_session(session)

    async def _write(
        self,
        giver_id: uuid.UUID,
        receiver_ids: list[uuid.UUID],
        text: str,
        links: FeedbackLinks,
        request_id: uuid.UUID | None = None,
    ) -> list[FeedbackItem]:
        await CompanyValueService(self.session).current(links.company_value_id)
        await CompetencyService(self.session).current(links.competency_id)
        items: list[FeedbackItem] = []
        for receiver_id in receiver_ids:
            if await self.keyring.is_erased(receiver_id):
                raise ValidationFailed.field("receiver_ids", f"{receiver_id} was erased")
            item = FeedbackItem(
                id=uuid.uuid4(),
                giver_id=giver_id,
                receiver_id=receiver_id,
                goal_id=links.goal_id,
                competency_id=links.competency_id,
                company_value_id=links.company_value_id,
                request_id=request_id,
                created_at=utcnow(),
            )
            item.ciphertext = await self.keyring.seal(item_seal(item), text, (giver_id, receiver_id))
            items.append(item)
        await self.items.add_all(items)
        for item in items:
            data = FeedbackGivenData(id=item.id, receiver_id=item.receiver_id, request_id=request_id)
            outbox.add(self.session, "feedback", "given", data.model_dump(mode="json"), subject=str(item.id))
        return items

    async def give(self, data: FeedbackGive, principal: Principal) -> list[FeedbackRead]:
        await active_caller(self.session, principal)
        receiver_ids = sorted(set(data.receiver_ids))
        if principal.person_id in receiver_ids:
            raise ValidationFailed.field("receiver_ids", "feedback is for colleagues, not yourself")
        await require_active(self.session, "receiver_ids", data.receiver_ids)
        items = await self._write(principal.person_id, receiver_ids, data.text, data)
        return [feedback_read(item, data.text, False) for item in items]

    async def _page(self, rows: list[FeedbackItem], reader: uuid.UUID) -> list[FeedbackRead]:
        if not rows:
            return []
        texts = await self._open_many(rows, reader)
        shared = await self.items.shared_items([row.id for row in rows])
        return [feedback_read(row, texts[row.id], row.id in shared) for row in rows]

    async def _open_many(
        self, rows: list[FeedbackItem], reader: uuid.UUID, wrapped: dict[uuid.UUID, bytes | None] | None = None
    ) -> dict[uuid.UUID, str | None]:
        try:
            return await self.keyring.open_many([(item_seal(row), row.ciphertext) for row in rows], reader, wrapped)
        except DecryptionFailed:
            # One altered or moved row must not hide the rest of the page.
            texts: dict[uuid.UUID, str | None] = {}
            for row in rows:
                texts[row.id] = await self._open_one(row, reader)
            return texts

    async def _open_one(self, item: FeedbackItem, reader: uuid.UUID) -> str | None:
        try:
            return await self.keyring.open(item_seal(item), item.ciphertext, reader)
        except (KeyUnavailable, DecryptionFailed):
            return None

    async def _own_page(
        self, me: uuid.UUID, *, limit: int, offset: int, received: bool, competency_id: uuid.UUID | None
    ) -> tuple[list[FeedbackRead], int]:
        """Items, the reader's keys, share flags and total in one statement (the hot page; bench.feedback)."""
        mine = {"receiver_id": me} if received else {"giver_id": me}
        rows, total = await self.items.page_for_reader(
            me, limit=limit, offset=offset, competency_id=competency_id, **mine
        )
        items = [item for item, _, _ in rows]
        texts = await self._open_many(items, me, {item.id: key for item, key, _ in rows}) if rows else {}
        return [feedback_read(item, texts[item.id], shared) for item, _, shared in rows], total

    async def received(
        self, principal: Principal, *, limit: int, offset: int, competency_id: uuid.UUID | None = None
    ) -> tuple[list[FeedbackRead], int]:
        await active_caller(self.session, principal)
        return await self._own_page(
            principal.person_id, limit=limit, offset=offset, received=True, competency_id=competency_id
        )

    async def given(
        self, principal: Principal, *, limit: int, offset: int, competency_id: uuid.UUID | None = None
    ) -> tuple[list[FeedbackRead], int]:
        await active_caller(self.session, principal)
        return await self._own_page(
            principal.person_id, limit=limit, offset=offset, received=False, competency_id=competency_id
        )

    async def shared_with_me(
        self, principal: Principal, *, limit: int, offset: int, competency_id: uuid.UUID | None = None
    ) -> tuple[list[FeedbackRead], int]:
        await active_caller(self.session, principal)
        rows, total = await self.items.shared_with(
            principal.person_id, limit=limit, offset=offset, competency_id=competency_id
        )
        return await self._page(rows, principal.person_id), total

    async def read(self, item_id: uuid.UUID, principal: Principal) -> FeedbackRead:
        await active_caller(self.session, principal)
        item = await self.items.get(item_id)
        share = await self.items.active_share(item_id) if item is not None else None
        me = principal.person_id
        readable = item is not None and (
            me in (item.giver_id, item.receiver_id) or (share is not None and share.manager_id == me)
        )
        if item is None or not readable:
            # The same answer whether it exists or not: existence is not for others to learn.
            raise NotFound(f"No feedback {item_id} you can read.")
        return feedback_read(item, await self._open_one(item, me), share is not None)

    async def _own_received(self, item_id: uuid.UUID, principal: Principal) -> FeedbackItem:
        await active_caller(self.session, principal)
        item = await self.items.get(item_id)
        if item is None or principal.person_id not in (item.giver_id, item.receiver_id):
            raise NotFound(f"No feedback {item_id} you can read.")
        if item.receiver_id != principal.person_id:
            raise Forbidden("Only the receiver of feedback may share it.")
        return item

    async def share(self, item_id: uuid.UUID, principal: Principal) -> FeedbackShare:
        item = await self._own_received(item_id, principal)
        if await self.items.active_share(item_id) is not None:
            raise Conflict("This feedback is shared with your manager already.")
        me = await people.get(self.session, principal.person_id)
        manager_id = me.manager_id if me is not None else None
        manager = await people.get(self.session, manager_id) if manager_id is not None else None
        if manager is None or not manager.active:
            raise Conflict("You have no active manager to share feedback with.")
        try:
            await self.keyring.grant(item_seal(item), principal.person_id, manager.id)
        except (KeyUnavailable, DecryptionFailed) as exc:
            raise Conflict("This feedback can no longer be decrypted, so it cannot be shared.") from exc
        share = await self.items.add_share(FeedbackShare(item_id=item.id, manager_id=manager.id))
        data = FeedbackSharedData(id=share.id, item_id=item.id, receiver_id=item.receiver_id, manager_id=manager.id)
        outbox.add(self.session, "feedback", "shared", data.model_dump(mode="json"), subject=str(item.id))
        return share

    async def unshare(self, item_id: uuid.UUID, principal: Principal) -> None:
        item = await self._own_received(item_id, principal)
        share = await self.items.active_share(item_id)
        if share is None:
            raise NotFound("This feedback is not shared.")
        share.revoked_at = utcnow()
        # Revoking removes the manager's key, not only the permission.
        await self.keyring.revoke(item.id, share.manager_id)
        await self.session.flush()
        data = FeedbackSharedData(
            id=share.id, item_id=item.id, receiver_id=item.receiver_id, manager_id=share.manager_id
        )
        outbox.add(self.session, "feedback", "unshared", data.model_dump(mode="json"), subject=str(item.id))


class FeedbackRequestService:
    def __init__(self, session: AsyncSession, keyring: Keyring, *, max_recipients: int) -> None:
        self.session = session
        self.keyring = keyring
        self.max_recipients = max_recipients
        self.requests = FeedbackRequestRepository.from_session(session)

    async def create(self, data: FeedbackRequestCreate, principal: Principal) -> FeedbackRequestRead:
        await active_caller(self.session, principal)
        recipient_ids = sorted(set(data.recipient_ids))
        if len(recipient_ids) > self.max_recipients:
            raise ValidationFailed.field("recipient_ids", f"ask at most {self.max_recipients} colleagues")
        if principal.person_id in recipient_ids:
            raise ValidationFailed.field("recipient_ids", "ask colleagues, not yourself")
        if data.due_on <= utcnow().date():
            raise ValidationFailed.field("due_on", "the due date must be after today")
        await require_active(self.session, "recipient_ids", data.recipient_ids)
        request = FeedbackRequest(
            id=uuid.uuid4(),
            requester_id=principal.person_id,
            due_on=data.due_on,
            goal_id=data.goal_id,
            created_at=utcnow(),
        )
        if data.question is not None:
            request.question = await self.keyring.seal(
                request_seal(request), data.question, (principal.person_id, *recipient_ids)
            )
        request.recipients = [
            FeedbackRequestRecipient(person_id=person_id, status="open", due_on=data.due_on)
            for person_id in recipient_ids
        ]
        await self.requests.add(request)
        event = FeedbackRequestedData(
            id=request.id, requester_id=request.requester_id, recipient_ids=recipient_ids, due_on=request.due_on
        )
        outbox.add(self.session, "feedback", "requested", event.model_dump(mode="json"), subject=str(request.id))
        return self._read(request, data.question)

    def _read(self, request: FeedbackRequest, question: str | None) -> FeedbackRequestRead:
        return FeedbackRequestRead(
            id=request.id,
            requester_id=request.requester_id,
            due_on=request.due_on,
            question=question,
            goal_id=request.goal_id,
            recipients=[RecipientRead.model_validate(recipient) for recipient in request.recipients],
            created_at=request.created_at,
        )

    async def _question(self, request: FeedbackRequest, reader: uuid.UUID) -> str | None:
        if request.question is None:
            return None
        try:
            return await self.keyring.open(request_seal(request), request.question, reader)
        except (KeyUnavailable, DecryptionFailed):
            return None

    async def sent(self, principal: Principal, *, limit: int, offset: int) -> tuple[list[FeedbackRequestRead], int]:
        await active_caller(self.session, principal)
        rows, total = await self.requests.sent(principal.person_id, limit=limit, offset=offset)
        return [self._read(row, await self._question(row, principal.person_id)) for row in rows], total

    async def inbox(
        self, principal: Principal, *, status: str | None, limit: int, offset: int
    ) -> tuple[list[InboxEntry], int]:
        await active_caller(self.session, principal)
        rows, total = await self.requests.inbox(principal.person_id, status=status, limit=limit, offset=offset)
        entries = [
            InboxEntry(
                request_id=request.id,
                requester_id=request.requester_id,
                due_on=request.due_on,
                question=await self._question(request, principal.person_id),
                goal_id=request.goal_id,
                status=recipient.status,
                item_id=recipient.item_id,
                responded_at=recipient.responded_at,
                created_at=request.created_at,
            )
            for recipient, request in rows
        ]
        return entries, total

    async def _open_entry(
        self, request_id: uuid.UUID, principal: Principal
    ) -> tuple[FeedbackRequest, FeedbackRequestRecipient]:
        await active_caller(self.session, principal)
        recipient = await self.requests.recipient(request_id, principal.person_id)
        request = await self.requests.get(request_id) if recipient is not None else None
        if recipient is None or request is None:
            raise NotFound(f"No feedback request {request_id} asks you.")
        if recipient.status != "open":
            raise Conflict(f"You have {recipient.status} this request already.")
        return request, recipient

    async def answer(self, request_id: uuid.UUID, data: FeedbackAnswer, principal: Principal) -> FeedbackRead:
        request, recipient = await self._open_entry(request_id, principal)
        requester = await people.get(self.session, request.requester_id)
        if requester is None or not requester.active:
            raise Conflict("The person who asked is no longer active.")
        if request.goal_id is not None:
            if data.goal_id not in (None, request.goal_id):
                raise ValidationFailed.field("goal_id", "the request is about another goal: leave it out")
            data = data.model_copy(update={"goal_id": request.goal_id})
        writer = FeedbackService(self.session, self.keyring)
        (item,) = await writer._write(principal.person_id, [request.requester_id], data.text, data, request.id)
        recipient.status, recipient.item_id, recipient.responded_at = "answered", item.id, utcnow()
        await self.session.flush()
        event = RequestResponseData(id=item.id, request_id=request.id, person_id=principal.person_id)
        outbox.add(self.session, "feedback-request", "answered", event.model_dump(mode="json"), subject=str(request.id))
        return feedback_read(item, data.text, False)

    async def decline(self, request_id: uuid.UUID, principal: Principal) -> InboxEntry:
        request, recipient = await self._open_entry(request_id, principal)
        recipient.status, recipient.responded_at = "declined", utcnow()
        await self.session.flush()
        event = RequestResponseData(id=request.id, request_id=request.id, person_id=principal.person_id)
        outbox.add(self.session, "feedback-request", "declined", event.model_dump(mode="json"), subject=str(request.id))
        return InboxEntry(
            request_id=request.id,
            requester_id=request.requester_id,
            due_on=request.due_on,
            question=await self._question(request, principal.person_id),
            goal_id=request.goal_id,
            status=recipient.status,
            item_id=None,
            responded_at=recipient.responded_at,
            created_at=request.created_at,
        )


async def sweep_reminders(session: AsyncSession, *, today: date, lead_days: int, limit: int = 500) -> int:
    """Mark open, unreminded requests due within ``lead_days`` and publish one reminder event each.

    Idempotent twice over: ``reminded_at`` is set in the same transaction as the outbox row, and
    the event id is derived from (request, person), so a replica racing this one is deduplicated.
    """
    rows = await FeedbackRequestRepository.from_session(session).due_reminders(
        today + timedelta(days=lead_days), limit=limit
    )
    now = utcnow()
    for row in rows:
        row.reminded_at = now
        event_id = reminder_event_id(row.request_id, row.person_id)
        data = ReminderDueData(id=event_id, request_id=row.request_id, person_id=row.person_id, due_on=row.due_on)
        outbox.add(
            session,
            "feedback-request",
            "reminder-due",
            data.model_dump(mode="json"),
            subject=str(row.request_id),
            event_id=event_id,
        )
    await session.flush()
    return len(rows)


async def erase_person(session: AsyncSession, keyring: Keyring, person_id: uuid.UUID) -> bool:
    """Crypto-shred one person's feedback keys (HR's erasure); False if done before."""
    erased = await keyring.erase(person_id)
    if erased:
        data = PersonErasedData(id=person_id, person_id=person_id)
        outbox.add(session, "person-keys", "erased", data.model_dump(mode="json"), subject=str(person_id))
    return erased


PEER_RATING_KIND = "peer-rating"


def seal_peer_rating(tally: Tally, rating: PeerRating, value: int) -> bytes:
    # Bound to the row, its cycle (the tally's scope), receiver and giver's tag: moved, it opens nowhere.
    return tally.seal_rating(value, PEER_RATING_KIND, rating.id, rating.receiver_id, rating.giver_tag)


def open_peer_rating(tally: Tally, rating_id: uuid.UUID, receiver_id: uuid.UUID, tag: bytes, sealed: bytes) -> int:
    return tally.open_rating(sealed, PEER_RATING_KIND, rating_id, receiver_id, tag)


def peer_rating_read(rating: PeerRating, value: int | None) -> PeerRatingRead:
    return PeerRatingRead(
        cycle_id=rating.cycle_id,
        receiver_id=rating.receiver_id,
        rating=value,
        created_at=rating.created_at,
        modified_at=rating.modified_at,
    )


class PeerRatingService:
    """Peer ratings of a review cycle; each rating sealed under the cycle's tally key, which the
    close opens once, to compute the aggregates, and then destroys."""

    def __init__(self, session: AsyncSession, keyring: Keyring | None = None) -> None:
        self.session = session
        self._keyring = keyring
        self.ratings = PeerRatingRepository.from_session(session)

    @property
    def keyring(self) -> Keyring:
        assert self._keyring is not None, "peer ratings need the keyring"
        return self._keyring

    async def _tag(self, cycle_id: uuid.UUID, principal: Principal) -> bytes:
        return await self.keyring.peer_tag(cycle_id, principal.person_id)

    async def _open_cycle(self, cycle_id: uuid.UUID) -> PeerCycle:
        # Shared with other raters, not with the close, which reads every rating once and then
        # destroys their key.
        cycle = await self.ratings.cycle(cycle_id, for_share=True)
        if cycle is None:
            raise NotFound(UNKNOWN_CYCLE.format(cycle_id=cycle_id))
        if cycle.status != OPEN:
            raise Conflict(f"Peer ratings of cycle {cycle_id} are {cycle.status}.")
        return cycle

    async def rate(
        self, cycle_id: uuid.UUID, receiver_id: uuid.UUID, rating: int, principal: Principal
    ) -> tuple[PeerRatingRead, bool]:
        """Give or change a rating; True when it is new."""
        await self._open_cycle(cycle_id)
        if principal.has_any(Role.hr, Role.admin):
            # HR sees the aggregate's effect on the score: counted as a rater, one HR rating
            # would let them work back the others' mean.
            raise Forbidden("HR and admins never count as peer raters.")
        if receiver_id == principal.person_id:
            raise ValidationFailed.field("receiver_id", "peers rate colleagues, not themselves")
        receiver = await people.get(self.session, receiver_id)
        if receiver is None or not receiver.active:
            raise ValidationFailed.field("receiver_id", "no active person with this id")
        if receiver_id in await PeerRoundRepository.from_session(self.session).subjects(cycle_id):
            # One aggregate per person and cycle: a second over other raters could be differenced.
            raise Conflict(f"{receiver_id} gets 360 feedback from approved peers in this cycle.", reason="peer_round")
        if principal.person_id in await self._managers_of(receiver):
            # The managers above read the aggregate in the review form: their own rating in it
            # would let them solve for a colleague's (the 58.33-from-3 case).
            raise ValidationFailed.field("receiver_id", "a manager never counts as their report's peer rater")
        tag = await self._tag(cycle_id, principal)
        try:
            tally = await self.keyring.tally(PEER_CYCLE, cycle_id, create=True)
        except KeyUnavailable:
            raise Conflict(f"Peer ratings of cycle {cycle_id} are closed.") from None
        existing = await self.ratings.given(cycle_id, tag, receiver_id)
        if existing is not None:
            existing.sealed_rating = seal_peer_rating(tally, existing, rating)
            await self.session.flush()
            return peer_rating_read(existing, rating), False
        created = PeerRating(id=uuid.uuid4(), cycle_id=cycle_id, giver_tag=tag, receiver_id=receiver_id)
        created.sealed_rating = seal_peer_rating(tally, created, rating)
        return peer_rating_read(await self.ratings.add(created), rating), True

    async def _managers_of(self, person: PersonProjectionMixin, depth: int = 20) -> set[uuid.UUID]:
        """The receiver's manager chain as the projection knows it (bounded against a loop)."""
        found: set[uuid.UUID] = set()
        current: PersonProjectionMixin | None = person
        while current is not None and current.manager_id is not None and len(found) < depth:
            if current.manager_id in found:
                break
            found.add(current.manager_id)
            current = await people.get(self.session, current.manager_id)
        return found

    async def given(
        self, cycle_id: uuid.UUID, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[PeerRatingRead], int]:
        """What the caller gave; each rating null once the cycle closed (its key is destroyed)."""
        if await self.ratings.cycle(cycle_id) is None:
            raise NotFound(UNKNOWN_CYCLE.format(cycle_id=cycle_id))
        rows, total = await self.ratings.given_by(
            cycle_id, await self._tag(cycle_id, principal), limit=limit, offset=offset
        )
        tally: Tally | None = None
        if rows:
            try:
                tally = await self.keyring.tally(PEER_CYCLE, cycle_id, create=False)
            except KeyUnavailable:
                tally = None
        reads = []
        for row in rows:
            value: int | None = None
            if tally is not None:
                try:
                    value = open_peer_rating(tally, row.id, row.receiver_id, row.giver_tag, row.sealed_rating)
                except DecryptionFailed:
                    value = None
            reads.append(peer_rating_read(row, value))
        return reads, total

    async def withdraw(self, cycle_id: uuid.UUID, receiver_id: uuid.UUID, principal: Principal) -> None:
        await self._open_cycle(cycle_id)
        existing = await self.ratings.given(cycle_id, await self._tag(cycle_id, principal), receiver_id)
        if existing is None:
            raise NotFound(f"You have not rated {receiver_id} in cycle {cycle_id}.")
        await self.ratings.delete(existing)

    async def my_aggregate(self, cycle_id: uuid.UUID, principal: Principal) -> PeerAggregate:
        found = await self.ratings.aggregate(cycle_id, principal.person_id)
        if found is None:
            raise NotFound(f"No peer aggregate for you in cycle {cycle_id} (ratings still open, or nobody rated).")
        return found

    # --- driven by the cycle's events ----------------------------------------------------------

    async def open(self, cycle_id: uuid.UUID) -> None:
        if await self.ratings.cycle(cycle_id) is None:
            await self.ratings.add_cycle(PeerCycle(id=cycle_id, status=OPEN))

    async def close(self, cycle_id: uuid.UUID, *, cancelled: bool = False, min_raters: int = MIN_PEER_RATERS) -> int:
        """Close the cycle's ratings once; unless cancelled, publish one aggregate per person rated by k or more.

        Below k nothing is stored or published, not even the count: a count with a null score
        still tells a receiver (and their manager) how many of the peers they suspect rated.
        """
        min_raters = max(min_raters, MIN_PEER_RATERS)
        cycle = await self.ratings.cycle(cycle_id, for_update=True)
        if cycle is None:
            cycle = await self.ratings.add_cycle(PeerCycle(id=cycle_id, status=OPEN))
        if cycle.status != OPEN:
            return 0
        cycle.status, cycle.closed_at = (CANCELLED if cancelled else CLOSED), utcnow()
        if cancelled:
            await self.keyring.destroy_tally(PEER_CYCLE, cycle_id)
            return 0
        now = utcnow()
        aggregates: list[PeerAggregate] = []
        events: list[CloudEvent] = []
        rounds = await PeerRoundRepository.from_session(self.session).subjects(cycle_id)
        summaries = await self._summaries(cycle_id)
        await self.keyring.destroy_tally(PEER_CYCLE, cycle_id)
        for receiver_id, count, mean in summaries:
            if count < min_raters or receiver_id in rounds:
                continue
            score = peer_score(mean)
            aggregates.append(PeerAggregate(cycle_id=cycle_id, person_id=receiver_id, score=score, rater_count=count))
            data = PeerAggregateComputed(
                cycle_id=cycle_id,
                person_id=receiver_id,
                score=score,
                rater_count=count,
                min_raters=min_raters,
                computed_at=now,
            )
            events.append(
                outbox.event(
                    "peer-aggregate",
                    "computed",
                    data.model_dump(mode="json"),
                    subject=str(cycle_id),
                    event_id=aggregate_event_id(cycle_id, receiver_id, data.revision),
                )
            )
        await self.ratings.add_aggregates(aggregates)
        return await outbox.add_many(self.session, events)

    async def _summaries(self, cycle_id: uuid.UUID) -> list[tuple[uuid.UUID, int, float]]:
        """Per receiver, in id order: how many peers rated and the mean rating, opened once here."""
        rows = await self.ratings.sealed(cycle_id)
        if not rows:
            return []
        # A missing key with ratings in the cycle is not "nobody rated": fail, and the event is retried.
        tally = await self.keyring.tally(PEER_CYCLE, cycle_id, create=False)
        given: dict[uuid.UUID, list[int]] = {}
        for rating_id, receiver_id, tag, sealed in rows:
            try:
                value = open_peer_rating(tally, rating_id, receiver_id, tag, sealed)
            except DecryptionFailed:
                # Moved from another cycle, receiver or giver, or altered: it counts nowhere.
                log.warning("peer cycle %s: a rating does not open and is left out", cycle_id)
                continue
            given.setdefault(receiver_id, []).append(value)
        return [(receiver, len(values), sum(values) / len(values)) for receiver, values in sorted(given.items())]
