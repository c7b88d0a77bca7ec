from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.peer_ratings import MIN_PEER_RATERS, PEER_SCALE

MAX_RECEIVERS = 20

Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class PraiseCreate(BaseModel):
    receiver_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_RECEIVERS)
    message: Message
    company_value_id: uuid.UUID | None = Field(None, description="One of HR's company values (GET /company-values).")


class PraiseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_ids: list[uuid.UUID]
    message: str
    company_value_id: uuid.UUID | None
    company_value: str | None = Field(description="The value's name (or the free text of older praise).")
    created_at: datetime
    modified_at: datetime | None


class PeerRatingGive(BaseModel):
    rating: int = Field(ge=PEER_SCALE[0], le=PEER_SCALE[-1], description="1 (well below) to 5 (well above) peers.")


class PeerRatingRead(BaseModel):
    """A rating as its giver sees it; nobody else ever reads single ratings."""

    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    receiver_id: uuid.UUID
    rating: int | None = Field(
        description="Null once the cycle's ratings closed: the key that sealed it is destroyed then."
    )
    created_at: datetime
    modified_at: datetime | None


class PeerAggregateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    score: float | None = Field(description="0-100; null when fewer peers than min_raters rated.")
    rater_count: int
    min_raters: int = MIN_PEER_RATERS


# --- company values and competencies (HR's lists to choose from) ------------------------------

ValueName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
ValueDescription = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]


class CatalogueEntryCreate(BaseModel):
    name: ValueName = Field(description="Unique in its list, in any case.")
    description: ValueDescription | None = None


class CatalogueEntryUpdate(BaseModel):
    name: ValueName | None = None
    description: ValueDescription | None = None
    archived: bool | None = Field(None, description="Archived entries stay readable and can no longer be chosen.")


class CatalogueEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    archived: bool
    created_at: datetime
    modified_at: datetime | None


class CompanyValueCreate(CatalogueEntryCreate):
    """A new company value."""


class CompanyValueUpdate(CatalogueEntryUpdate):
    """What changes of a company value."""


class CompanyValueRead(CatalogueEntryRead):
    """A company value."""


class CompetencyCreate(CatalogueEntryCreate):
    """A new competency of the company's framework."""


class CompetencyUpdate(CatalogueEntryUpdate):
    """What changes of a competency."""


class CompetencyRead(CatalogueEntryRead):
    """A competency of the company's framework."""


# --- written feedback ---------------------------------------------------------------------------

MAX_FEEDBACK_LENGTH = 5000
FeedbackText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_FEEDBACK_LENGTH)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class FeedbackLinks(BaseModel):
    goal_id: uuid.UUID | None = Field(None, description="A goal the feedback is about (goals service id).")
    competency_id: uuid.UUID | None = Field(None, description="One of HR's competencies the feedback is about.")
    company_value_id: uuid.UUID | None = Field(None, description="One of HR's company values.")


class FeedbackGive(FeedbackLinks):
    receiver_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_RECEIVERS)
    text: FeedbackText


class FeedbackAnswer(FeedbackLinks):
    text: FeedbackText


class FeedbackRead(BaseModel):
    id: uuid.UUID
    giver_id: uuid.UUID
    receiver_id: uuid.UUID
    text: str | None = Field(description="Null when it can no longer be decrypted for you (a key was erased).")
    goal_id: uuid.UUID | None
    competency_id: uuid.UUID | None
    company_value_id: uuid.UUID | None
    request_id: uuid.UUID | None
    shared_with_manager: bool = Field(description="Whether the receiver shares it with their manager now.")
    created_at: datetime


class FeedbackGiven(BaseModel):
    items: list[FeedbackRead] = Field(description="One item per receiver, each readable by its giver and receiver.")


class FeedbackShareRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    item_id: uuid.UUID
    manager_id: uuid.UUID
    created_at: datetime
    revoked_at: datetime | None


# --- feedback requests --------------------------------------------------------------------------


class FeedbackRequestCreate(BaseModel):
    recipient_ids: list[uuid.UUID] = Field(min_length=1, description="Colleagues asked (at most the setting).")
    due_on: date
    question: Question | None = None
    goal_id: uuid.UUID | None = Field(
        None, description="A goal the feedback is asked about (goals service id): every answer is about it."
    )


class RecipientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: uuid.UUID
    status: str
    responded_at: datetime | None


class FeedbackRequestRead(BaseModel):
    """A request as its requester sees it: who answered, never what (answers are in received feedback)."""

    id: uuid.UUID
    requester_id: uuid.UUID
    due_on: date
    question: str | None
    goal_id: uuid.UUID | None = Field(None, description="The goal the feedback is asked about, if any.")
    recipients: list[RecipientRead]
    created_at: datetime


class InboxEntry(BaseModel):
    """A request as one asked person sees it."""

    request_id: uuid.UUID
    requester_id: uuid.UUID
    due_on: date
    question: str | None
    goal_id: uuid.UUID | None = Field(None, description="The goal the feedback is asked about, if any.")
    status: str
    item_id: uuid.UUID | None
    responded_at: datetime | None
    created_at: datetime
