"""Request and response bodies of the rating-scale and review-template API.

The models check types and lengths only; the rules (weights, scales, kinds, the formula)
live in templates/rules.py so each error can name its exact path, e.g.
``sections[1].items[0].scale_id``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.reviews.templates.expression import MAX_LENGTH

FiniteNumber = Annotated[float, Field(allow_inf_nan=False)]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]


# Rating scales


class ScalePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: FiniteNumber
    label: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=2000)


class RatingScaleWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    points: list[ScalePoint] = Field(description="2 to 10 points, values strictly increasing, labels unique.")


class RatingScaleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    description: str | None
    points: list[ScalePoint]
    revision: int
    created_by: uuid.UUID
    created_at: datetime
    modified_at: datetime | None


# Templates


class SectionKind(StrEnum):
    goals = "goals"
    competencies = "competencies"
    questions = "questions"


class AnsweredBy(StrEnum):
    self = "self"
    manager = "manager"
    both = "both"


class ItemKind(StrEnum):
    competency = "competency"
    rated = "rated"
    free_text = "free_text"


class TemplateStatus(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Behaviour(BaseModel):
    """What a behaviour looks like: at one level of the scale (``level`` = a point's value), or overall."""

    model_config = ConfigDict(extra="forbid")

    level: FiniteNumber | None = None
    description: str = Field(min_length=1, max_length=2000)


class ItemWrite(BaseModel):
    """A competency (or company value) to rate, or a question (free text or rated)."""

    model_config = ConfigDict(extra="forbid")

    key: Key | None = Field(None, description="Stable id of the item across versions; generated when left out.")
    kind: ItemKind = Field(description="competency in a competencies section; rated or free_text in questions.")
    name: str | None = Field(None, max_length=200, description="Competency name.")
    company_value: str | None = Field(None, max_length=200, description="The company value this item stands for.")
    competency_id: uuid.UUID | None = Field(
        None,
        description="The competency of HR's list (GET /competencies) this item rates; name defaults to its name.",
    )
    company_value_id: uuid.UUID | None = Field(
        None,
        description="The company value of HR's list (GET /company-values); company_value defaults to its name.",
    )
    behaviours: list[Behaviour] = Field(default_factory=list, max_length=20)
    text: str | None = Field(None, max_length=2000, description="Question text.")
    scale_id: uuid.UUID | None = None
    required: bool = True
    weight: FiniteNumber | None = Field(None, description="Defaults to 1 for rated items; free-text items have none.")


class SectionFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key | None = Field(None, description="Stable id of the section across versions; generated when left out.")
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    kind: SectionKind
    weight: FiniteNumber = 1.0
    answered_by: AnsweredBy


class SectionWrite(SectionFields):
    items: list[ItemWrite] = Field(default_factory=list, max_length=100)


class PeerQuestionWrite(BaseModel):
    key: Key
    text: str = Field(min_length=1, max_length=2000)


class PeerFeedbackOptions(BaseModel):
    """360: the employee nominates ``min_peers``..``max_peers`` colleagues, the manager approves;
    each approved peer answers ``questions`` (text) and rates ``competencies`` (item keys of the
    template's competencies sections) 1-5 in the feedback service. ``min_raters`` is k (at least 3)."""

    model_config = ConfigDict(extra="forbid")

    min_peers: int = Field(3, ge=1, le=50)
    max_peers: int = Field(8, ge=1, le=50)
    questions: list[PeerQuestionWrite] = Field(default_factory=list, max_length=20)
    competencies: list[Key] = Field(default_factory=list, max_length=50)
    min_raters: int = Field(3, ge=3, le=50, description="k: answers needed before anything is released.")

    @model_validator(mode="after")
    def _bounds(self) -> PeerFeedbackOptions:
        if self.max_peers < self.min_peers:
            raise ValueError("max_peers must be at least min_peers")
        if not self.questions and not self.competencies:
            raise ValueError("peer feedback needs at least one question or competency")
        return self


class TemplateWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(None, max_length=4000)
    sections: list[SectionWrite] = Field(max_length=30)
    peer_feedback: PeerFeedbackOptions | None = Field(None, description="Set: cycles of this template run a 360.")
    formula: str | None = Field(
        None,
        max_length=MAX_LENGTH,
        description="Overall score formula (docs/review-templates.md); null: weighted by the section weights.",
    )


class Item(ItemWrite):
    key: Key
    weight: FiniteNumber | None


class Section(SectionFields):
    key: Key
    items: list[Item] = Field(default_factory=list)


class TemplateRead(BaseModel):
    id: uuid.UUID
    family_id: uuid.UUID
    version: int
    name: str
    description: str | None
    status: TemplateStatus
    sections: list[Section]
    peer_feedback: PeerFeedbackOptions | None = None
    formula: str | None
    effective_formula: str = Field(description="The formula that scores: the given one, or the default one.")
    scale_ids: list[uuid.UUID]
    created_by: uuid.UUID
    created_at: datetime
    modified_at: datetime | None
    published_at: datetime | None
    published_by: uuid.UUID | None
    archived_at: datetime | None


class TemplateSummary(BaseModel):
    id: uuid.UUID
    family_id: uuid.UUID
    version: int
    name: str
    status: TemplateStatus
    created_at: datetime
    published_at: datetime | None


# Scoring


class Respondent(StrEnum):
    self = "self"
    manager = "manager"


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: Key
    by: Respondent
    value: FiniteNumber


class ScorePreviewRequest(BaseModel):
    """Component values (0-100, null or left out = missing) and/or ratings to compute them from."""

    model_config = ConfigDict(extra="forbid")

    components: dict[str, FiniteNumber | None] = Field(default_factory=dict)
    ratings: list[RatingIn] = Field(default_factory=list, max_length=1000)
