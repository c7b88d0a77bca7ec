"""Tables of the rewards service. Amounts stay in this database and never go on the bus."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.calibration import ProposalStatus
from shared.database import RecordMixin, TimestampMixin, UTCDateTime, new_metadata
from shared.events import InboxMixin, OutboxMixin
from shared.people import PersonProjectionMixin

AMOUNT = Numeric(14, 2)
PERCENT = Numeric(6, 2)  # 3.25 means 3.25 %
RATIO = Numeric(8, 4)  # compa-ratio, 1.0500
RATING = Numeric(9, 3)
FTE = Numeric(4, 3)  # 0.800 is four days a week
MULTIPLIER = Numeric(6, 3)  # 1.250
# An exchange rate: at most 15 digits (a SQLite REAL keeps them exactly), 10 of them decimals.
EXCHANGE_RATE = Numeric(20, 10)

# Gender as the Directive's reporting needs it; "other" is another value the person gave.
GENDERS = ("female", "male", "other", "undisclosed")
# The smallest group a report may show: fewer people than this and the cell is suppressed.
MIN_CELL_SIZE_FLOOR = 5


class Base(DeclarativeBase):
    metadata = new_metadata()


class OutboxEvent(OutboxMixin, Base):
    pass


class InboxEvent(InboxMixin, Base):
    pass


class Person(PersonProjectionMixin, Base):
    pass


class PayBand(RecordMixin, Base):
    """The salary range of one grade in one currency."""

    __tablename__ = "pay_bands"
    # The service checks the order too, with a clearer message; these guard every writer.
    __table_args__ = (
        UniqueConstraint("grade", "currency"),
        CheckConstraint("minimum <= midpoint AND midpoint <= maximum", name="amount_order"),
    )

    grade: Mapped[str] = mapped_column(String(50))
    currency: Mapped[str] = mapped_column(String(3))
    minimum: Mapped[Decimal] = mapped_column(AMOUNT)
    midpoint: Mapped[Decimal] = mapped_column(AMOUNT)
    maximum: Mapped[Decimal] = mapped_column(AMOUNT)


class CompensationRecord(RecordMixin, Base):
    """One person's pay from ``effective_date`` on; a change is a new row, history stays.

    The current record is the one with the latest ``effective_date`` not after today.
    """

    __tablename__ = "compensation_records"
    __table_args__ = (
        UniqueConstraint("person_id", "effective_date"),
        CheckConstraint("base_salary >= 0", name="salary_not_negative"),
        CheckConstraint("fte > 0 AND fte <= 1", name="fte_range"),
        CheckConstraint("variable_pay >= 0", name="variable_pay_not_negative"),
        CheckConstraint(f"gender IS NULL OR gender IN ({', '.join(repr(g) for g in GENDERS)})", name="gender_known"),
    )

    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    pay_band_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_bands.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    base_salary: Mapped[Decimal] = mapped_column(AMOUNT)
    effective_date: Mapped[date] = mapped_column(Date)
    imported_by: Mapped[uuid.UUID]

    # Job architecture and sensitive attributes (issue 11). They enter with the pay, through
    # the import, and never leave this database on an event; gender is shown to HR only.
    job_level: Mapped[str | None] = mapped_column(String(50), nullable=True)
    job_family: Mapped[str | None] = mapped_column(String(100), nullable=True)
    worker_category: Mapped[str | None] = mapped_column(String(50), nullable=True)
    fte: Mapped[Decimal] = mapped_column(FTE, default=Decimal(1))
    employment_type: Mapped[str | None] = mapped_column(String(30), nullable=True)
    gender: Mapped[str | None] = mapped_column(String(20), nullable=True)
    location: Mapped[str | None] = mapped_column(String(100), nullable=True)
    hire_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    # Variable pay (bonus, commission) of the twelve months up to ``effective_date``, for the
    # Art. 9 report; base_salary is the full annual amount actually paid at this FTE.
    variable_pay: Mapped[Decimal] = mapped_column(AMOUNT, default=Decimal(0))


class MeritMatrix(RecordMixin, Base):
    """Guideline increases by rating row and compa-ratio bucket, for one cycle or the default.

    ``definition`` holds ``buckets``, ``rows`` and ``cells`` (decimals as strings): the
    matrix is always read and replaced as a whole, and proposals copy the cell they use.
    """

    __tablename__ = "merit_matrices"

    scope: Mapped[str] = mapped_column(String(36), unique=True)  # "default" or the cycle id
    cycle_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    scale_min: Mapped[Decimal] = mapped_column(RATING)
    scale_max: Mapped[Decimal] = mapped_column(RATING)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[uuid.UUID]


class PayCycle(TimestampMixin, Base):
    """The pay side of a review cycle (same id as in reviews): policy and completion."""

    __tablename__ = "pay_cycles"
    __table_args__ = (CheckConstraint("budget_pct >= 0 AND budget_pct <= 100", name="budget_range"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    budget_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    # The bonus pool of a unit: this share of its payroll (issue 11, part 3); units may override.
    bonus_budget_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    manager_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    hr_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class OrgUnitApproval(RecordMixin, Base):
    """HR's approval of every proposal of one organisation unit in one cycle."""

    __tablename__ = "org_unit_approvals"
    __table_args__ = (UniqueConstraint("cycle_id", "org_unit"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"))
    org_unit: Mapped[str] = mapped_column(String(200))
    approved_by: Mapped[uuid.UUID]
    approved_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_count: Mapped[int] = mapped_column(Integer)


_STATUSES = ", ".join(f"'{status.value}'" for status in ProposalStatus)


class PayProposal(RecordMixin, Base):
    """One employee's merit increase in one cycle, with the inputs it was computed from.

    Salary, band and guideline are snapshots taken when the proposal was (re)computed, so
    later imports or matrix edits never change a proposal under a manager's eyes.
    """

    __tablename__ = "pay_proposals"
    __table_args__ = (
        UniqueConstraint("cycle_id", "person_id"),
        Index("ix_pay_proposals_cycle_unit_status", "cycle_id", "org_unit", "status"),
        CheckConstraint(f"status IN ({_STATUSES})", name="status_known"),
        CheckConstraint(
            "guideline_min_pct <= guideline_target_pct AND guideline_target_pct <= guideline_max_pct",
            name="guideline_order",
        ),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"))
    # Not a foreign key: a rating may arrive before the directory event of its person.
    person_id: Mapped[uuid.UUID] = mapped_column(index=True)
    org_unit: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    needs_data_reason: Mapped[str | None] = mapped_column(String(300), nullable=True)

    rating: Mapped[Decimal] = mapped_column(RATING)
    rating_label: Mapped[str | None] = mapped_column(String(100), nullable=True)
    scale_min: Mapped[Decimal] = mapped_column(RATING)
    scale_max: Mapped[Decimal] = mapped_column(RATING)
    rating_version: Mapped[int] = mapped_column(Integer)
    rating_finalized_at: Mapped[datetime] = mapped_column(UTCDateTime())

    compensation_record_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("compensation_records.id"), nullable=True, index=True
    )
    currency: Mapped[str | None] = mapped_column(String(3), nullable=True)
    current_salary: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    grade: Mapped[str | None] = mapped_column(String(50), nullable=True)
    band_minimum: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    band_midpoint: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    band_maximum: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    compa_ratio: Mapped[Decimal | None] = mapped_column(RATIO, nullable=True)
    matrix_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    matrix_revision: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matrix_row: Mapped[int | None] = mapped_column(Integer, nullable=True)
    matrix_bucket: Mapped[int | None] = mapped_column(Integer, nullable=True)
    guideline_min_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    guideline_target_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    guideline_max_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    proposed_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    proposed_salary: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    increase_amount: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    justification: Mapped[str | None] = mapped_column(Text, nullable=True)

    edited_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    submitted_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    returned_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    return_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    # Bonus (issue 11, part 2): the inputs copied from the cycle's bonus plan and the record,
    # the computed amount, and what the manager proposes (a deviation needs a reason).
    job_level: Mapped[str | None] = mapped_column(String(50), nullable=True)
    fte: Mapped[Decimal | None] = mapped_column(FTE, nullable=True)
    bonus_target_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    bonus_multiplier: Mapped[Decimal | None] = mapped_column(MULTIPLIER, nullable=True)
    bonus_company_factor: Mapped[Decimal | None] = mapped_column(MULTIPLIER, nullable=True)
    bonus_proration: Mapped[Decimal | None] = mapped_column(RATIO, nullable=True)
    bonus_computed: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    bonus_amount: Mapped[Decimal | None] = mapped_column(AMOUNT, nullable=True)
    bonus_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Why the proposal may take its unit over budget (only where the policy warns, not blocks).
    over_budget_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class BonusPlan(RecordMixin, Base):
    """A cycle's bonus rules, one JSON document like the merit matrix (read and replaced whole).

    ``definition``: ``targets`` (job level -> target %), ``default_target_pct``, ``multipliers``
    (rating ranges -> multiplier), ``company_factor``, ``period_start``/``period_end`` (for
    proration by hire date) and ``max_deviation_pct`` (how far a manager may move an amount).
    """

    __tablename__ = "bonus_plans"

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_by: Mapped[uuid.UUID]


class BudgetOverride(RecordMixin, Base):
    """HR's own merit and bonus pools for one organisation unit in one cycle.

    A pool is a percentage of the unit's payroll, or, per currency, a fixed amount that wins
    over the percentage for that currency.
    """

    __tablename__ = "budget_overrides"
    __table_args__ = (UniqueConstraint("cycle_id", "org_unit"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"))
    org_unit: Mapped[str] = mapped_column(String(200))
    merit_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    bonus_pct: Mapped[Decimal | None] = mapped_column(PERCENT, nullable=True)
    # {"EUR": "25000.00"}: decimal strings, so no float ever holds an amount. One document
    # beside the percentages because the row is always read and replaced as a whole.
    merit_amounts: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    bonus_amounts: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    set_by: Mapped[uuid.UUID]


class WorkerCategory(RecordMixin, Base):
    """An HR-defined group of "same work or work of equal value" (Directive 2023/970, Art. 4)."""

    __tablename__ = "worker_categories"

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[uuid.UUID]


class ExchangeRate(RecordMixin, Base):
    """HR's rate: one unit of ``currency`` is worth ``rate`` units of ``base`` from ``effective_date`` on.

    Every row has the same base (the service keeps it so), so any two currencies convert
    through it. A rate is in force until the next one of its currency.
    """

    __tablename__ = "exchange_rates"
    __table_args__ = (
        UniqueConstraint("currency", "effective_date"),
        CheckConstraint("rate > 0", name="rate_positive"),
        CheckConstraint("currency <> base", name="not_the_base"),
    )

    currency: Mapped[str] = mapped_column(String(3))
    base: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(EXCHANGE_RATE)
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    set_by: Mapped[uuid.UUID]


class ExchangeRateChange(RecordMixin, Base):
    """A rate as it stood before HR replaced or removed it (``created_at``: when): the reports of
    that time converted with it, so an auditor can still tell what they used."""

    __tablename__ = "exchange_rate_changes"
    __table_args__ = (Index("ix_exchange_rate_changes_currency_effective_date", "currency", "effective_date"),)

    currency: Mapped[str] = mapped_column(String(3))
    base: Mapped[str] = mapped_column(String(3))
    rate: Mapped[Decimal] = mapped_column(EXCHANGE_RATE)
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    set_by: Mapped[uuid.UUID]
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(timezone=True))
    change: Mapped[str] = mapped_column(String(16))  # replaced, removed
    changed_by: Mapped[uuid.UUID]


class RewardsPolicy(TimestampMixin, Base):
    """HR's settings of the rewards service: one row (id 1)."""

    __tablename__ = "rewards_policy"
    __table_args__ = (
        CheckConstraint(f"min_cell_size >= {MIN_CELL_SIZE_FLOOR}", name="min_cell_size_floor"),
        CheckConstraint("equity_flag_pct > 0 AND equity_flag_pct <= 100", name="equity_flag_range"),
        CheckConstraint("budget_mode IN ('block', 'warn')", name="budget_mode_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    min_cell_size: Mapped[int] = mapped_column(Integer, default=MIN_CELL_SIZE_FLOOR)
    equity_flag_pct: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal(5))
    # Controls of the adjusted gap's regression, in order (see services/rewards/equity/stats.py).
    equity_controls: Mapped[list[str]] = mapped_column(JSON)
    # What the calibration impact groups by when a request names nothing (null: gender alone).
    impact_attributes: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    # Over budget: "block" refuses the edit; "warn" accepts it with a reason.
    budget_mode: Mapped[str] = mapped_column(String(10), default="block")
    updated_by: Mapped[uuid.UUID | None] = mapped_column(nullable=True)


class ApprovalPolicy(TimestampMixin, Base):
    """How a cycle's pay approval chains run (issue 11, part 4): set by HR before managers submit."""

    __tablename__ = "approval_policies"
    __table_args__ = (
        CheckConstraint("depth >= 0 AND depth <= 10", name="depth_range"),
        CheckConstraint("step_seconds > 0", name="step_positive"),
    )

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"), primary_key=True)
    depth: Mapped[int] = mapped_column(Integer)
    # A named HR or compensation person decides the last step; none: any active HR person.
    final_approver_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    hr_owner_id: Mapped[uuid.UUID]
    step_seconds: Mapped[int] = mapped_column(Integer)
    reminder_every_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # [{"after_seconds": 3600, "notify": "manager" | "skip_level" | "hr"}, ...]
    escalation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    set_by: Mapped[uuid.UUID]


class ApprovalChain(RecordMixin, Base):
    """One manager's proposals on their way up: the steps planned and the one open now."""

    __tablename__ = "approval_chains"
    __table_args__ = (UniqueConstraint("cycle_id", "manager_id"),)

    cycle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("pay_cycles.id"))
    manager_id: Mapped[uuid.UUID] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(String(20))  # in_progress | approved
    # [{"index", "level", "assignee_id", "final"}]: who decides each step, planned once.
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    current_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    current_assignee_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True, index=True)
    current_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    current_round: Mapped[int | None] = mapped_column(Integer, nullable=True)
    current_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    current_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApprovalComment(RecordMixin, Base):
    """A decision's comment: its text stays here, the workflow carries only the id."""

    __tablename__ = "approval_comments"

    chain_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_chains.id"), index=True)
    author_id: Mapped[uuid.UUID]
    text: Mapped[str] = mapped_column(Text)


class ApprovalAudit(RecordMixin, Base):
    """Every event of a chain: opened, reminded, escalated, approved, returned; who, when,
    and the chain (and its proposals) before and after."""

    __tablename__ = "approval_audit"
    __table_args__ = (Index("ix_approval_audit_chain_at", "chain_id", "at"),)

    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    chain_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("approval_chains.id"))
    step_index: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)  # None: the workflow (timers)
    notified_id: Mapped[uuid.UUID | None] = mapped_column(nullable=True)
    comment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("approval_comments.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
