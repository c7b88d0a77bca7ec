from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.rewards.exchange_rates.schemas import ConversionRead
from services.rewards.rules import PoolBasis
from services.rewards.schemas import Amount, Currency, Percent
from shared.calibration import ProposalStatus, RatingNumber

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
# A unit's pool per currency as a fixed amount: {"EUR": "25000.00"}.
FixedPools = Annotated[dict[Currency, Amount], Field(max_length=50)]
BASIS = (
    "How the pool is set: 'percent' of payroll, 'amount' (HR's fixed amount; for a manager, their reports' "
    "pro-rata share of it), 'mixed' (a manager's reports in units set either way); null: no pool."
)


class ReportScope(StrEnum):
    direct = "direct"  # the manager's direct reports
    all = "all"  # everyone below the manager, at any depth


class Guideline(BaseModel):
    min: Decimal
    target: Decimal
    max: Decimal


class ProposalRead(BaseModel):
    """A proposal as its manager and HR see it (amounts included: this is the rewards API)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    cycle_id: uuid.UUID
    person_id: uuid.UUID
    display_name: str | None = None
    org_unit: str
    status: ProposalStatus
    needs_data_reason: str | None
    rating: RatingNumber
    rating_label: str | None
    scale_min: RatingNumber
    scale_max: RatingNumber
    rating_version: int
    currency: str | None
    current_salary: Decimal | None
    grade: str | None
    band_minimum: Decimal | None
    band_midpoint: Decimal | None
    band_maximum: Decimal | None
    compa_ratio: Decimal | None
    guideline: Guideline | None = None
    proposed_pct: Decimal | None
    proposed_salary: Decimal | None
    increase_amount: Decimal | None
    outside_guideline: bool = False
    justification: str | None
    edited_by: uuid.UUID | None
    edited_at: datetime | None
    submitted_by: uuid.UUID | None
    submitted_at: datetime | None
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    returned_by: uuid.UUID | None
    returned_at: datetime | None
    return_reason: str | None
    created_at: datetime
    modified_at: datetime | None
    job_level: str | None = None
    fte: Decimal | None = None
    bonus_target_pct: Decimal | None = None
    bonus_multiplier: Decimal | None = None
    bonus_company_factor: Decimal | None = None
    bonus_proration: Decimal | None = Field(None, description="Share of the bonus period employed (hire date).")
    bonus_computed: Decimal | None = Field(None, description="salary x target x multiplier x factor x proration")
    bonus_amount: Decimal | None = Field(None, description="The proposed bonus: the computed one unless changed.")
    bonus_reason: str | None = None
    over_budget_reason: str | None = None


class ProposalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposed_pct: Percent
    justification: Text | None = Field(None, description="Required when proposed_pct is outside the guideline.")
    bonus_amount: Amount | None = Field(None, description="A bonus other than the computed one (within HR's limit).")
    bonus_reason: Text | None = Field(None, description="Required when bonus_amount differs from the computed one.")
    budget_reason: Text | None = Field(
        None, description="Required when the change takes the unit over a budget and the policy warns (not blocks)."
    )


class BudgetRead(BaseModel):
    """One currency's merit budget of one organisation unit (amounts in that currency)."""

    currency: str
    payroll: Decimal
    proposed_increase: Decimal
    budget: Decimal | None
    remaining: Decimal | None
    basis: PoolBasis | None = Field(None, description=BASIS)


BudgetScope = Literal["org_unit", "own_reports"]


class ProposalEdited(BaseModel):
    """The edited proposal and the budgets it counts against: the unit's for HR; for a manager,
    the totals over their own reports only (never the whole unit's payroll)."""

    proposal: ProposalRead
    budget_pct: Decimal | None
    budget: BudgetRead
    bonus_budget_pct: Decimal | None = None
    bonus_budget: BudgetRead | None = None
    budget_scope: BudgetScope = "org_unit"
    warnings: list[str] = Field(default_factory=list, description="Budgets this change exceeds (warn mode).")


class PoolRead(BaseModel):
    """Merit and bonus of one currency: payroll, what is proposed, the pool and what remains."""

    currency: str
    payroll: Decimal
    merit_proposed: Decimal
    merit_budget: Decimal | None
    merit_remaining: Decimal | None
    bonus_proposed: Decimal
    bonus_budget: Decimal | None
    bonus_remaining: Decimal | None
    merit_basis: PoolBasis | None = Field(None, description=BASIS)
    bonus_basis: PoolBasis | None = Field(None, description=BASIS)


class ManagerBudget(BaseModel):
    cycle_id: uuid.UUID
    manager_id: uuid.UUID
    budget_scope: BudgetScope = "own_reports"
    people: int = Field(description="Proposals with pay data below the manager (all levels).")
    currencies: list[PoolRead]


class CycleBudgetTotals(BaseModel):
    """A cycle's merit and bonus pools and spend over all its units, per currency and, on request, in one."""

    cycle_id: uuid.UUID
    org_units: int = Field(description="Units with proposals that have pay data.")
    people: int = Field(description="Proposals with pay data.")
    currencies: list[PoolRead] = Field(
        description="Per currency: the units' figures as their summaries show them, added up (a pool is null "
        "when a unit has none in that currency)."
    )
    total: PoolRead | None = Field(
        description="With reporting_currency: every currency's figures converted and added up; never instead of "
        "them: each unit pays in its own currencies, and a surplus in one never covers an overrun in another."
    )
    conversion: ConversionRead | None


class BudgetOverrideUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    merit_pct: Percent | None = Field(
        None, description="This unit's merit pool in % of its payroll; null: the cycle's."
    )
    bonus_pct: Percent | None = Field(
        None, description="This unit's bonus pool in % of its payroll; null: the cycle's."
    )
    merit_amounts: FixedPools | None = Field(
        None,
        description="This unit's merit pool as a fixed amount per currency (ISO 4217 code -> amount, 2 decimals); "
        "it wins over the percentage in that currency, other currencies keep the percentage.",
        examples=[{"EUR": "25000.00"}],
    )
    bonus_amounts: FixedPools | None = Field(
        None, description="This unit's bonus pool as a fixed amount per currency, likewise."
    )
    reason: Text | None = None


class SubmitResult(BaseModel):
    cycle_id: uuid.UUID
    manager_id: uuid.UUID
    submitted: int
    already_submitted: int
    needs_data: int = Field(description="Proposals HR must complete first; they were not submitted.")


class UnitSummary(BaseModel):
    cycle_id: uuid.UUID
    org_unit: str
    count: int
    status_counts: dict[ProposalStatus, int]
    approved: bool
    approved_by: uuid.UUID | None
    approved_at: datetime | None
    budget_pct: Decimal | None = Field(description="The unit's merit %: its override, else the cycle's.")
    currencies: list[BudgetRead]
    bonus_budget_pct: Decimal | None = None
    bonus: list[BudgetRead] = Field(default_factory=list, description="Bonus pool and spend per currency.")
    total: PoolRead | None = Field(
        None,
        description="With reporting_currency: the per-currency figures converted and added up, beside them (each "
        "pool is still spent in its own currency).",
    )
    conversion: ConversionRead | None = None
    merit_amounts: dict[str, Decimal] = Field(
        default_factory=dict, description="The unit's fixed merit pools by currency (they win over budget_pct)."
    )
    bonus_amounts: dict[str, Decimal] = Field(
        default_factory=dict, description="The unit's fixed bonus pools by currency (they win over bonus_budget_pct)."
    )
    unit_merit_pct: Decimal | None = Field(None, description="The unit's own merit %; null: it follows the cycle's.")
    unit_bonus_pct: Decimal | None = Field(None, description="The unit's own bonus %; null: it follows the cycle's.")
    override_reason: str | None = None
    manager_due: date | None
    hr_due: date | None
    manager_overdue: bool
    hr_overdue: bool


class ApproveResult(BaseModel):
    cycle_id: uuid.UUID
    org_unit: str
    approved: int
    cycle_finalized: bool


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text
    proposal_ids: list[uuid.UUID] | None = Field(
        None, max_length=10_000, description="Only these proposals; default: every submitted one of the unit."
    )


class ReturnResult(BaseModel):
    cycle_id: uuid.UUID
    org_unit: str
    returned: int


class RefreshResult(BaseModel):
    cycle_id: uuid.UUID
    completed: int
    still_needs_data: int


class CycleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    budget_pct: Decimal | None
    bonus_budget_pct: Decimal | None = None
    manager_due: date | None
    hr_due: date | None
    finalized_at: datetime | None
    approved_count: int | None
    org_units: list[str] = Field(default_factory=list)
    approved_org_units: list[str] = Field(default_factory=list)
    ratings_received: int = Field(
        0,
        description="Final ratings that arrived from reviews, one proposal each; caught up when it equals the "
        "reviews service's GET /review-cycles/{id} activity.ratings_published.",
    )
    proposal_counts: dict[ProposalStatus, int] = Field(default_factory=dict, description="status -> proposals")
    last_rating_at: datetime | None = Field(None, description="When the latest rating received was finalized.")


class CycleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget_pct: Percent | None = None
    bonus_budget_pct: Percent | None = None
    manager_due: date | None = None
    hr_due: date | None = None


class Statement(BaseModel):
    """An employee's approved outcome of one cycle."""

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    rating: RatingNumber
    rating_label: str | None
    scale_min: RatingNumber
    scale_max: RatingNumber
    currency: str
    previous_salary: Decimal
    new_salary: Decimal
    increase_pct: Decimal
    increase_amount: Decimal = Field(description="The merit increase (annual).")
    bonus_amount: Decimal = Field(Decimal(0), description="The approved bonus of the cycle (0 without one).")
    total_cash: Decimal = Field(description="new_salary + bonus_amount")
    approved_at: datetime


class StatementHistory(BaseModel):
    """A person's total-reward statements, newest first."""

    person_id: uuid.UUID
    statements: list[Statement]
