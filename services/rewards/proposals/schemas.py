from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.rewards.schemas import Percent
from shared.calibration import ProposalStatus, RatingNumber

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


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


class ProposalUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposed_pct: Percent
    justification: Text | None = Field(None, description="Required when proposed_pct is outside the guideline.")


class BudgetRead(BaseModel):
    """One currency's merit budget of one organisation unit (amounts in that currency)."""

    currency: str
    payroll: Decimal
    proposed_increase: Decimal
    budget: Decimal | None
    remaining: Decimal | None


class ProposalEdited(BaseModel):
    proposal: ProposalRead
    budget_pct: Decimal | None
    budget: BudgetRead


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
    budget_pct: Decimal | None
    currencies: list[BudgetRead]
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
    increase_amount: Decimal
    approved_at: datetime
