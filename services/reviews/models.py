"""Tables of the reviews service. It owns the people directory."""

from __future__ import annotations

import uuid

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.database import RecordMixin, new_metadata
from shared.events import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(RecordMixin, Base):
    """A person of the directory; issue-level features (SCIM, import) build on this row."""

    __tablename__ = "people"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True, index=True
    )
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Carried on every person event so projections can refuse an older state.
    version: Mapped[int] = mapped_column(Integer, default=1)
