"""Tables of the feedback service."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.database import RecordMixin, UTCDateTime, new_metadata
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
    company_value: Mapped[str | None] = mapped_column(String(100), nullable=True)
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
    """One peer's rating of one colleague in one cycle: read back only by the peer who gave it."""

    __tablename__ = "peer_ratings"
    __table_args__ = (UniqueConstraint("cycle_id", "giver_id", "receiver_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_cycles.id", ondelete="CASCADE"))
    giver_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # Aggregation reads by cycle and receiver.
    receiver_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rating: Mapped[int] = mapped_column(Integer)


class PeerAggregate(RecordMixin, Base):
    """What was published for one receiver when a cycle's ratings closed; the receiver may read it."""

    __tablename__ = "peer_aggregates"
    __table_args__ = (UniqueConstraint("cycle_id", "person_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("peer_cycles.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    score: Mapped[float | None] = mapped_column(nullable=True)
    rater_count: Mapped[int] = mapped_column(Integer)
