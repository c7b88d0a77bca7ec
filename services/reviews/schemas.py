from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class PersonCreate(BaseModel):
    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    manager_id: uuid.UUID | None = None
    department: str | None = Field(None, max_length=200)


class PersonUpdate(BaseModel):
    """Only the fields given are changed."""

    email: EmailStr | None = None
    display_name: str | None = Field(None, min_length=1, max_length=200)
    manager_id: uuid.UUID | None = None
    department: str | None = Field(None, max_length=200)
    active: bool | None = None


class PersonRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    manager_id: uuid.UUID | None
    department: str | None
    active: bool
    version: int
    created_at: datetime
    modified_at: datetime | None
