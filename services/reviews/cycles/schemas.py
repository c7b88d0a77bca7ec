"""Request and response bodies of the review-cycle, inbox and calibration API."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.reviews.templates.schemas import Behaviour, Respondent
from services.reviews.templates.scoring import ScoreRecord
from shared.calibration import RatingNumber
from shared.database import utcnow
from workflows.models import CycleProgress, DeadlinePolicy, EscalationStep, EscalationTarget, Phase, Step

# Worked examples, shown in the OpenAPI and in docs/review-cycles.md (a test keeps the two equal
# and posts the cycle to the app).
CYCLE_EXAMPLE: dict[str, Any] = {
    "name": "2027 annual review",
    "period_start": "2027-01-01",
    "period_end": "2027-12-31",
    "template_id": "5b0f3c1e-8a2d-4e6f-9b7a-3c1d2e4f5a6b",
    "filters": {"departments": ["Engineering"], "exclude": ["0e7d9c4b-2f1a-4b3c-8d5e-6f7a8b9c0d1e"]},
    "deadlines": {
        "self_assessment": "2027-01-15T17:00:00+01:00",
        "manager_review": "2027-01-29T17:00:00+01:00",
        "calibration": "2027-02-12T17:00:00+01:00",
        "pay_approval": "2027-02-26T17:00:00+01:00",
        "acknowledgement": "2027-03-12T17:00:00+01:00",
    },
    "grace_hours": 72,
    "reminder_every_hours": 48,
    "escalation": [
        {"after_hours": 0, "notify": "manager"},
        {"after_hours": 24, "notify": "skip_level"},
        {"after_hours": 48, "notify": "hr"},
    ],
    "guideline": {
        "Unsatisfactory": 5,
        "Needs improvement": 15,
        "Meets expectations": 50,
        "Exceeds expectations": 20,
        "Outstanding": 10,
    },
}
ANSWERS_EXAMPLE: dict[str, Any] = {
    "answers": [
        {"item": "ownership", "value": 4, "comment": "Took the billing migration over when it stalled."},
        {"item": "candour", "value": 3},
        {"item": "impact", "value": 4},
        {"item": "next", "comment": "Lead the reliability work in Q3."},
    ]
}
ACKNOWLEDGEMENT_EXAMPLE: dict[str, Any] = {"comment": "Thanks; I see the impact rating differently, see my notes."}

# --- cycles ----------------------------------------------------------------------------------


class ParticipantFilters(BaseModel):
    """Who takes part: everyone active matching every given criterion (any value of a list),
    plus ``include``, minus ``exclude``. No criterion at all means everyone active."""

    model_config = ConfigDict(extra="forbid")

    departments: list[str] | None = Field(None, max_length=500)
    organizations: list[str] | None = Field(None, max_length=500)
    divisions: list[str] | None = Field(None, max_length=500)
    manager_subtrees: list[uuid.UUID] | None = Field(
        None, max_length=500, description="Everyone below these managers, at any depth."
    )
    locations: list[str] | None = Field(
        None,
        max_length=500,
        description="People whose directory location is one of these (exact match, case included).",
    )
    hired_before: date | None = Field(
        None,
        description="People hired strictly before this date (hire_date < hired_before); "
        "people without a hire date in the directory are left out.",
    )
    include: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)
    exclude: list[uuid.UUID] = Field(default_factory=list, max_length=10_000)


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    after_hours: float = Field(ge=0, description="Hours after the step's deadline (at most grace_hours).")
    notify: EscalationTarget


class PhaseDeadlines(BaseModel):
    """The deadline of each phase; pay review (managers) shares the pay-approval deadline."""

    model_config = ConfigDict(extra="forbid")

    self_assessment: datetime
    manager_review: datetime
    calibration: datetime
    pay_approval: datetime
    acknowledgement: datetime
    # 360 (a template with peer feedback): default to the self-assessment's deadline; each
    # within it, in this order.
    peer_nomination: datetime | None = None
    peer_approval: datetime | None = None
    peer_review: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> PhaseDeadlines:
        peers = [value for value in (self.peer_nomination, self.peer_approval, self.peer_review) if value is not None]
        if any(value.tzinfo is None for value in peers):
            raise ValueError("deadlines need a time zone offset")
        if any(later < earlier for earlier, later in itertools.pairwise([*peers, self.self_assessment])):
            raise ValueError("peer deadlines run in order (nomination, approval, review) by the self_assessment one")
        values = [self.self_assessment, self.manager_review, self.calibration, self.pay_approval, self.acknowledgement]
        if any(value.tzinfo is None for value in values):
            raise ValueError("deadlines need a time zone offset")
        if any(later < earlier for earlier, later in itertools.pairwise(values)):
            raise ValueError("phase deadlines must not go back in time (self_assessment first, acknowledgement last)")
        return self


class UpwardFeedbackOption(BaseModel):
    """Upward feedback in the cycle: reports rate and comment on their manager in the feedback
    service, released to each manager at ``min_raters`` or more answers when it closes."""

    model_config = ConfigDict(extra="forbid")

    closes_at: datetime | None = Field(
        None,
        description="When answers stop and results are released (with an offset): after the launch, by the "
        "acknowledgement deadline. Default: the self_assessment deadline.",
    )
    min_raters: int = Field(
        3, ge=3, le=50, description="k: answers a manager needs; at least the feedback service's minimum."
    )

    @field_validator("closes_at")
    @classmethod
    def _offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone offset")
        return value


class PotentialPoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: Decimal = Field(max_digits=9, decimal_places=3)
    label: str = Field(min_length=1, max_length=100)


class CycleWrite(BaseModel):
    """A draft cycle. ``deadlines`` need a time zone offset; each ``escalation`` step runs
    ``after_hours`` after a step's deadline and within ``grace_hours``; ``guideline`` is keyed by
    the labels of the final rating scale (docs/review-cycles.md has a worked example)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CYCLE_EXAMPLE]})

    name: str = Field(min_length=1, max_length=200)
    period_start: date
    period_end: date
    template_id: uuid.UUID = Field(description="A published review template version.")
    rating_scale_id: uuid.UUID | None = Field(None, description="Scale of the final rating (default: 1-5).")
    filters: ParticipantFilters = Field(default_factory=ParticipantFilters)
    deadlines: PhaseDeadlines
    grace_hours: float = Field(
        72, ge=0, le=24 * 90, description="How long a step stays open past its deadline (escalations run then)."
    )
    reminder_every_hours: float | None = Field(None, gt=0)
    escalation: list[Escalation] = Field(default_factory=list, max_length=10)
    guideline: dict[str, float] | None = Field(
        None, description="Wanted % of people per final rating label; default from the settings."
    )
    hr_owner_id: uuid.UUID | None = Field(None, description="Who hears of escalations last (default: the creator).")
    potential_scale: list[PotentialPoint] | None = Field(
        None,
        min_length=2,
        max_length=10,
        description="Points of the potential rating (the 9-box's other axis); default 1 low, 2 moderate, 3 high.",
    )
    upward_feedback: UpwardFeedbackOption | None = Field(
        None, description="Set: the launch opens one upward feedback pulse for the participants (feedback service)."
    )

    @field_validator("potential_scale")
    @classmethod
    def _potential_increasing(cls, points: list[PotentialPoint] | None) -> list[PotentialPoint] | None:
        if points is not None:
            values = [point.value for point in points]
            if any(b <= a for a, b in itertools.pairwise(values)):
                raise ValueError("values must increase")
            if len({point.label for point in points}) != len(points):
                raise ValueError("labels must differ")
        return points

    @model_validator(mode="after")
    def _period(self) -> CycleWrite:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self

    def policy(self) -> DeadlinePolicy:
        return DeadlinePolicy(
            reminder_every=None if self.reminder_every_hours is None else timedelta(hours=self.reminder_every_hours),
            escalation=[EscalationStep(after=timedelta(hours=e.after_hours), notify=e.notify) for e in self.escalation],
        )


class CycleStatus(StrEnum):
    draft = "draft"
    launched = "launched"
    cancelled = "cancelled"
    closed = "closed"


class CycleActivity(BaseModel):
    """What the asynchronous work after each step has written so far: watch it instead of polling lists.

    ``settled`` is true once everything the current phase starts in the background is there:
    its tasks for every participant (self-assessment, manager review, pay review,
    acknowledgement), or calibration's sessions and scores. docs/review-cycles.md says how
    long each normally takes.
    """

    participants: int = Field(description="People still in the cycle (not closed early).")
    tasks_created: dict[str, int] = Field(description="step -> tasks created so far for those people (any status)")
    phase_step: Step | None = Field(description="The task step the current phase opens, if it opens one.")
    phase_tasks_expected: int | None = Field(description="How many tasks of phase_step the phase opens.")
    goal_scores_received: int = Field(description="Participants whose goal score came from the goals service.")
    peer_scores_received: int = Field(description="Participants whose peer aggregate came from feedback.")
    scored: int = Field(description="Participants with a score record (written when calibration opens).")
    calibration_sessions: int
    calibration_sessions_final: int
    ratings_published: int = Field(
        description="Participants whose final rating was published to rewards (rating.finalized); compare with "
        "the rewards service's GET /cycles/{id} ratings_received."
    )
    settled: bool


class CycleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    period_start: date
    period_end: date
    template_id: uuid.UUID
    rating_scale_id: uuid.UUID | None
    rating_points: list[dict[str, Any]]
    potential_points: list[dict[str, Any]] | None = Field(
        None, description="The potential scale of 9-box calibration (null: the default low/moderate/high 1-3)."
    )
    guideline: dict[str, float]
    filters: dict[str, Any]
    schedule: dict[str, Any]
    status: CycleStatus
    phase: Phase | None
    hr_owner_id: uuid.UUID
    created_by: uuid.UUID
    created_at: datetime
    launched_at: datetime | None
    participant_count: int
    upward_feedback: dict[str, Any] | None = Field(
        None, description="{closes_at, min_raters} when the cycle asks for upward feedback."
    )
    activity: CycleActivity | None = Field(
        None, description="GET /review-cycles/{id} only, once launched: progress of the background work."
    )
    matching_now: int | None = Field(
        None,
        description="GET /review-cycles/{id} only, while a draft: how many active people its filters select now "
        "(launch takes them; participant_count stays 0 until then).",
    )


class ParticipantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    person_id: uuid.UUID
    manager_id: uuid.UUID | None
    org_unit: str
    closed_reason: str | None = Field(
        description="Why the person's review ended: participant_left, removed, cancelled (closed early), "
        "or completed (it ran to the cycle's close); null while it runs."
    )
    goal_score: float | None
    peer_score: float | None
    peer_rater_count: int | None
    proposed_rating: RatingNumber | None
    final_rating: RatingNumber | None
    rating_version: int
    potential_rating: RatingNumber | None
    tasks: dict[str, str] = Field(default_factory=dict, description="step -> status of the person's tasks")


class AddParticipantRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID


class ExtendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: Step
    new_deadline: datetime
    person_id: uuid.UUID | None = Field(None, description="One person, or everyone when left out.")


class AdvanceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Phase


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(None, max_length=500)


class ReassignRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_assignee_id: uuid.UUID


class Ack(BaseModel):
    phase: Phase
    cancelled: bool = False


class DeadlineRead(BaseModel):
    step: Step
    deadline: datetime
    closes_at: datetime


class UnitProgress(BaseModel):
    org_unit: str
    steps: dict[str, dict[str, int]] = Field(description="step -> status -> tasks")


class ProgressRead(BaseModel):
    cycle_id: uuid.UUID
    workflow: CycleProgress | None = Field(description="What the cycle workflow counts (None before launch).")
    steps: dict[str, dict[str, int]] = Field(description="From the inbox: step -> status (open, overdue, ...) -> tasks")
    org_units: list[UnitProgress]


# --- inbox -----------------------------------------------------------------------------------


class TaskRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    cycle_id: uuid.UUID
    person_id: uuid.UUID
    step: Step
    assignee_id: uuid.UUID
    status: str
    overdue: bool = False
    due_at: datetime
    escalations: list[dict[str, Any]]
    revision: int
    completed_by: uuid.UUID | None
    completed_at: datetime | None
    created_at: datetime


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item: str = Field(min_length=1, max_length=64)
    value: float | None = Field(None, allow_inf_nan=False, description="A point of the item's scale.")
    comment: str | None = Field(None, max_length=10_000)


class Answers(BaseModel):
    """A draft or the submitted answers; acknowledgement takes only ``comment`` (a rebuttal).

    ``item`` is an item's ``key`` from the task's form; ``value`` one of that item's scale
    values (rated items and competencies); ``comment`` free text (free-text items need no value).
    """

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [ANSWERS_EXAMPLE, ACKNOWLEDGEMENT_EXAMPLE]}
    )

    answers: list[Answer] = Field(default_factory=list, max_length=500)
    comment: str | None = Field(None, max_length=20_000)
    peer_ids: list[uuid.UUID] | None = Field(
        None,
        max_length=50,
        description="360 nomination (the employee) or approval (the manager, who may edit the list): the peers.",
    )
    dispute: bool = Field(
        False,
        description="Acknowledgement only: the employee disagrees with the final rating. Needs a comment "
        "saying why; submitting opens a dispute for HR (GET /disputes), and the rating stands until HR resolves it.",
    )


class FormScalePoint(BaseModel):
    """A point of an item's rating scale as the scale had it when the template was published."""

    value: float = Field(description="What an answer gives as ``value``.")
    label: str
    description: str | None = None


class FormItem(BaseModel):
    key: str
    kind: str
    text: str | None = Field(None, description="The question, or the competency's name when it has no text.")
    name: str | None = Field(None, description="The competency's name.")
    company_value: str | None = Field(None, description="The company value this competency stands for.")
    behaviours: list[Behaviour] = Field(
        default_factory=list, description="What the competency looks like, overall or at a scale point (``level``)."
    )
    required: bool = False
    weight: float | None = None
    scale_name: str | None = None
    scale: list[FormScalePoint] | None = Field(None, description="The points to pick from, lowest first.")


class FormSection(BaseModel):
    key: str
    title: str
    description: str | None = None
    kind: str
    weight: float
    answered_by: Respondent | str
    items: list[FormItem]


class FormGoal(BaseModel):
    """A goal behind the goal score; its title is read from the goals service (``GET /goals/{goal_id}``)."""

    goal_id: uuid.UUID
    weight: float | None
    progress: float = Field(description="Attainment, 0-100.")


class TaskForm(BaseModel):
    task: TaskRead
    sections: list[FormSection]
    goal_score: float | None
    goals: list[FormGoal] = Field(default_factory=list, description="The goals the goal score was computed from.")
    peer_score: float | None = Field(None, description="The peers' aggregate, 0-100, once peer ratings have closed.")
    peer_rater_count: int | None = Field(None, description="How many peers rated; no single rating is ever shown.")
    self_assessment: Answers | None = Field(None, description="The employee's answers (manager review only).")
    manager_review: Answers | None = Field(None, description="The manager's answers (acknowledgement only).")
    final_rating: RatingNumber | None = None
    final_rating_label: str | None = None
    score_url: str | None = Field(None, description="With the final rating: how it was computed (lineage).")
    draft: Answers | None
    drafts_generated: int = Field(0, description="Drafts generated for this task (POST /tasks/{id}/draft/generate).")
    draft_generated_at: datetime | None = Field(None, description="When the last draft was generated.")


def score_path(cycle_id: uuid.UUID, person_id: uuid.UUID) -> str:
    return f"/review-cycles/{cycle_id}/participants/{person_id}/score"


class ScoreLineage(BaseModel):
    """Where a participant's score and rating came from: the stored record and what followed it."""

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    record: ScoreRecord | None = Field(
        description="The score as computed when calibration opened: formula, formula_version, the component "
        "inputs (0-100, null = missing) and each weighted(...) term's share after re-normalisation over the "
        "present components. Null until calibration opens, or when the review could not be scored."
    )
    reproduces: bool | None = Field(
        description="Whether recomputing the record's inputs with its formula version gives the stored record."
    )
    goals: list[FormGoal] = Field(default_factory=list, description="The goals behind the goals component.")
    peer_rater_count: int | None = Field(None, description="How many peers the peer component averages.")
    proposed_rating: RatingNumber | None = Field(description="The scale point the score maps to.")
    final_rating: RatingNumber | None = Field(description="After calibration.")
    final_rating_label: str | None
    rating_version: int = Field(description="Grows with each published change of the final rating.")
    calibrated: bool = Field(description="Calibration moved the final rating away from the proposed one.")


# --- calibration -----------------------------------------------------------------------------


class SessionStatus(StrEnum):
    open = "open"
    final = "final"


class SessionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    cycle_id: uuid.UUID
    org_unit: str
    status: SessionStatus
    finalized_by: uuid.UUID | None
    finalized_at: datetime | None


class Bucket(BaseModel):
    value: RatingNumber
    label: str
    count: int
    share: float = Field(description="% of rated people")
    guideline: float = Field(description="% the guideline wants")
    deviation: float = Field(0.0, description="share - guideline, in percentage points")


class CalibrationRow(BaseModel):
    person_id: uuid.UUID
    manager_id: uuid.UUID | None
    score: float | None
    formula_version: str | None = None
    score_url: str = Field(description="The score's lineage: GET it for the formula, inputs and weights.")
    proposed_rating: RatingNumber | None
    final_rating: RatingNumber | None
    potential_rating: RatingNumber | None


class AdjustmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    person_id: uuid.UUID
    adjusted_by: uuid.UUID
    kind: str
    from_rating: RatingNumber | None
    to_rating: RatingNumber
    reason: str
    created_at: datetime


class SessionRead(SessionSummary):
    rows: list[CalibrationRow] = Field(default_factory=list)
    distribution: list[Bucket] = Field(default_factory=list)
    guideline_deviation: float = Field(
        0.0, description="Half the sum of the buckets' |deviation|: % of rated people who would have to move."
    )
    adjustments: list[AdjustmentRead] = Field(default_factory=list)


class AdjustmentKind(StrEnum):
    performance = "performance"
    potential = "potential"


class AdjustmentWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID
    to_rating: Decimal = Field(max_digits=9, decimal_places=3)
    reason: str = Field(min_length=3, max_length=2000, description="Required: why the rating changes.")
    kind: AdjustmentKind = AdjustmentKind.performance


class DisputeOutcome(StrEnum):
    upheld = "upheld"
    amended = "amended"


class DisputeRead(BaseModel):
    """A rating dispute: the reason is the acknowledgement's comment (``GET /tasks/{task_id}``), or
    ``reason`` for one raised after the acknowledgement."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    cycle_id: uuid.UUID
    person_id: uuid.UUID
    task_id: str
    assignee_id: uuid.UUID = Field(description="The cycle's HR owner, who is asked to resolve it.")
    status: str = Field(description="open or resolved")
    due_at: datetime
    disputed_rating: RatingNumber | None
    outcome: DisputeOutcome | None
    resolved_rating: RatingNumber | None
    resolution: str | None = Field(description="HR's answer to the employee.")
    reason: str | None = Field(
        None, description="Why, for a dispute raised after the acknowledgement; null: the acknowledgement's comment."
    )
    resolved_by: uuid.UUID | None
    resolved_at: datetime | None
    created_at: datetime
    reminded_at: datetime | None = Field(
        None, description="When the assignee was reminded of the coming due date (at most once)."
    )
    escalated_at: datetime | None = Field(
        None,
        description="When the dispute, still open, was last escalated: at its due date, then every"
        " MERITLOOP_REVIEWS_DISPUTE_REESCALATION_DAYS.",
    )
    escalations: int = Field(0, description="How many times it was escalated, one manager higher each time.")
    overdue: bool = Field(False, description="Open and past due_at (whether or not the escalation has run yet).")

    @model_validator(mode="after")
    def _overdue(self) -> DisputeRead:
        # Read from the clock, not from escalated_at: the sweep may not have run since due_at passed.
        self.overdue = self.status == "open" and self.due_at <= utcnow()
        return self


class DisputeRaise(BaseModel):
    """A dispute raised after the acknowledgement was submitted without one."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"task_id": "ack-…", "reason": "The Q3 launch I led is not in the calibrated rating."}]
        },
    )

    task_id: str = Field(min_length=1, max_length=200, description="The person's done acknowledgement task.")
    reason: str = Field(min_length=1, max_length=5000, description="Why the employee disagrees.")

    @field_validator("reason")
    @classmethod
    def _words(cls, value: str) -> str:
        stripped = value.strip()
        if not stripped:
            raise ValueError("say why you disagree")
        return stripped


class DisputeResolve(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"outcome": "upheld", "resolution": "The rating reflects the calibrated evidence."},
                {"outcome": "amended", "rating": 4, "resolution": "The Q3 launch was not weighed; raised to 4."},
            ]
        },
    )

    outcome: DisputeOutcome
    rating: float | None = Field(
        None,
        allow_inf_nan=False,
        validate_default=True,
        description="Amended only: the new final rating, a point of the cycle's scale.",
    )
    resolution: str = Field(min_length=3, max_length=20_000, description="The answer the employee reads.")

    @field_validator("rating")
    @classmethod
    def _rating_with_amendment(cls, rating: float | None, info: ValidationInfo) -> float | None:
        amended = info.data.get("outcome") is DisputeOutcome.amended
        if amended and rating is None:
            raise ValueError("an amended rating needs the new rating")
        if not amended and rating is not None:
            raise ValueError("only an amended outcome takes a rating")
        return rating


# --- 9-box and rater leniency (issue 11, part 5) ------------------------------------------


class NineBoxCell(BaseModel):
    performance: str = Field(description="low, middle or high third of the rating scale")
    potential: str = Field(description="low, middle or high third of the potential scale")
    count: int
    person_ids: list[uuid.UUID]


class NineBoxRead(BaseModel):
    session_id: uuid.UUID
    rating_scale: list[dict[str, Any]]
    potential_scale: list[dict[str, Any]]
    cells: list[NineBoxCell] = Field(description="Nine cells, performance low..high, then potential low..high.")
    placed: int
    unplaced: list[uuid.UUID] = Field(description="Open rows without a final or a potential rating yet.")


class RaterRead(BaseModel):
    manager_id: uuid.UUID
    reports: int = Field(description="Reports in the session with a proposed rating.")
    mean_proposed: float
    raw_deviation: float = Field(description="mean proposed - the session's mean final rating")
    shrinkage: float = Field(description="Weight the manager's own data keeps, tau2 / (tau2 + sigma2 / reports).")
    leniency: float = Field(description="raw_deviation x shrinkage: > 0 lenient, < 0 harsh")
    flagged: bool


class RatersRead(BaseModel):
    session_id: uuid.UUID
    population_mean: float | None = Field(description="Mean final (calibrated) rating of the session.")
    within_variance: float | None = Field(description="sigma2: pooled variance of proposed ratings within managers.")
    between_variance: float | None = Field(description="tau2: variance of the managers' true means (>= 0).")
    threshold: float = Field(description="|leniency| at or above this flags a manager (rating points).")
    managers: list[RaterRead]
