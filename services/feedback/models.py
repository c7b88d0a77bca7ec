"""Tables of the feedback service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.feedback.checkins.models import (
    CheckinActionColumns,
    CheckinAgendaColumns,
    CheckinAgendaTemplateColumns,
    CheckinCalendarFeedColumns,
    CheckinNoteColumns,
    CheckinOccurrenceColumns,
    CheckinSeriesColumns,
)
from shared.database import RecordMixin, UTCDateTime, new_metadata, utcnow
from shared.events import InboxMixin, OutboxMixin
from shared.people import PersonProjectionMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(PersonProjectionMixin, Base):
    pass


class Praise(RecordMixin, Base):
    """Public recognition from one person to one or more others."""

    __tablename__ = "praise"

    giver_id: Mapped[uuid.UUID] = mapped_column(index=True)
    message: Mapped[str] = mapped_column(Text)
    # Free text from before HR kept a list of values; new praise names one by id.
    company_value: Mapped[str | None] = mapped_column(String(100), nullable=True)
    company_value_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("company_values.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    # selectin: async sessions cannot lazy-load, and every read returns the receivers.
    receivers: Mapped[list[PraiseReceiver]] = relationship(
        back_populates="praise",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="PraiseReceiver.person_id",
    )

    @property
    def receiver_ids(self) -> list[uuid.UUID]:
        return [receiver.person_id for receiver in self.receivers]


class PraiseReceiver(Base):
    __tablename__ = "praise_receivers"

    praise_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("praise.id", ondelete="CASCADE"), primary_key=True)
    # Indexed on its own: "praise I received" filters by person, not by praise.
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    praise: Mapped[Praise] = relationship(back_populates="receivers")


class PeerCycle(RecordMixin, Base):
    """A review cycle as feedback follows it; ``id`` is the reviews service's cycle id."""

    __tablename__ = "peer_cycles"

    status: Mapped[str] = mapped_column(String(20))  # open | closed | cancelled
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PeerRating(RecordMixin, Base):
    """One peer's rating of one colleague in one cycle: read back only by the peer who gave it.

    The giver is not stored: ``giver_tag`` is an HMAC of (cycle, giver) under a key wrapped by
    the KEK (``keyring.Keyring.peer_tag``), so the database alone does not tell who rated whom.
    The rating is sealed under the cycle's tally key (``keyring.Tally``), bound to this row, its
    cycle, receiver and tag; the key is destroyed when the cycle's ratings close.
    """

    __tablename__ = "peer_ratings"
    __table_args__ = (UniqueConstraint("cycle_id", "giver_tag", "receiver_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_cycles.id", ondelete="CASCADE"))
    giver_tag: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    # Aggregation reads by cycle and receiver.
    receiver_id: Mapped[uuid.UUID] = mapped_column(index=True)
    sealed_rating: Mapped[bytes] = mapped_column(LargeBinary)


class PeerAggregate(RecordMixin, Base):
    """What was published for one receiver when a cycle's ratings closed; the receiver may read it."""

    __tablename__ = "peer_aggregates"
    __table_args__ = (UniqueConstraint("cycle_id", "person_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_cycles.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    rater_count: Mapped[int] = mapped_column(Integer)


class CatalogueEntryMixin(RecordMixin):
    """An entry of a list HR keeps for people to choose from. Archived, never deleted, once used."""

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class PublishedEntryMixin(CatalogueEntryMixin):
    """An entry other services follow (shared/catalogue.py): every change is a new revision."""

    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class CompanyValue(PublishedEntryMixin, Base):
    """A company value HR keeps; praise and feedback may name one."""

    __tablename__ = "company_values"


class Competency(PublishedEntryMixin, Base):
    """A competency HR keeps (the company's framework); written feedback may be about one."""

    __tablename__ = "competencies"


class DataKey(Base):
    """A person's data key, wrapped by the key-encryption key that lives outside the database.

    Erasing the person deletes ``wrapped_key`` and keeps the row as a tombstone (``erased_at``),
    so no new key is made for them and whatever only they could read stays unreadable.
    """

    __tablename__ = "feedback_data_keys"

    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ServiceKey(Base):
    """A key of the service itself (e.g. the peer raters' tag key), wrapped by the KEK."""

    __tablename__ = "feedback_service_keys"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    kek_id: Mapped[str] = mapped_column(String(64), index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TallyKey(Base):
    """The key that seals the ratings of one 360 round, upward pulse or peer-rating cycle.

    Wrapped by the KEK alone: the service unwraps it to seal each answer's ratings and, once, to
    compute the aggregate at release; then ``wrapped_key`` is deleted and the row kept as a
    tombstone (``destroyed_at``), so the individual ratings are unreadable from then on and no new
    key is made for the scope. No creation time: the first answer's moment stays untold.
    """

    __tablename__ = "feedback_tally_keys"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)  # peer-round | upward-pulse | peer-cycle
    scope_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    destroyed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ContentKey(Base):
    """An item's (or request's) content key, wrapped for one reader by that reader's data key."""

    __tablename__ = "feedback_content_keys"

    object_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    # Indexed on its own: erasing a person drops every key wrapped for them.
    reader_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class FeedbackItem(RecordMixin, Base):
    """Written feedback from one giver to one receiver; the text is ciphertext only."""

    __tablename__ = "feedback_items"
    __table_args__ = (
        # "What I received" and "what I gave", newest first, are the two pages people read; with
        # the id (the order's tie-breaker) in the index a page is cut from the index alone.
        Index("ix_feedback_items_receiver_created_id", "receiver_id", "created_at", "id"),
        Index("ix_feedback_items_giver_created_id", "giver_id", "created_at", "id"),
    )

    giver_id: Mapped[uuid.UUID]
    receiver_id: Mapped[uuid.UUID]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    goal_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    competency_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    company_value_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("company_values.id", ondelete="RESTRICT"), nullable=True
    )
    request_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("feedback_requests.id", ondelete="SET NULL"), nullable=True, index=True
    )


class FeedbackShare(RecordMixin, Base):
    """The receiver's act of showing one item to their manager; revoking keeps the record."""

    __tablename__ = "feedback_shares"

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("feedback_items.id", ondelete="CASCADE"), index=True)
    manager_id: Mapped[uuid.UUID] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class FeedbackRequest(RecordMixin, Base):
    """Someone asks colleagues for feedback on themselves, or on one of their goals; the optional
    question is ciphertext."""

    __tablename__ = "feedback_requests"

    requester_id: Mapped[uuid.UUID] = mapped_column(index=True)
    due_on: Mapped[date] = mapped_column(Date)
    question: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # A goal of the requester's the feedback is asked about (goals service id): every answer is about it.
    goal_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    recipients: Mapped[list[FeedbackRequestRecipient]] = relationship(
        back_populates="request",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="FeedbackRequestRecipient.person_id",
    )


class FeedbackRequestRecipient(Base):
    __tablename__ = "feedback_request_recipients"
    __table_args__ = (
        # The inbox and the reminder sweep both look for open rows by due date.
        Index("ix_feedback_request_recipients_status_due", "status", "due_on"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("feedback_requests.id", ondelete="CASCADE"), primary_key=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | answered | declined
    # A copy of the request's due date, so the sweep needs no join.
    due_on: Mapped[date] = mapped_column(Date)
    item_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    request: Mapped[FeedbackRequest] = relationship(back_populates="recipients")


# 1:1 check-ins: columns in services/feedback/checkins/models.py, mapped on this Base.


class CheckinSeries(RecordMixin, CheckinSeriesColumns, Base):
    pass


class CheckinOccurrence(CheckinOccurrenceColumns, Base):
    pass


class CheckinAgendaItem(RecordMixin, CheckinAgendaColumns, Base):
    pass


class CheckinActionItem(RecordMixin, CheckinActionColumns, Base):
    pass


class CheckinNote(RecordMixin, CheckinNoteColumns, Base):
    pass


class CheckinCalendarFeed(RecordMixin, CheckinCalendarFeedColumns, Base):
    pass


class CheckinAgendaTemplate(RecordMixin, CheckinAgendaTemplateColumns, Base):
    pass


# A name is unique in any case (the services read first and answer 409; these make two racing
# adds of "Wins" and "wins" end the same way). lower() is the database's own on both sides.
for _catalogue in (CompanyValue, Competency, CheckinAgendaTemplate):
    Index(f"uq_{_catalogue.__tablename__}_name_lower", func.lower(_catalogue.name), unique=True)


class PeerRound(RecordMixin, Base):
    """A 360 round: one subject's approved peers in one cycle, released once when it closes.

    ``status``: open | released (k or more answered: the aggregate is stored here) | suppressed
    (fewer: nothing is stored, not even the count) | cancelled. The question texts are the
    template's, not anyone's answer.
    """

    __tablename__ = "peer_rounds"
    __table_args__ = (UniqueConstraint("cycle_id", "person_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    questions: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    competencies: Mapped[list[str]] = mapped_column(JSON)
    min_raters: Mapped[int] = mapped_column(Integer)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20), default="open")
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    rater_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    competency_scores: Mapped[dict[str, float] | None] = mapped_column(JSON, nullable=True)


class PeerRoundPeer(Base):
    """An approved peer of a round and their review task; no timestamps, so the moment a peer
    answered cannot be matched to an answer row."""

    __tablename__ = "peer_round_peers"

    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_rounds.id", ondelete="CASCADE"), primary_key=True)
    peer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    task_id: Mapped[str] = mapped_column(String(200), unique=True)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)


class PeerAnswer(Base):
    """One peer's answer, with no link to the peer: ratings (1-5 per competency) sealed under the
    round's tally key, and the text answers as ciphertext, whose content key is wrapped for the
    subject alone (read once released). ``position`` is random, so neither order nor time tells
    who answered."""

    __tablename__ = "peer_answers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    round_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_rounds.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sealed_ratings: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class UpwardScopeMember(Base):
    """Who may answer a review cycle's upward pulse: its participants, as the reviews service's
    events name them (services/feedback/upward/cycles.py). Keyed by the pulse id derived from the
    cycle, so a name that comes before the launch is kept; a standalone pulse has no members."""

    __tablename__ = "upward_scope_members"

    pulse_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)


class UpwardEarlyChange(Base):
    """What a cycle's events said of its pulse before the launch opened it: a redelivered launch can
    come after the cycle's later events (services/feedback/upward/cycles.py). Read once the pulse
    opens, then dropped."""

    __tablename__ = "upward_early_changes"

    pulse_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)
    # step -> the latest cycle-wide deadline told for it (ISO 8601 with offset).
    deadlines: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)


class UpwardPulse(RecordMixin, Base):
    """Upward feedback: reports rate and comment on their manager, standalone or in a cycle."""

    __tablename__ = "upward_pulses"

    cycle_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    title: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[uuid.UUID]
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime())
    min_raters: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed | cancelled
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # A cycle's pulse whose closing time was left to default: the step whose later deadlines it follows.
    follows_step: Mapped[str | None] = mapped_column(String(30), nullable=True)


class UpwardAnswer(Base):
    """One report's answer about their manager: the giver is an HMAC tag, the rating sealed under
    the pulse's tally key, the comment ciphertext whose key is wrapped for that manager alone
    (readable once released, at k or more)."""

    __tablename__ = "upward_answers"
    __table_args__ = (UniqueConstraint("pulse_id", "giver_tag"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    pulse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("upward_pulses.id", ondelete="CASCADE"), index=True)
    manager_id: Mapped[uuid.UUID] = mapped_column(index=True)
    giver_tag: Mapped[bytes] = mapped_column(LargeBinary(32))
    position: Mapped[int] = mapped_column(Integer)
    sealed_rating: Mapped[bytes] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class UpwardResult(Base):
    """A manager's released aggregate of one pulse (k or more answers); nothing below k."""

    __tablename__ = "upward_results"

    pulse_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("upward_pulses.id", ondelete="CASCADE"), primary_key=True)
    # Indexed on its own too: a manager's list of released results (GET /upward-feedback/results).
    manager_id: Mapped[uuid.UUID] = mapped_column(primary_key=True, index=True)
    org_unit: Mapped[str | None] = mapped_column(String(200), nullable=True)
    score: Mapped[float]
    rater_count: Mapped[int] = mapped_column(Integer)
    rating_sum: Mapped[int] = mapped_column(Integer)
