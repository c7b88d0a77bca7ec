"""Tables of the goals service."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.database import RecordMixin, UTCDateTime, new_metadata, utcnow
from shared.events import InboxMixin, OutboxMixin
from shared.llm import LLMAuditMixin
from shared.people import PersonProjectionMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(PersonProjectionMixin, Base):
    pass


class LLMAudit(LLMAuditMixin, Base):
    """Goal writing-help requests: prompt, answers, outcome (read by the person they were made for)."""


class Goal(RecordMixin, Base):
    """A company, department, team or individual goal for a period, aligned to at most one parent."""

    __tablename__ = "goals"
    # The service checks these too, with clearer messages; the constraints guard every writer.
    __table_args__ = (
        CheckConstraint(
            "period_start IS NULL OR period_end IS NULL OR period_start <= period_end",
            name="period_order",
        ),
        CheckConstraint("progress >= 0 AND progress <= 100", name="progress_range"),
        CheckConstraint("weight IS NULL OR (weight >= 0 AND weight <= 100)", name="weight_range"),
        # A bulk assignment gives each person at most one copy of a source goal.
        UniqueConstraint("assigned_from_id", "owner_id"),
        Index("ix_goals_owner_end", "owner_id", "period_end"),
    )

    # A person id from the directory; no foreign key, the projection may lag behind.
    owner_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # No index on level: four values, and SQLite (without ANALYZE) would prefer it to owner_id.
    level: Mapped[str] = mapped_column(String(20), default="individual")
    department: Mapped[str | None] = mapped_column(String(200), nullable=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    visibility: Mapped[str] = mapped_column(String(10), default="public")
    period_kind: Mapped[str | None] = mapped_column(String(10), nullable=True)
    period_start: Mapped[date | None] = mapped_column(Date, nullable=True)
    period_end: Mapped[date | None] = mapped_column(Date, nullable=True)
    due_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    aligned_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("goals.id", ondelete="SET NULL"), nullable=True, index=True
    )
    assigned_from_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    weight: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The goal's own progress 0-100, kept up to date by the service from its key results,
    # milestones or the manual value (rules.goal_progress); progress_source says which.
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_source: Mapped[str] = mapped_column(String(20), default="manual")
    manual_progress: Mapped[float] = mapped_column(Float, default=0.0)
    status_override: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    key_results: Mapped[list[KeyResult]] = relationship(
        back_populates="goal", order_by="KeyResult.position", cascade="all, delete-orphan", lazy="raise"
    )
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="goal", order_by="Milestone.due_date", cascade="all, delete-orphan", lazy="raise"
    )


class KeyResult(RecordMixin, Base):
    __tablename__ = "key_results"
    __table_args__ = (
        CheckConstraint("weight >= 0", name="weight_positive"),
        CheckConstraint("unit <> 'currency' OR currency IS NOT NULL", name="currency_code"),
    )

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(10))
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    direction: Mapped[str] = mapped_column(String(10))
    start_value: Mapped[float] = mapped_column(Float)
    target_value: Mapped[float] = mapped_column(Float)
    current_value: Mapped[float] = mapped_column(Float)
    weight: Mapped[float] = mapped_column(Float, default=1.0)

    goal: Mapped[Goal] = relationship(back_populates="key_results", lazy="raise")


class Milestone(RecordMixin, Base):
    __tablename__ = "milestones"

    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    key_result_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("key_results.id", ondelete="SET NULL"), nullable=True
    )
    title: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date)
    target_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    goal: Mapped[Goal] = relationship(back_populates="milestones", lazy="raise")


class CheckIn(Base):
    """A progress update; never changed or deleted (the history of a goal)."""

    __tablename__ = "goal_check_ins"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    key_result_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("key_results.id", ondelete="SET NULL"), nullable=True
    )
    author_id: Mapped[uuid.UUID] = mapped_column()
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    previous_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    confidence: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    progress_before: Mapped[float] = mapped_column(Float)
    progress_after: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEntry(Base):
    """Who changed what on a goal, and when: one row per change, append-only."""

    __tablename__ = "goal_audit"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    goal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[uuid.UUID] = mapped_column()
    action: Mapped[str] = mapped_column(String(40))
    changes: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CycleScore(Base):
    """A participant's goal score for a review cycle; re-computing replaces it (revision + 1)."""

    __tablename__ = "cycle_scores"

    cycle_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    goal_count: Mapped[int] = mapped_column(Integer)
    weights_ok: Mapped[bool] = mapped_column()
    weight_total: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str | None] = mapped_column(String(40), nullable=True)
    formula_version: Mapped[str] = mapped_column(String(40))
    # The (goal id, weight, progress) triples the score was computed from, as JSON.
    inputs: Mapped[str] = mapped_column(Text, default="[]")
    revision: Mapped[int] = mapped_column(Integer, default=1)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
