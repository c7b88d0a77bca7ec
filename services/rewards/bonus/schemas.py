from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.rewards.schemas import Label, Percent

Factor = Annotated[Decimal, Field(ge=0, le=10, max_digits=6, decimal_places=3, allow_inf_nan=False)]
Rating = Annotated[Decimal, Field(max_digits=9, decimal_places=3, allow_inf_nan=False)]


class MultiplierRowModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min: Rating
    max: Rating
    multiplier: Factor


class BonusPlanDefinition(BaseModel):
    """A cycle's bonus rules. Rows are rating ranges ``[min, max)``, the last closed; contiguous."""

    model_config = ConfigDict(extra="forbid")

    targets: dict[Label, Percent] = Field(default_factory=dict, description="job level -> target bonus %")
    default_target_pct: Percent | None = Field(None, description="For levels not in targets; none: no bonus.")
    multipliers: list[MultiplierRowModel] = Field(min_length=1, max_length=50)
    company_factor: Factor = Field(Decimal(1), description="The company performance factor of this cycle.")
    period_start: date
    period_end: date
    max_deviation_pct: Percent = Field(
        Decimal(0), description="How far (% of the computed bonus) a manager may move an amount, with a reason."
    )


class BonusPlanRead(BaseModel):
    cycle_id: uuid.UUID
    revision: int
    definition: BonusPlanDefinition
    updated_by: uuid.UUID
    modified_at: datetime | None
    recomputed: int = Field(0, description="Draft proposals whose bonus this change recomputed.")
