"""Tables of the goals service."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import CheckConstraint, Date, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import RecordMixin, new_metadata
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


class Goal(RecordMixin, Base):
    """A person's goal; check-ins, alignment and key results build on this row."""

    __tablename__ = "goals"
    # The service checks this too, with a clearer message; the constraint guards every writer.
    __table_args__ = (
        CheckConstraint(
            "period_start IS NULL OR period_end IS NULL OR period_start <= period_end",
            name="period_order",
        ),
    )

    # A person id from the directory; no foreign key, the projection may lag behind.
    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
