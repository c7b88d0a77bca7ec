"""Request and response models of the goals service."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.goals.rules import (
    Direction,
    Level,
    PeriodKind,
    ProgressSource,
    RollupRule,
    SmartProperty,
    Status,
    Unit,
    Visibility,
)
from shared.cycles import ScoreError

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=10_000)]
Currency = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")]
Weight = Annotated[float, Field(ge=0, le=100)]
# The form parse_period accepts, stated in the schema so clients can check it before sending.
PERIOD_PATTERN = r"^[0-9]{4}(-([Qq][1-4]|[Hh][12]))?$"
Period = Annotated[
    str,
    Field(description="A calendar period: 2026 (year), 2026-H1 (half), 2026-Q3 (quarter).", pattern=PERIOD_PATTERN),
]


# ---------------------------------------------------------------------------- key results, milestones


class KeyResultCreate(BaseModel):
    title: Title
    unit: Unit = Unit.number
    currency: Currency | None = Field(None, description="ISO 4217 code; required when unit is currency.")
    start_value: float = 0.0
    target_value: float = Field(1.0, description="For yes/no key results start is 0 and target 1.")
    current_value: float | None = Field(None, description="Defaults to start_value.")
    direction: Direction | None = Field(None, description="Default: decrease if target < start, else increase.")
    weight: float = Field(1.0, ge=0, le=1000, description="Relative weight among the goal's key results.")


class KeyResultUpdate(BaseModel):
    title: Title | None = None
    currency: Currency | None = None
    start_value: float | None = None
    target_value: float | None = None
    direction: Direction | None = None
    weight: float | None = Field(None, ge=0, le=1000)


class KeyResultRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    unit: Unit
    currency: str | None
    direction: Direction
    start_value: float
    target_value: float
    current_value: float
    weight: float
    progress: float = 0.0


class MilestoneCreate(BaseModel):
    title: Title
    due_date: date
    key_result_id: uuid.UUID | None = None
    target_value: float | None = None


class MilestoneUpdate(BaseModel):
    title: Title | None = None
    due_date: date | None = None
    target_value: float | None = None
    done: bool | None = None


class MilestoneRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    due_date: date
    key_result_id: uuid.UUID | None
    target_value: float | None
    completed_at: datetime | None


# ---------------------------------------------------------------------------- goals


class PeriodInput(BaseModel):
    """A period by name (``period``) or by dates (``period_start`` and ``period_end``)."""

    period: Period | None = None
    period_start: date | None = None
    period_end: date | None = None


class GoalCreate(PeriodInput):
    title: Title
    description: Description | None = None
    level: Level = Level.individual
    department: Title | None = Field(None, description="The department of a department goal.")
    visibility: Visibility = Visibility.public
    due_date: date | None = None
    owner_id: uuid.UUID | None = Field(
        None,
        description="Whose goal this is (default: you). HR and admins may name anyone, managers their reports.",
    )
    aligned_to_id: uuid.UUID | None = Field(None, description="The goal this one contributes to.")
    weight: Weight | None = Field(None, description="Share (0-100) of the owner's goals in the period.")
    key_results: list[KeyResultCreate] = Field(default_factory=list, max_length=20)
    milestones: list[MilestoneCreate] = Field(default_factory=list, max_length=50)


class GoalUpdate(PeriodInput):
    title: Title | None = None
    description: Description | None = None
    visibility: Visibility | None = None
    due_date: date | None = None
    aligned_to_id: uuid.UUID | None = None
    weight: Weight | None = None
    department: Title | None = None


class StatusOverride(BaseModel):
    status: Status | None = Field(..., description="The status to show; null returns to the derived status.")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class SmartIssueRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    property: SmartProperty
    code: str
    message: str


class SmartReport(BaseModel):
    ok: bool
    missing: list[SmartProperty]
    issues: list[SmartIssueRead]


class GoalRead(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    level: Level
    department: str | None
    title: str
    description: str | None
    visibility: Visibility
    period_kind: PeriodKind | None
    period_start: date | None
    period_end: date | None
    due_date: date | None
    aligned_to_id: uuid.UUID | None
    assigned_from_id: uuid.UUID | None
    weight: float | None
    progress: float
    progress_source: ProgressSource
    status: Status
    status_override: Status | None
    status_reason: str | None
    key_results: list[KeyResultRead]
    milestones: list[MilestoneRead]
    smart: SmartReport
    version: int
    completed_at: datetime | None
    created_at: datetime
    modified_at: datetime | None


class CheckInCreate(BaseModel):
    key_result_id: uuid.UUID | None = Field(None, description="The key result whose value this reports.")
    value: float | None = Field(
        None, description="The key result's new value; for a goal without key results or milestones, its progress."
    )
    confidence: int | None = Field(None, ge=0, le=10, description="How sure the author is to reach the goal, 0-10.")
    note: Annotated[str, Field(max_length=5000)] | None = None


class CheckInRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    goal_id: uuid.UUID
    key_result_id: uuid.UUID | None
    author_id: uuid.UUID
    value: float | None
    previous_value: float | None
    confidence: int | None
    note: str | None
    progress_before: float
    progress_after: float
    created_at: datetime


class AuditRead(BaseModel):
    id: uuid.UUID
    actor_id: uuid.UUID
    action: str
    changes: dict[str, object]
    created_at: datetime


# ---------------------------------------------------------------------------- alignment


class TreeNodeRead(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    level: Level
    title: str
    status: Status
    progress: float
    weight: float | None = Field(None, description="The goal's weight; its children weigh it where set.")
    rollup_progress: float = Field(description="Over the goals the caller may see: hidden goals never count.")
    rollup_rule: RollupRule = Field(description="own, mean (children count equally) or weighted (by weight).")
    children: list[TreeNodeRead]


class AlignmentTree(BaseModel):
    root: TreeNodeRead
    size: int = Field(description="Goals in the tree the caller may see.")


class GoalRef(BaseModel):
    id: uuid.UUID
    owner_id: uuid.UUID
    level: Level
    title: str
    progress: float


class Contribution(BaseModel):
    goal: GoalRef
    contributes_to: list[GoalRef] = Field(description="The chain of goals above, nearest first.")


# ---------------------------------------------------------------------------- bulk assignment


class Scope(StrEnum):
    team = "team"  # the manager's direct reports
    subtree = "subtree"  # everyone under the manager, any depth
    department = "department"


class BulkAssign(BaseModel):
    source_goal_ids: list[uuid.UUID] = Field(min_length=1, max_length=20, description="A goal, or a template of goals.")
    scope: Scope
    manager_id: uuid.UUID | None = Field(None, description="The manager whose team or subtree receives the goals.")
    department: Title | None = Field(None, description="The department that receives the goals.")
    weight: Weight | None = Field(None, description="Weight of each copy (default: the source's weight).")
    visibility: Visibility = Visibility.public


class BulkAssignResult(BaseModel):
    members: int
    created: int
    skipped: int = Field(description="Copies that already existed (repeating an assignment changes nothing).")
    goal_ids: list[uuid.UUID] = Field(description="The copies created by this call.")


# ---------------------------------------------------------------------------- weights, SMART, suggestions


class WeightsReport(BaseModel):
    owner_id: uuid.UUID
    period_start: date
    period_end: date
    goal_count: int
    weight_total: float
    unweighted: int
    ok: bool
    message: str | None


class GoalDraftInput(PeriodInput):
    title: Title
    description: Description | None = None
    level: Level = Level.individual
    due_date: date | None = None
    aligned_to_id: uuid.UUID | None = None
    weight: float | None = None
    key_results: list[KeyResultCreate] = Field(default_factory=list, max_length=20)
    milestones: list[MilestoneCreate] = Field(default_factory=list, max_length=50)


class SuggestedMilestoneRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    title: str
    due_date: date
    key_result_id: uuid.UUID | None
    key_result_title: str | None
    target_value: float | None


class KeyDateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    date: date
    label: str


class SimilarGoalRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    similarity: float
    uses: int


class SuggestionsRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    provider: str
    milestones: list[SuggestedMilestoneRead]
    key_dates: list[KeyDateRead]
    similar_goals: list[SimilarGoalRead]
    notes: list[str]


# ---------------------------------------------------------------------------- cycle scores


class CycleScoreRequest(BaseModel):
    period_start: date
    period_end: date
    participant_ids: list[uuid.UUID] = Field(min_length=1, max_length=20_000)


class CycleScoreRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    period_start: date
    period_end: date
    score: float | None
    goal_count: int
    weights_ok: bool
    weight_total: float | None
    error: ScoreError | None
    message: str | None = None
    formula_version: str
    revision: int
    computed_at: datetime
