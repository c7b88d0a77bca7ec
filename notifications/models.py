"""Tables of the notifications component: its own database, never another service's."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import RecordMixin, TimestampMixin, UTCDateTime, new_metadata
from shared.events import InboxMixin
from shared.people import PersonProjectionMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class InboxEvent(InboxMixin, Base):
    pass


class Person(PersonProjectionMixin, Base):
    """Where to send, in which language and time zone: the directory's events, kept here."""


class Preference(TimestampMixin, Base):
    """A person's choices; no row means the defaults (every kind, the configured digest hour)."""

    __tablename__ = "notification_preferences"

    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    digest_hour: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    opted_out: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Kinds mailed one by one as they come rather than in the digest.
    at_once: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Local hours [quiet_start, quiet_end) in which nothing is mailed at once (both null: none).
    quiet_start: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)
    quiet_end: Mapped[int | None] = mapped_column(SmallInteger, nullable=True)


class Notification(RecordMixin, Base):
    """One event for one person, waiting for its mail (the digest queue; escalations are due at once).

    ``(event_id, person_id)`` is unique: the same event handled twice cannot queue a second mail.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "person_id"),
        Index("ix_notifications_due", "state", "due_at"),
    )

    event_id: Mapped[uuid.UUID]
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(255))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # pending -> mailed (in delivery_id) | skipped (opted out, person inactive) | withdrawn (what it
    # announced was called off before the digest: a cancelled upward pulse)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    delivery_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL"), nullable=True, index=True
    )


class Delivery(RecordMixin, Base):
    """The delivery log: one mail, rendered once, sent until the SMTP server accepts it."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_pending", "status", "next_attempt_at"),)

    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(40))  # escalation | digest
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # pending -> sent | failed (attempts used up)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
