"""Inputs, outputs and state of the review-cycle workflows and their activity contracts.

Everything here is deterministic, free of I/O and passed through the workflow sandbox
(``workflows.worker.SANDBOX_PASSTHROUGH``). The reviews and rewards services import these
models too: they are the wire contract between the services and the workflows.

Nothing here carries PII beyond opaque person ids: no names, no e-mail addresses. Workflow
ids are built from ids only (``cycle_workflow_id``, ``review_workflow_id``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

# ---------------------------------------------------------------------------------------------
# Vocabulary


class Phase(StrEnum):
    """Phases of a cycle, in order. The cycle opens each one for every participant."""

    self_assessment = "self_assessment"
    manager_review = "manager_review"
    calibration = "calibration"
    pay_approval = "pay_approval"
    acknowledgement = "acknowledgement"
    closed = "closed"


PHASES: tuple[Phase, ...] = tuple(Phase)


def phase_index(phase: Phase) -> int:
    return PHASES.index(phase)


class Step(StrEnum):
    """A scheduled step: a human task of every participant, or a cycle-level gate."""

    self_assessment = "self_assessment"  # task of the employee
    manager_review = "manager_review"  # task of the manager
    calibration = "calibration"  # gate: every calibration session finalized by HR
    pay_review = "pay_review"  # task of the manager: review the pay proposal
    pay_approval = "pay_approval"  # gate: HR approves per organisation unit
    acknowledgement = "acknowledgement"  # task of the employee
    # 360 (a template asking for peer feedback): optional steps, inside the self-assessment phase
    peer_nomination = "peer_nomination"  # task of the employee: name the peers
    peer_approval = "peer_approval"  # task of the manager: approve or edit the list
    peer_review = "peer_review"  # task of each approved peer (answered in the feedback service)


TASK_STEPS: tuple[Step, ...] = (Step.self_assessment, Step.manager_review, Step.pay_review, Step.acknowledgement)
GATE_STEPS: tuple[Step, ...] = (Step.calibration, Step.pay_approval)
# Optional: a schedule without them (every cycle before 360) is complete, and their tasks are not
# counted in the cycle's progress (a review has one status per task step, and many peer tasks).
PEER_STEPS: tuple[Step, ...] = (Step.peer_nomination, Step.peer_approval, Step.peer_review)

STEP_PHASE: dict[Step, Phase] = {
    Step.self_assessment: Phase.self_assessment,
    Step.manager_review: Phase.manager_review,
    Step.calibration: Phase.calibration,
    Step.pay_review: Phase.pay_approval,
    Step.pay_approval: Phase.pay_approval,
    Step.acknowledgement: Phase.acknowledgement,
    Step.peer_nomination: Phase.self_assessment,
    Step.peer_approval: Phase.self_assessment,
    Step.peer_review: Phase.self_assessment,
}


class EscalationTarget(StrEnum):
    manager = "manager"  # the assignee's manager
    skip_level = "skip_level"  # the assignee's manager's manager
    hr = "hr"  # the cycle's HR owner


class TaskStatus(StrEnum):
    """Where one participant's task of one step stands. ``pending``: not opened yet."""

    pending = "pending"
    open = "open"
    overdue = "overdue"  # past its deadline, not escalated yet
    escalated = "escalated"  # at least one escalation step ran
    done = "done"  # completed by its assignee
    expired = "expired"  # its phase closed before anyone completed it
    closed = "closed"  # the review was closed (left, removed, cancelled)


FINISHED: frozenset[TaskStatus] = frozenset({TaskStatus.done, TaskStatus.expired, TaskStatus.closed})


class CloseReason(StrEnum):
    participant_left = "participant_left"  # deactivated in the directory
    removed = "removed"  # HR removed the participant
    cancelled = "cancelled"  # the cycle was cancelled


class Refusal(StrEnum):
    """Machine-readable reasons an Update is refused (the ApplicationError ``type``)."""

    wrong_actor = "wrong_actor"
    task_done = "task_done"
    task_not_found = "task_not_found"
    cycle_cancelled = "cycle_cancelled"
    review_closed = "review_closed"
    too_late = "too_late"
    invalid_deadline = "invalid_deadline"
    invalid_phase = "invalid_phase"
    unknown_session = "unknown_session"
    unknown_org_unit = "unknown_org_unit"
    already_participant = "already_participant"
    participant_not_found = "participant_not_found"


# The HTTP status the service API answers for each refusal (problem+json ``status``).
REFUSAL_STATUS: dict[Refusal, int] = {
    Refusal.wrong_actor: 403,
    Refusal.task_done: 409,
    Refusal.task_not_found: 404,
    Refusal.cycle_cancelled: 409,
    Refusal.review_closed: 409,
    Refusal.too_late: 409,
    Refusal.invalid_deadline: 422,
    Refusal.invalid_phase: 409,
    Refusal.unknown_session: 404,
    Refusal.unknown_org_unit: 404,
    Refusal.already_participant: 409,
    Refusal.participant_not_found: 404,
}


# ---------------------------------------------------------------------------------------------
# Ids: only ids, never PII. The services use the same functions to address the workflows.


def cycle_workflow_id(cycle_id: str) -> str:
    return f"review-cycle-{cycle_id}"


def review_workflow_id(cycle_id: str, person_id: str) -> str:
    return f"review-{cycle_id}-{person_id}"


def task_id(cycle_id: str, person_id: str, step: Step, attempt: int = 1) -> str:
    """The task's id is its idempotency key: a retried create never makes a second task."""
    return f"{cycle_id}:{person_id}:{step.value}:{attempt}"


# ---------------------------------------------------------------------------------------------
# Schedule


class EscalationStep(BaseModel):
    after: timedelta = Field(ge=timedelta(0), description="how long after the deadline")
    notify: EscalationTarget


class DeadlinePolicy(BaseModel):
    reminder_every: timedelta | None = Field(
        default=None, gt=timedelta(0), description="cadence of reminders from opening until the deadline"
    )
    escalation: list[EscalationStep] = Field(default_factory=list)

    @model_validator(mode="after")
    def _sorted(self) -> DeadlinePolicy:
        self.escalation = sorted(self.escalation, key=lambda step: step.after)
        return self


class StepSchedule(BaseModel):
    deadline: datetime
    closes_after: timedelta = Field(
        default=timedelta(0),
        ge=timedelta(0),
        description="how long past the deadline the step stays open (escalations run in this window)",
    )
    policy: DeadlinePolicy = Field(default_factory=DeadlinePolicy)

    @property
    def closes_at(self) -> datetime:
        return self.deadline + self.closes_after

    @model_validator(mode="after")
    def _escalations_before_close(self) -> StepSchedule:
        if self.policy.escalation and self.policy.escalation[-1].after > self.closes_after:
            raise ValueError("every escalation step must come before the step closes (after <= closes_after)")
        return self


class PeerQuestion(BaseModel):
    key: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=2000)


class PeerFeedbackPlan(BaseModel):
    """What a template asks of peers (360): how many, which questions, which competencies rated 1-5.

    The question texts travel to the feedback service (they are the template's, not anyone's
    answer); answers never come back through a workflow.
    """

    min_peers: int = Field(default=3, ge=1, le=50)
    max_peers: int = Field(default=8, ge=1, le=50)
    questions: list[PeerQuestion] = Field(default_factory=list, max_length=20)
    competencies: list[str] = Field(default_factory=list, max_length=50, description="competency keys rated 1-5")
    min_raters: int = Field(default=3, ge=3, description="k: answers needed before anything is released")

    @model_validator(mode="after")
    def _bounds(self) -> PeerFeedbackPlan:
        if self.max_peers < self.min_peers:
            raise ValueError("max_peers must be at least min_peers")
        return self


class CycleSchedule(BaseModel):
    steps: dict[Step, StepSchedule]
    peer_feedback: PeerFeedbackPlan | None = Field(default=None, description="set: the template asks for 360")

    @model_validator(mode="after")
    def _complete(self) -> CycleSchedule:
        missing = [step.value for step in Step if step not in self.steps and step not in PEER_STEPS]
        if missing:
            raise ValueError(f"schedule misses steps: {', '.join(missing)}")
        return self

    def of(self, step: Step) -> StepSchedule:
        if step not in self.steps and step in PEER_STEPS:
            return self.steps[Step.self_assessment]  # 360 steps default to the self-assessment's schedule
        return self.steps[step]


# ---------------------------------------------------------------------------------------------
# Activity contracts (implemented by the reviews and rewards services; see workflows/activities.py)


class Participant(BaseModel):
    person_id: str
    manager_id: str | None = None
    org_unit: str | None = None
    final_rating: str | None = Field(default=None, description="set once calibration finalized it")


class ListParticipantsInput(BaseModel):
    cycle_id: str
    page_token: str | None = None
    page_size: int = Field(default=200, ge=1, le=1000)


class ParticipantPage(BaseModel):
    """A stable page (keyset by person id): the same token always yields the same page."""

    participants: list[Participant]
    next_page_token: str | None = None


class CreateTaskInput(BaseModel):
    task_id: str = Field(description="idempotency key: the service upserts by it")
    cycle_id: str
    person_id: str = Field(description="whose review the task belongs to")
    step: Step
    assignee_id: str
    due_at: datetime
    workflow_id: str = Field(description="where the service delivers the completion Update")


class TaskRef(BaseModel):
    task_id: str
    created: bool = Field(description="False when the task already existed (a retry)")


class UpdateTaskInput(BaseModel):
    """Set fields of a task. ``revision`` grows with every change: the service ignores stale ones."""

    task_id: str
    revision: int
    status: TaskStatus | None = None
    assignee_id: str | None = None
    due_at: datetime | None = None
    actor_id: str | None = None
    payload: dict[str, Any] | None = None


class RecordAndCreateTask(BaseModel):
    """Completions to record, then the next task to create: one activity, one workflow task fewer."""

    records: list[UpdateTaskInput]
    task: CreateTaskInput


class ReminderInput(BaseModel):
    idempotency_key: str
    task_id: str
    assignee_id: str
    due_at: datetime
    number: int


class ManagerChainInput(BaseModel):
    person_id: str


class ManagerChain(BaseModel):
    manager_id: str | None = None
    skip_level_id: str | None = None


class EscalateTaskInput(BaseModel):
    """Recorded on the task; the reviews service publishes ``meritloop.reviews.task.escalated``."""

    idempotency_key: str
    task_id: str
    cycle_id: str
    person_id: str
    step: Step
    escalation_index: int
    target: EscalationTarget
    notified_id: str = Field(description="who is notified; HR owner when the chain has nobody")
    fell_back_to_hr: bool = False
    due_at: datetime


class EscalateGateInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    step: Step
    escalation_index: int
    target: EscalationTarget
    hr_owner_id: str
    pending: list[str] = Field(description="session ids or organisation units still open")


class GateReminderInput(BaseModel):
    """A cycle-level step (calibration, pay approval) is still open before its deadline."""

    idempotency_key: str = Field(description="unique per cycle, step, reminder number and deadline")
    cycle_id: str
    step: Step
    number: int = Field(ge=1, description="the reminder's place in the cadence from the phase's opening")
    due_at: datetime = Field(description="the gate's deadline")
    hr_owner_id: str
    pending: list[str] = Field(description="session ids or organisation units still open")


class CloseReviewInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    person_id: str
    reason: CloseReason


class MarkPhaseInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    phase: Phase
    cancelled: bool = False
    close_open_tasks: bool = Field(
        default=False, description="also close every open task of the cycle (a cancelled bulk launch)"
    )


class OpenCalibrationInput(BaseModel):
    idempotency_key: str
    cycle_id: str


class CalibrationSessions(BaseModel):
    session_ids: list[str]


class RequestProposalsInput(BaseModel):
    idempotency_key: str
    cycle_id: str


class ProposalOrgUnits(BaseModel):
    org_units: list[str]


class PeerAssignment(BaseModel):
    peer_id: str
    task_id: str = Field(description="the peer's review task: ids only, never who answered what")


class OpenPeerReviewsInput(BaseModel):
    """feedback.open_peer_reviews: who may answer about whom, before any peer task exists."""

    idempotency_key: str
    cycle_id: str
    person_id: str = Field(description="the subject")
    manager_id: str | None = None
    peers: list[PeerAssignment]
    plan: PeerFeedbackPlan
    closes_at: datetime = Field(description="answers are taken until then (and while the round is open)")


class ReleasePeerReviewsInput(BaseModel):
    """feedback.release_peer_reviews: the phase closed; release at k or suppress, once."""

    idempotency_key: str
    cycle_id: str
    person_id: str
    cancelled: bool = False


class PeerReviewsReleased(BaseModel):
    released: bool = Field(description="False below k (nothing else is told, not even the count)")


# ---------------------------------------------------------------------------------------------
# EmployeeReviewWorkflow


class ActivityQueues(BaseModel):
    """The task queues the services' activity workers poll (settings ``temporal_*_task_queue``)."""

    reviews: str = "reviews"
    rewards: str = "rewards"
    feedback: str = "feedback"


class EmployeeReviewInput(BaseModel):
    cycle_id: str
    person_id: str
    manager_id: str | None = None
    hr_owner_id: str
    schedule: CycleSchedule
    cycle_workflow_id: str | None = Field(default=None, description="None: run alone, report to nobody")
    opened_phases: list[Phase] = Field(default_factory=lambda: [Phase.self_assessment])
    queues: ActivityQueues = Field(default_factory=ActivityQueues)
    first_task_opened_at: datetime | None = Field(
        default=None,
        description="set: the self-assessment task was created in the inbox at this time by the cycle's "
        "launch (reminders count from it); None: the review creates its tasks itself",
    )


class ReviewTemplate(BaseModel):
    """What every review of a cycle starts with; the participant's ids come from the inbox."""

    hr_owner_id: str
    schedule: CycleSchedule
    cycle_workflow_id: str
    opened_phases: list[Phase]
    queues: ActivityQueues
    first_task_opened_at: datetime | None = Field(
        default=None, description="when the launch wrote the self-assessment tasks; None: the review writes its own"
    )

    def for_person(self, cycle_id: str, person_id: str, manager_id: str | None) -> EmployeeReviewInput:
        return EmployeeReviewInput(
            cycle_id=cycle_id,
            person_id=person_id,
            manager_id=manager_id,
            hr_owner_id=self.hr_owner_id,
            schedule=self.schedule,
            cycle_workflow_id=self.cycle_workflow_id,
            opened_phases=self.opened_phases,
            queues=self.queues,
            first_task_opened_at=self.first_task_opened_at,
        )


class OpenFirstTasksInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    opened_at: datetime = Field(description="the tasks' opening time, as the reviews will count it")
    due_at: datetime
    batch_size: int = Field(default=500, ge=1, le=5000, description="tasks written per transaction")


class FirstTasksOpened(BaseModel):
    created: int
    participants: int


class StartReviewsInput(BaseModel):
    """Start the participants' reviews (top-level workflows, id ``review_workflow_id``).

    A page of the participants by ``page_token``/``page_size``, or ``person_id`` alone. An
    existing running review is kept (its id is reused, never started twice); a review that
    has ended is not started again.
    """

    cycle_id: str
    template: ReviewTemplate
    workflow_task_queue: str
    page_token: str | None = None
    page_size: int = Field(default=500, ge=1, le=5000)
    person_id: str | None = None
    window: int = Field(default=50, ge=1, le=1000, description="start requests in flight at once")
    join: bool = Field(default=False, description="a participant joining: a running review counts as ended too")


class ReviewsStarted(BaseModel):
    participants: int = Field(description="participants whose review runs (started now or before)")
    ended: list[str] = Field(
        default_factory=list, description="person ids whose review had already ended (or, to join, existed)"
    )
    next_page_token: str | None = None


class TaskState(BaseModel):
    task_id: str
    step: Step
    assignee_id: str
    status: TaskStatus
    opened_at: datetime
    due_at: datetime
    closes_at: datetime
    revision: int = 1
    reminders_sent: int = 0
    escalations_done: int = 0
    completed_by: str | None = None


class CompleteTask(BaseModel):
    task_id: str
    actor_id: str
    payload: dict[str, Any] = Field(default_factory=dict, description="rating, comments, rebuttal: opaque")


class TaskResult(BaseModel):
    task_id: str
    status: TaskStatus
    assignee_id: str


class ReassignTask(BaseModel):
    task_id: str
    new_assignee_id: str
    actor_id: str


class ChangeManager(BaseModel):
    """The reviewer of a review changes (the manager left): open and later manager tasks move."""

    new_manager_id: str
    actor_id: str


class ManagerChanged(BaseModel):
    manager_id: str
    reassigned_task_ids: list[str]


class ExtendDeadline(BaseModel):
    step: Step
    new_deadline: datetime
    actor_id: str
    person_id: str | None = Field(default=None, description="cycle update: one person, or None for everyone")


class DeadlineResult(BaseModel):
    step: Step
    deadline: datetime
    closes_at: datetime


class CloseReview(BaseModel):
    reason: CloseReason
    actor_id: str | None = None


class PhaseOpened(BaseModel):
    phase: Phase


class FinalRating(BaseModel):
    rating: str | None = None


class EmployeeReviewResult(BaseModel):
    person_id: str
    closed_reason: CloseReason | None = None
    final_rating: str | None = None
    tasks: list[TaskResult]


# ---------------------------------------------------------------------------------------------
# ReviewCycleWorkflow


class CycleConfig(BaseModel):
    cycle_id: str
    hr_owner_id: str
    schedule: CycleSchedule
    window: int = Field(default=200, ge=1, le=1000, description="children started and not yet reported in")
    # Each child costs the cycle about 4.7 history events. Runs of ~1,200 events replay in well
    # under the SDK's 2 s deadlock limit after a cache eviction; at 1,000 children per run a
    # loaded worker timed out replaying and stalled a 10,000-person launch (bench/cycle_launch).
    children_per_run: int = Field(
        default=250, ge=1, le=1500, description="continue-as-new after starting this many (server limit 2000)"
    )
    page_size: int = Field(default=200, ge=1, le=1000)
    history_limit: int = Field(default=2_000, ge=500, description="continue-as-new past this many events")
    queues: ActivityQueues = Field(default_factory=ActivityQueues)
    bulk_launch: bool = Field(
        default=True,
        description="create every first task in bulk, then start the reviews behind them (patch bulk-launch); "
        "False: one child per participant creates its own tasks",
    )
    task_batch: int = Field(default=500, ge=1, le=5000, description="first tasks written per transaction")
    start_page: int = Field(default=500, ge=1, le=5000, description="reviews started per activity call")


class StatusTransition(BaseModel):
    step: Step
    previous: TaskStatus
    status: TaskStatus


class ParticipantReport(BaseModel):
    """A child tells its cycle how its tasks moved (signal ``participant_report``)."""

    person_id: str
    transitions: list[StatusTransition] = Field(default_factory=list)
    started: bool = False  # first report: the child is up and its first task exists
    ended: bool = False  # last report: the child workflow is about to complete


class BroadcastKind(StrEnum):
    phase_opened = "phase_opened"
    deadline_changed = "deadline_changed"
    close = "close"


class Broadcast(BaseModel):
    """A notice to every participant, sent page by page (the cursor survives continue-as-new)."""

    kind: BroadcastKind
    phase: Phase | None = None
    extension: ExtendDeadline | None = None
    reason: CloseReason | None = None
    page_token: str | None = None


class CycleState(BaseModel):
    run: int = 1
    phase: Phase = Phase.self_assessment
    opened_phases: list[Phase] = Field(default_factory=lambda: [Phase.self_assessment])
    phase_opened_at: datetime | None = None
    schedule: CycleSchedule
    late_closes_at: dict[Step, datetime] = Field(default_factory=dict, description="per-person extensions")
    # fan-out
    fanout_page_token: str | None = None
    fanout_offset: int = 0
    fanout_done: bool = False
    bulk_launch: bool = False  # decided in the cycle's first run (patch bulk-launch), carried
    first_tasks_opened_at: datetime | None = None  # bulk launch: when the first tasks were written
    participants: int = 0
    starting: list[str] = Field(default_factory=list, description="started, not yet reported in (<= window)")
    max_starting: int = 0
    max_started_in_a_run: int = 0
    ended: int = 0
    # progress: step -> status -> count (pending is participants minus the rest)
    counts: dict[Step, dict[TaskStatus, int]] = Field(default_factory=dict)
    broadcasts: list[Broadcast] = Field(default_factory=list)
    calibration_sessions: dict[str, bool] | None = None
    org_units: dict[str, bool] | None = None
    gate_escalations: dict[Step, int] = Field(default_factory=dict)
    gate_reminders: dict[Step, int] = Field(default_factory=dict, description="the last reminder number sent")
    advance_requested: Phase | None = None
    cancelled: bool = False


class ReviewCycleInput(BaseModel):
    config: CycleConfig
    state: CycleState | None = Field(default=None, description="carried by continue-as-new")


class AddParticipant(BaseModel):
    participant: Participant
    actor_id: str


class RemoveParticipant(BaseModel):
    person_id: str
    reason: CloseReason = CloseReason.removed
    actor_id: str | None = None


class AdvancePhase(BaseModel):
    to: Phase
    actor_id: str


class CancelCycle(BaseModel):
    actor_id: str
    reason: str | None = None


class SessionFinalized(BaseModel):
    session_id: str
    actor_id: str


class PayApprovalFinalized(BaseModel):
    org_unit: str
    actor_id: str


class CycleAck(BaseModel):
    """What a cycle Update answers: the phase the cycle is in after it."""

    phase: Phase
    cancelled: bool = False


class StepProgress(BaseModel):
    pending: int = 0
    open: int = 0
    overdue: int = 0
    escalated: int = 0
    done: int = 0
    expired: int = 0
    closed: int = 0


class CycleProgress(BaseModel):
    cycle_id: str
    phase: Phase
    cancelled: bool
    participants: int
    fanout_done: bool
    ended: int
    run: int
    steps: dict[Step, StepProgress]
    calibration_pending: list[str] = Field(default_factory=list)
    pay_approval_pending: list[str] = Field(default_factory=list)
    max_starting: int = 0
    max_started_in_a_run: int = 0


class CycleResult(BaseModel):
    cycle_id: str
    cancelled: bool
    participants: int
    ended: int = Field(description="children that reported their end (fewer only if the closing grace ran out)")
    runs: int
    max_starting: int
    max_started_in_a_run: int
    steps: dict[Step, StepProgress]


# ---------------------------------------------------------------------------------------------
# Pay approval chain (workflows/pay_approval.py): manager, each level up the line, then HR


class ApprovalAction(StrEnum):
    approve = "approve"  # the step is done: the chain moves up one step (or ends after the last)
    return_ = "return"  # the chain goes back one step, with a comment


class ApprovalStepStatus(StrEnum):
    """Where the chain's current step stands (the same words as a review task's)."""

    pending = "pending"
    open = "open"
    overdue = "overdue"
    escalated = "escalated"
    approved = "approved"
    returned = "returned"


def approval_chain_workflow_id(cycle_id: str, manager_id: str) -> str:
    """One chain per cycle and submitting manager: ids only."""
    return f"pay-approval-{cycle_id}-{manager_id}"


class ApprovalChainInput(BaseModel):
    cycle_id: str
    manager_id: str  # whose direct reports' proposals the chain approves; step 0 is theirs
    depth: int = Field(ge=0, le=10, description="levels above the manager before the final step")
    final_approver_id: str | None = None  # a named HR or compensation person; None: any HR
    hr_owner_id: str | None = None  # escalations that find nobody fall back to this person
    step_duration: timedelta = Field(gt=timedelta(0), description="each step is due this long after it opens")
    policy: DeadlinePolicy = Field(default_factory=DeadlinePolicy)
    queues: ActivityQueues = Field(default_factory=ActivityQueues)


class PlanApprovalChainInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    manager_id: str
    depth: int
    final_approver_id: str | None = None


class ApprovalStepPlan(BaseModel):
    level: int  # 0 the manager, 1.. the levels above; the final step has level depth + 1
    assignee_id: str | None  # None only on the final step: any HR person may decide
    final: bool = False


class ApprovalChainPlan(BaseModel):
    steps: list[ApprovalStepPlan]


class ApprovalStepState(BaseModel):
    index: int
    level: int
    assignee_id: str | None
    final: bool = False
    status: ApprovalStepStatus = ApprovalStepStatus.pending
    round: int = 0  # how often the step was opened (a return opens the one below again)
    opened_at: datetime | None = None
    due_at: datetime | None = None
    reminders_sent: int = 0
    escalations_done: int = 0


class OpenApprovalStepInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    manager_id: str
    step: ApprovalStepState


class ApprovalReminderInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    manager_id: str
    step: ApprovalStepState
    number: int


class ApprovalEscalationInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    manager_id: str
    step: ApprovalStepState
    escalation_index: int
    target: EscalationTarget
    hr_owner_id: str | None = None


class ApprovalDecision(BaseModel):
    """The Update ``decide``: the actor and what they decided on the chain's current step."""

    step_index: int = Field(ge=0)
    actor_id: str
    actor_is_hr: bool = False  # the API's role check: HR may decide a final step without a named approver
    action: ApprovalAction
    # The comment's text stays in the rewards database (written before the Update): histories
    # keep ids only.
    comment_id: str | None = None


class RecordApprovalDecisionInput(BaseModel):
    idempotency_key: str
    cycle_id: str
    manager_id: str
    decision: ApprovalDecision
    step: ApprovalStepState
    next_index: int | None  # the step that opens next; None when the final step approved
    decided_at: datetime


class ApprovalDecided(BaseModel):
    step_index: int
    action: ApprovalAction
    current_index: int | None  # None: the chain is approved
    finished: bool


class ApprovalChainResult(BaseModel):
    cycle_id: str
    manager_id: str
    decisions: int
    returns: int
    escalations: int
