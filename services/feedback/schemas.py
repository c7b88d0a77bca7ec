from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.peer_ratings import MIN_PEER_RATERS, PEER_SCALE

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


class PeerRatingGive(BaseModel):
    rating: int = Field(ge=PEER_SCALE[0], le=PEER_SCALE[-1], description="1 (well below) to 5 (well above) peers.")


class PeerRatingRead(BaseModel):
    """A rating as its giver sees it; nobody else ever reads single ratings."""

    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    receiver_id: uuid.UUID
    rating: int
    created_at: datetime
    modified_at: datetime | None


class PeerAggregateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    score: float | None = Field(description="0-100; null when fewer peers than min_raters rated.")
    rater_count: int
    min_raters: int = MIN_PEER_RATERS
