from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_RECEIVERS = 20

Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
CompanyValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class PraiseCreate(BaseModel):
    receiver_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_RECEIVERS)
    message: Message
    company_value: CompanyValue | None = None


class PraiseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_ids: list[uuid.UUID]
    message: str
    company_value: str | None
    created_at: datetime
    modified_at: datetime | None
