"""Requests and answers of the 360 routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from shared.peer_ratings import PEER_SCALE

AnswerText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class PeerQuestionRead(BaseModel):
    key: str
    text: str


class PeerReviewRead(BaseModel):
    """What the approved peer sees of their review task: whom, what to answer, until when."""

    task_id: str
    cycle_id: uuid.UUID
    person_id: uuid.UUID = Field(description="The colleague the review is about.")
    questions: list[PeerQuestionRead]
    competencies: list[str] = Field(description="Competency keys of the template, each rated 1-5.")
    closes_at: datetime
    answered: bool
    open: bool


class PeerReviewAnswer(BaseModel):
    ratings: dict[str, int] = Field(
        default_factory=dict, description="Every competency of the round rated 1-5 (all of them, none left out)."
    )
    answers: dict[str, AnswerText] = Field(
        default_factory=dict, description="Text per question key; at most 5,000 characters each."
    )


class PeerReviewAnswered(BaseModel):
    task_id: str
    answered: bool = True


class PeerComment(BaseModel):
    question_key: str
    text: str | None = Field(description="null when the text can no longer be decrypted (a key was erased).")


class PeerRoundResult(BaseModel):
    """The subject's 360 result: only once released, and only at k or more answers.

    ``released`` false says the round closed below k; nothing else is told (no count).
    """

    cycle_id: uuid.UUID
    released: bool
    score: float | None = None
    rater_count: int | None = None
    min_raters: int | None = None
    competency_scores: dict[str, float] | None = None
    comments: list[PeerComment] = Field(default_factory=list, description="Without names, in random order.")
    released_at: datetime | None = None


RATING_RANGE = (PEER_SCALE[0], PEER_SCALE[-1])
