"""Requests and answers of upward feedback."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.peer_ratings import PEER_SCALE


class PulseCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    closes_at: datetime = Field(description="Answers are taken until then (with a time zone offset).")
    cycle_id: uuid.UUID | None = Field(None, description="The review cycle it belongs to; none for a pulse.")
    min_raters: int = Field(3, ge=3, le=50, description="k: answers a manager needs before anything is released.")


class PulseExtend(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closes_at: datetime = Field(
        description="The new closing time: later than the current one, in the future, with a time zone offset."
    )


class PulseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    cycle_id: uuid.UUID | None
    closes_at: datetime
    min_raters: int
    status: str
    closed_at: datetime | None


class UpwardAnswerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: int = Field(ge=PEER_SCALE[0], le=PEER_SCALE[-1], description="1 (far below) to 5 (far above).")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)] | None = None


class UpwardAnswered(BaseModel):
    pulse_id: uuid.UUID
    answered: bool = True


class ManagerResult(BaseModel):
    """What the manager sees once the pulse closed: at k or more answers only; below k nothing."""

    pulse_id: uuid.UUID
    released: bool
    score: float | None = None
    rater_count: int | None = None
    comments: list[str | None] = Field(default_factory=list, description="Without names, in random order.")


class ReleasedResult(BaseModel):
    """A pulse whose aggregate about you was released (k or more answers), as your list shows it."""

    pulse_id: uuid.UUID
    title: str
    closed_at: datetime
    score: float
    rater_count: int


class OrgUnitResult(BaseModel):
    org_unit: str | None
    score: float
    rater_count: int
    managers: int


class UpwardInboxItem(PulseRead):
    """An open pulse the caller may answer (a cycle's: only its participants)."""

    answered: bool = Field(description="You answered it already (answers are taken once).")
