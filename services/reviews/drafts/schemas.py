"""Request and response models of review drafts, and the shape the model must answer in."""

from __future__ import annotations

import uuid
from enum import StrEnum

from pydantic import BaseModel, Field

from services.reviews.cycles.schemas import Answer
from shared.attestation import SourceBundle
from shared.llm import FallbackReason


class SourceKind(StrEnum):
    goal_score = "goal_score"
    goal = "goal"
    own_answer = "own_answer"
    self_assessment = "self_assessment"
    final_rating = "final_rating"
    manager_review = "manager_review"
    # Attested by goals and feedback (shared.attestation.SourceItemKind, same values).
    key_result = "key_result"
    milestone = "milestone"
    goal_check_in = "goal_check_in"
    praise = "praise"
    written_feedback = "written_feedback"
    checkin_agenda = "checkin_agenda"
    checkin_action = "checkin_action"
    own_note = "own_note"


class Source(BaseModel):
    id: str = Field(
        description="What a sentence cites, e.g. `goal:<goal id>`, `own:<item key>`, `self:<item key>`, or an "
        "attested item's id (`goals:goal:<id>`, `feedback:praise:<id>`...)."
    )
    kind: SourceKind
    text: str = Field(description="What the source says, as it was put in the prompt.")
    issuer: str | None = Field(
        None, description="The service whose signed bundle it came from (`goals`, `feedback`); none: reviews' own."
    )


ATTESTED: list[SourceBundle] = Field(
    default_factory=list,
    max_length=4,
    description="Bundles from `GET /goals/draft-sources` and `GET /feedback/draft-sources`, fetched with your own "
    "token for this person and passed on unchanged (at most 15 minutes old). Their items become citable sources.",
)


class DraftRequest(BaseModel):
    attested_sources: list[SourceBundle] = ATTESTED


class DraftSentence(BaseModel):
    item: str = Field(min_length=1, max_length=64, description="The form item (key) the sentence helps answer.")
    text: str = Field(min_length=1, max_length=1000)
    sources: list[str] = Field(min_length=1, max_length=10, description="Ids of the sources it rests on.")


class ModelDraft(BaseModel):
    """What the model answers."""

    sentences: list[DraftSentence] = Field(min_length=1, max_length=12)


class DraftRead(BaseModel):
    task_id: str
    step: str
    provider: str = Field(description="`model` when the language model wrote it, else `local`.")
    fallback_reason: FallbackReason | None = None
    prompt_version: str
    audit_id: uuid.UUID = Field(description="The audit-log entry of this request (`GET /review-drafts/audit`).")
    sentences: list[DraftSentence] = Field(description="Every sentence cites at least one of `sources`.")
    answers: list[Answer] = Field(
        description="The sentences per item as comments, ready to edit and save with `PUT /tasks/{id}/draft`."
    )
    sources: list[Source] = Field(description="Everything the draft could use: only what you may read.")
    unavailable_sources: list[str] = Field(description="What a draft cannot draw on yet, and why.")
    notes: list[str]


class SummaryRequest(BaseModel):
    year: int = Field(ge=2000, le=2100, description="The calendar year: cycles whose period ends in it.")
    attested_sources: list[SourceBundle] = ATTESTED


class SummaryRead(BaseModel):
    person_id: uuid.UUID
    year: int
    provider: str = Field(description="`model` when the language model wrote it, else `local`.")
    fallback_reason: FallbackReason | None = None
    prompt_version: str
    audit_id: uuid.UUID = Field(description="The audit-log entry of this request (`GET /review-drafts/audit`).")
    sentences: list[DraftSentence] = Field(description="Every sentence cites at least one of `sources`.")
    text: str = Field(description="The sentences as one paragraph, to edit.")
    sources: list[Source]
    unavailable_sources: list[str]
    notes: list[str]
