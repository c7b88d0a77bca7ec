"""Columns of the check-in tables, as mixins: ``services.feedback.models`` maps them on the
feedback ``Base`` (like ``shared.people.PersonProjectionMixin``), so the service keeps one
metadata and this package needs no import of it here.

Only exceptions to the rule are stored as occurrences (a skip or a move, or one reminded);
every other occurrence follows from the series' RRULE.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from shared.database import UTCDateTime

ACTIVE, ENDED = "active", "ended"
SCHEDULED, SKIPPED, MOVED = "scheduled", "skipped", "moved"


class _Constructible:
    if TYPE_CHECKING:
        # Mapped subclasses get SQLAlchemy's keyword constructor; the mixins alone have none.
        def __init__(self, **kwargs: Any) -> None: ...


class CheckinSeriesColumns(_Constructible):
    __tablename__ = "checkin_series"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        # One active series per pair, even when two requests race to start one.
        active = text("status = 'active'")
        return (
            Index(
                "uq_checkin_series_active_pair",
                "manager_id",
                "report_id",
                unique=True,
                sqlite_where=active,
                postgresql_where=active,
            ),
        )

    manager_id: Mapped[uuid.UUID] = mapped_column(index=True)
    report_id: Mapped[uuid.UUID] = mapped_column(index=True)
    rrule: Mapped[str] = mapped_column(String(500))
    # The first meeting as an instant; its wall-clock time in ``timezone`` is the series' time.
    first_start: Mapped[datetime] = mapped_column(UTCDateTime())
    timezone: Mapped[str] = mapped_column(String(64))
    duration_minutes: Mapped[int] = mapped_column(Integer)
    reminder_minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))  # active | ended
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # ended | person-left | no-manager
    end_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    # The report's directory version the series last followed: an older person event changes nothing.
    report_version: Mapped[int] = mapped_column(Integer, default=0)
    # The sweep's work list: when the next reminder is due, and for which occurrence (original start).
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    remind_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # HR's template whose prompts every meeting's agenda shows; archiving it leaves the series on it.
    agenda_template_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("checkin_agenda_templates.id", ondelete="RESTRICT"), nullable=True
    )


class CheckinOccurrenceColumns(_Constructible):
    __tablename__ = "checkin_occurrences"
    __table_args__ = (UniqueConstraint("series_id", "original_start"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_series.id", ondelete="CASCADE"))
    original_start: Mapped[datetime] = mapped_column(UTCDateTime())
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))  # scheduled | skipped | moved
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CheckinAgendaColumns(_Constructible):
    """A talking point on the shared agenda of one occurrence; carried on while not covered."""

    __tablename__ = "checkin_agenda_items"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_checkin_agenda_items_series_start", "series_id", "occurrence_start"),)

    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_series.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime())
    author_id: Mapped[uuid.UUID]
    # Sealed for the two participants (docs/feedback.md, "Encryption at rest").
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    covered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # The occurrence it was first put on, and how often it moved on uncovered.
    added_for: Mapped[datetime] = mapped_column(UTCDateTime())
    carry_count: Mapped[int] = mapped_column(Integer, default=0)


class CheckinActionColumns(_Constructible):
    __tablename__ = "checkin_action_items"

    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_series.id", ondelete="CASCADE"), index=True)
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime())
    author_id: Mapped[uuid.UUID]
    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # The title, sealed for the two participants like the agenda.
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    due_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CheckinNoteColumns(_Constructible):
    """A participant's private note: ciphertext readable by its author alone."""

    __tablename__ = "checkin_notes"

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index("ix_checkin_notes_series_author", "series_id", "author_id"),)

    series_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("checkin_series.id", ondelete="CASCADE"))
    occurrence_start: Mapped[datetime] = mapped_column(UTCDateTime())
    author_id: Mapped[uuid.UUID]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class CheckinCalendarFeedColumns(_Constructible):
    """A person's calendar subscription address: only the SHA-256 of its secret is kept."""

    __tablename__ = "checkin_calendar_feeds"

    person_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)


class CheckinAgendaTemplateColumns(_Constructible):
    """Prompts HR writes for everyone's 1:1s: company text, not anyone's words, so stored in clear.

    Archived, never deleted: the series that use one keep showing its prompts.
    """

    __tablename__ = "checkin_agenda_templates"

    # Unique in any case: see the lower(name) index beside the model (services/feedback/models.py).
    name: Mapped[str] = mapped_column(String(100), unique=True)
    prompts: Mapped[list[str]] = mapped_column(JSON)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
