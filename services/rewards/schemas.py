from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Grade = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
# ISO 4217 alphabetic code; upper case only, so "eur" and "EUR" cannot become two bands.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Amount = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


class PayBandCreate(BaseModel):
    grade: Grade
    currency: Currency
    minimum: Amount
    midpoint: Amount
    maximum: Amount


class PayBandRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grade: str
    currency: str
    minimum: Decimal
    midpoint: Decimal
    maximum: Decimal
    created_at: datetime
    modified_at: datetime | None
