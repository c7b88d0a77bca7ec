from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from services.rewards.schemas import Amount, Currency, Grade


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
