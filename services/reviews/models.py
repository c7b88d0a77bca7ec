"""Tables of the reviews service: the people directory and review configuration."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.database import RecordMixin, UTCDateTime, new_metadata, utcnow
from shared.events import InboxMixin, OutboxMixin
from shared.llm import LLMAuditMixin


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class LLMAudit(LLMAuditMixin, Base):
    """Review-draft requests: prompt, answers, outcome; ``subject`` is the task id (read by its requester)."""


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
    # Where the person works, as free text ("Berlin"); cycle filters select by it.
    location: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    # The first day of employment; cycle filters select people hired before a date.
    hire_date: Mapped[date | None] = mapped_column(Date, nullable=True)
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


class ScimUserState(Base):
    """What SCIM needs beyond the directory, one row per person a provisioning client wrote.

    ``deleted_at``: the client deleted the User. The person stays in the directory (inactive,
    with their history) but SCIM answers 404 and lists leave them out (RFC 7644 3.6).
    ``unset``: the optional attributes (displayName, emails) the client left unset, while the
    person is still at ``unset_version``; the directory needs a value for them, so it keeps
    one derived from the name or userName, and SCIM does not show it.
    """

    __tablename__ = "scim_users"

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    unset: Mapped[list[str]] = mapped_column(JSON, default=list)
    unset_version: Mapped[int] = mapped_column(Integer, default=0)


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
    # 360 options (templates/schemas.py PeerFeedbackOptions); null: no peer feedback.
    peer_feedback: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
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


class CatalogueEntry(Base):
    """A competency or company value of HR's lists in the feedback service, as its events say
    (shared/catalogue.py): what a template's competency item may link to by id."""

    __tablename__ = "catalogue_entries"
    __table_args__ = (CheckConstraint("kind IN ('competency', 'company-value')", name="kind"),)

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    archived: Mapped[bool] = mapped_column(Boolean)
    revision: Mapped[int] = mapped_column(Integer)


# --- review cycles: cycles, participants, tasks, calibration ---


class ReviewCycle(RecordMixin, Base):
    """A review cycle: what HR configured, and where its workflow stands.

    ``filters`` is the participant selection as HR gave it (cycles/schemas.py), ``schedule``
    the workflow's ``CycleSchedule`` as JSON, ``guideline`` the wanted share (%) of each
    rating point in calibration. Participants are a snapshot taken at launch.
    """

    __tablename__ = "review_cycles"
    __table_args__ = (CheckConstraint("status IN ('draft', 'launched', 'cancelled', 'closed')", name="status"),)

    name: Mapped[str] = mapped_column(String(200), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    template_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_templates.id", ondelete="RESTRICT"), index=True)
    rating_scale_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("rating_scales.id", ondelete="RESTRICT"), nullable=True
    )
    # [{"value", "label"}] of the final rating, copied at creation (the scale's or the default 1-5).
    rating_points: Mapped[list[dict[str, object]]] = mapped_column(JSON)
    guideline: Mapped[dict[str, float]] = mapped_column(JSON)
    # [{"value", "label"}] of the potential scale of 9-box calibration (null: cycles made before
    # it existed, which use the default low/moderate/high 1-3).
    potential_points: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)
    filters: Mapped[dict[str, object]] = mapped_column(JSON)
    schedule: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20), index=True, default="draft")
    phase: Mapped[str | None] = mapped_column(String(30), nullable=True)
    hr_owner_id: Mapped[uuid.UUID]
    created_by: Mapped[uuid.UUID]
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    participant_count: Mapped[int] = mapped_column(Integer, default=0)
    # {"closes_at", "min_raters"}: the launch opens an upward feedback pulse (shared/upward_feedback.py).
    upward_feedback: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)


class CycleParticipant(Base):
    """One person of a cycle, snapshotted at launch (or added by HR), with their ratings.

    ``proposed_rating`` comes from the manager review's score; ``final_rating`` is the
    calibrated one (``rating_version`` grows with each change); ``potential_rating`` is a
    point of the cycle's potential scale, set in calibration (the 9-box's other axis).
    """

    __tablename__ = "cycle_participants"

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cycles.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    org_unit: Mapped[str] = mapped_column(String(200))
    closed_reason: Mapped[str | None] = mapped_column(String(30), nullable=True)
    goal_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    goal_score_revision: Mapped[int] = mapped_column(Integer, default=0)
    # The goals behind goal_score as the goals service sent them: [{goal_id, weight, progress}].
    goal_inputs: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)
    # The peers' aggregate from the feedback service (0-100; null below its minimum of raters).
    peer_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    peer_rater_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    peer_score_revision: Mapped[int] = mapped_column(Integer, default=0)
    score: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    proposed_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    final_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    rating_version: Mapped[int] = mapped_column(Integer, default=0)
    potential_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


Index("ix_cycle_participants_cycle_unit", CycleParticipant.cycle_id, CycleParticipant.org_unit)


class ReviewTask(Base):
    """A human task in someone's inbox; its id is the workflow's deterministic task id.

    ``draft`` holds the answers being written (and, once done, the answers given); they
    never travel through the workflow or the bus. ``revision`` is the workflow's: an older
    change is ignored. ``escalations`` lists ``{index, target, notified_id, at}``.
    """

    __tablename__ = "review_tasks"
    __table_args__ = (
        Index("ix_review_tasks_assignee_status", "assignee_id", "status"),
        Index("ix_review_tasks_cycle_step_status", "cycle_id", "step", "status"),
        Index("ix_review_tasks_cycle_person", "cycle_id", "person_id"),
    )

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cycles.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID]
    step: Mapped[str] = mapped_column(String(30))
    assignee_id: Mapped[uuid.UUID]
    status: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    workflow_id: Mapped[str] = mapped_column(String(200))
    escalations: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    draft: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    completed_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), onupdate=utcnow, nullable=True)


class ActivityEffect(Base):
    """Idempotency keys of activity effects (reminders, escalations, closes, phases) already applied."""

    __tablename__ = "activity_effects"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CalibrationSession(RecordMixin, Base):
    """Calibration of one organisation unit of one cycle; HR finalizes it."""

    __tablename__ = "calibration_sessions"
    __table_args__ = (
        UniqueConstraint("cycle_id", "org_unit"),
        CheckConstraint("status IN ('open', 'final')", name="status"),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cycles.id", ondelete="CASCADE"), index=True)
    org_unit: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="open")
    finalized_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RatingDispute(RecordMixin, Base):
    """An employee's disagreement with their final rating, raised with the acknowledgement or within
    ``LATE_DISPUTE_DAYS`` after it.

    The reason is the acknowledgement's comment (in the task's answers, never copied), or for a
    dispute raised later, its own ``reason``. HR
    resolves it: ``upheld`` keeps the rating, ``amended`` sets a new one (a new rating version).
    Until then the rating stands as calibrated. An open dispute is reminded to its assignee
    before ``due_at`` and escalated at it (``services.reviews.cycles.dispute_sweep``).
    """

    __tablename__ = "rating_disputes"
    __table_args__ = (
        UniqueConstraint("task_id"),
        CheckConstraint("status IN ('open', 'resolved')", name="status"),
        CheckConstraint("outcome IS NULL OR outcome IN ('upheld', 'amended')", name="outcome"),
        # The sweep's and the overdue filter's lookup: open disputes by due date.
        Index("ix_rating_disputes_status_due_at", "status", "due_at"),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("review_cycles.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    task_id: Mapped[str] = mapped_column(String(200))
    assignee_id: Mapped[uuid.UUID] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disputed_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    resolved_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Why, for a dispute raised after the acknowledgement (POST /disputes); null for one raised with
    # it, whose reason is the acknowledgement's comment.
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set by the dispute sweep in the transaction that writes the event: the conditional UPDATE
    # (on NULL, or on an escalation old enough to repeat) keeps two replicas from sending it twice.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # How many times it was escalated; the n-th goes to the n-th active manager above the assignee.
    escalations: Mapped[int] = mapped_column(default=0, server_default="0")


class CalibrationAdjustment(RecordMixin, Base):
    """One change of one person's rating in a session: who, when (created_at), from, to, why."""

    __tablename__ = "calibration_adjustments"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calibration_sessions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID]
    adjusted_by: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20), default="performance")
    from_rating: Mapped[Decimal | None] = mapped_column(Numeric(9, 3), nullable=True)
    to_rating: Mapped[Decimal] = mapped_column(Numeric(9, 3))
    reason: Mapped[str] = mapped_column(Text)
