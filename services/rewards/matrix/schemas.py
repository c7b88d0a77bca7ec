from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.rewards.schemas import Percent
from shared.calibration import RatingValue

# A compa-ratio bound: 0.9 means 90 % of the band midpoint.
RatioBound = Annotated[Decimal, Field(ge=0, max_digits=8, decimal_places=4, allow_inf_nan=False)]
Label = Annotated[str | None, Field(None, max_length=50)]


class BucketIn(BaseModel):
    """Compa-ratios from ``min`` (inclusive) to ``max`` (exclusive); the last has ``max`` null."""

    min: RatioBound
    max: RatioBound | None = None
    label: Label = None


class RatingRowIn(BaseModel):
    """Ratings from ``min`` (inclusive) to ``max`` (exclusive; inclusive on the last row)."""

    min: RatingValue
    max: RatingValue
    label: Label = None


class CellIn(BaseModel):
    """Guideline increase in percent of the current salary."""

    min: Percent
    target: Percent
    max: Percent


class MeritMatrixWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale_min: RatingValue
    scale_max: RatingValue
    buckets: list[BucketIn] = Field(min_length=1, max_length=12)
    rows: list[RatingRowIn] = Field(min_length=1, max_length=20)
    cells: list[list[CellIn]] = Field(description="cells[row][bucket], one list per rating row.")


class MeritMatrixRead(MeritMatrixWrite):
    model_config = ConfigDict(extra="ignore")

    id: uuid.UUID
    scope: str
    cycle_id: uuid.UUID | None
    basis: Literal["compa_ratio"] = "compa_ratio"
    revision: int
    updated_by: uuid.UUID
    created_at: datetime
    modified_at: datetime | None
