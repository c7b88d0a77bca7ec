"""Tables of the reviews service: the people directory and review configuration."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.database import RecordMixin, UTCDateTime, new_metadata
from shared.events import InboxMixin, OutboxMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(RecordMixin, Base):
    """A person of the directory, as an HRIS or identity provider describes them.

    Only directory basics are stored: no salary, gender, birth date or other sensitive field.
    ``email`` is the primary address; every address (the primary one included) is a row of
    ``person_emails``, whose key makes each address unique across the directory.
    """

    __tablename__ = "people"

    # SCIM userName; unique ignoring case (checked by the service; the constraint guards exact copies).
    user_name: Mapped[str] = mapped_column(String(320), unique=True)
    # The provisioning client's id for this person (SCIM externalId), unique when set.
    external_id: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    given_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    family_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    locale: Mapped[str | None] = mapped_column(String(35), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    employee_number: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    cost_center: Mapped[str | None] = mapped_column(String(200), nullable=True)
    organization: Mapped[str | None] = mapped_column(String(200), nullable=True)
    division: Mapped[str | None] = mapped_column(String(200), nullable=True)
    department: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), nullable=True, index=True
    )
    # The ids (32 hex digits each) from the top of the organisation down to this person: everyone
    # under X is one index range, path > X.path and path < X.path + "g" (see path_range).
    path: Mapped[str] = mapped_column(Text, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Carried on every person event so projections can refuse an older state; also the ETag.
    version: Mapped[int] = mapped_column(Integer, default=1)

    # selectin: async sessions cannot lazy-load, and every full read returns the addresses.
    emails: Mapped[list[PersonEmail]] = relationship(
        back_populates="person",
        cascade="all, delete-orphan",
        lazy="selectin",
        order_by="(PersonEmail.primary.desc(), PersonEmail.value_key)",
        passive_deletes=True,
    )


class PersonEmail(Base):
    """One e-mail address of a person; the lower-cased address is the key, so it is unique."""

    __tablename__ = "person_emails"

    value_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    value: Mapped[str] = mapped_column(String(320))
    type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    primary: Mapped[bool] = mapped_column(Boolean, default=False)
    person: Mapped[Person] = relationship(back_populates="emails")


def email_key(value: str) -> str:
    return value.strip().lower()


ID_LENGTH = 32


def path_of(person_id: uuid.UUID, manager_path: str | None) -> str:
    return (manager_path or "") + person_id.hex


def path_range(path: str) -> tuple[str, str]:
    """Bounds of the paths strictly below ``path``: hex digits all sort before "g", in any collation."""
    return path, path + "g"


# --- review configuration: rating scales, templates ---
# (Appended as a section of its own; its imports stay with it.)


class RatingScale(RecordMixin, Base):
    """Points a reviewer picks from: 2 to 10, values strictly increasing, labels unique.

    ``points`` is ``[{"value", "label", "description"}]`` in increasing value order. While a
    published template uses the scale its points are frozen (templates/service.py);
    ``revision`` grows with every change.
    """

    __tablename__ = "rating_scales"

    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    points: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[uuid.UUID]


class ReviewTemplate(RecordMixin, Base):
    """One version of a review template; the versions of one template share ``family_id``.

    A draft may change; publishing freezes it (and copies the points of its scales into
    ``scales``); a change afterwards is a new draft version. ``sections`` holds the
    sections and their items as the API describes them (templates/schemas.py).
    """

    __tablename__ = "review_templates"
    __table_args__ = (
        UniqueConstraint("family_id", "version"),
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
    )

    family_id: Mapped[uuid.UUID]
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    formula: Mapped[str | None] = mapped_column(Text, nullable=True)
    sections: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    # {scale id: {"name", "revision", "points"}}, copied when published; null for a draft.
    scales: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    created_by: Mapped[uuid.UUID]
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ReviewTemplateScale(Base):
    """Which scales a template version uses: a scale in use cannot be deleted."""

    __tablename__ = "review_template_scales"

    template_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("review_templates.id", ondelete="CASCADE"), primary_key=True
    )
    scale_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("rating_scales.id", ondelete="RESTRICT"), primary_key=True, index=True
    )
