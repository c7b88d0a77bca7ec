from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class GoalCreate(BaseModel):
    title: Title
    description: str | None = Field(None, max_length=10_000)
    due_date: date | None = None
    period_start: date | None = None
    period_end: date | None = None
    owner_id: uuid.UUID | None = Field(
        None, description="Whose goal this is; only HR and admins may name someone else (default: you)."
    )


class GoalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    description: str | None
    due_date: date | None
    period_start: date | None
    period_end: date | None
    status: str
    created_at: datetime
    modified_at: datetime | None
