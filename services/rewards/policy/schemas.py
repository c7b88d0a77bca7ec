from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.rewards.models import MIN_CELL_SIZE_FLOOR
from services.rewards.schemas import Attribute

Code = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Control(StrEnum):
    """What the adjusted pay gap may control for (categorical ones become indicator columns)."""

    job_level = "job_level"
    job_family = "job_family"
    location = "location"
    tenure = "tenure"  # years from hire_date to the reference date, a number
    worker_category = "worker_category"
    employment_type = "employment_type"
    fte = "fte"


class BudgetMode(StrEnum):
    block = "block"  # an edit that takes a unit over a budget is refused
    warn = "warn"  # it is accepted with a reason (budget_reason) and reported as a warning


DEFAULT_CONTROLS = (Control.job_level, Control.location, Control.tenure)
DEFAULT_IMPACT_ATTRIBUTES = (Attribute.gender,)


class PolicyRead(BaseModel):
    min_cell_size: int = Field(description="Report cells covering fewer people are suppressed (at least 5).")
    equity_flag_pct: Decimal = Field(description="An unexplained gap of this many percent or more is flagged.")
    equity_controls: list[Control]
    budget_mode: BudgetMode
    impact_attributes: list[Attribute] = Field(
        description="What the calibration impact groups people by when a request names nothing."
    )
    updated_by: uuid.UUID | None
    modified_at: datetime | None


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_cell_size: int | None = Field(
        None, ge=MIN_CELL_SIZE_FLOOR, le=1000, description="5 or more: cells covering fewer people are never shown."
    )
    equity_flag_pct: Decimal | None = Field(None, gt=0, le=100, max_digits=5, decimal_places=2)
    equity_controls: list[Control] | None = Field(None, max_length=7)
    budget_mode: BudgetMode | None = None
    impact_attributes: list[Attribute] | None = Field(
        None, min_length=1, max_length=5, description="The protected attributes the calibration impact uses by default."
    )


class WorkerCategoryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Code
    name: Name
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class WorkerCategoryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name: str
    description: str | None
    created_at: datetime
