"""Activity CONTRACTS of the review-cycle workflows.

Each function fixes a stable activity name and its pydantic input and output. The real
implementations belong to the reviews and rewards services and are not written yet: these
defaults raise ``NotImplementedError`` and are deliberately **not** registered in
``workflows.worker.ACTIVITIES``. Tests register fakes under the same names.

Rules every implementation must keep:

- **Idempotent.** Every input carries an idempotency key (``task_id`` for tasks, otherwise
  ``idempotency_key``) derived deterministically in the workflow. A retry of the same call
  must not create a second task, send a second notification or publish a second event: store
  the key with the effect in the same transaction and answer from it on a repeat.
- **No PII in the result** beyond ids; workflow histories keep what activities return.
- Failures that retrying cannot fix (an unknown cycle) raise
  ``ApplicationError(..., non_retryable=True)``; everything else may raise and is retried.
"""

from __future__ import annotations

from temporalio import activity

from workflows.models import (
    ApprovalChainPlan,
    ApprovalEscalationInput,
    ApprovalReminderInput,
    CalibrationSessions,
    CloseReviewInput,
    CreateTaskInput,
    EscalateGateInput,
    EscalateTaskInput,
    FirstTasksOpened,
    GateReminderInput,
    ListParticipantsInput,
    ManagerChain,
    ManagerChainInput,
    MarkPhaseInput,
    OpenApprovalStepInput,
    OpenCalibrationInput,
    OpenFirstTasksInput,
    OpenPeerReviewsInput,
    ParticipantPage,
    PeerReviewsReleased,
    PlanApprovalChainInput,
    ProposalOrgUnits,
    RecordAndCreateTask,
    RecordApprovalDecisionInput,
    ReleasePeerReviewsInput,
    ReminderInput,
    RequestProposalsInput,
    ReviewsStarted,
    StartReviewsInput,
    TaskRef,
    UpdateTaskInput,
)


def _not_built(name: str) -> NotImplementedError:
    return NotImplementedError(f"activity {name!r} is a contract; its implementation comes with the service")


# --- reviews service -------------------------------------------------------------------------


@activity.defn(name="reviews.list_participants")
async def list_participants(value: ListParticipantsInput) -> ParticipantPage:
    """One stable page of the cycle's current participants (removed ones left out)."""
    raise _not_built("reviews.list_participants")


@activity.defn(name="reviews.create_task")
async def create_task(value: CreateTaskInput) -> TaskRef:
    """Upsert the task in the assignee's inbox, keyed by ``task_id``; publish ``task.created`` once."""
    raise _not_built("reviews.create_task")


@activity.defn(name="reviews.open_first_tasks")
async def open_first_tasks(value: OpenFirstTasksInput) -> FirstTasksOpened:
    """Every current participant's self-assessment task, in batches of one transaction each with
    their ``task.created`` events; a task that exists is left alone. Heartbeats its progress."""
    raise _not_built("reviews.open_first_tasks")


@activity.defn(name="reviews.start_reviews")
async def start_reviews(value: StartReviewsInput) -> ReviewsStarted:
    """Start the reviews of a page of participants (or one), at most ``window`` requests at once."""
    raise _not_built("reviews.start_reviews")


@activity.defn(name="reviews.update_task")
async def update_task(value: UpdateTaskInput) -> None:
    """Apply status/assignee/deadline/payload if ``revision`` is newer than the stored one."""
    raise _not_built("reviews.update_task")


@activity.defn(name="reviews.record_and_create_task")
async def record_and_create_task(value: RecordAndCreateTask) -> TaskRef:
    """``update_task`` of each record in order, then ``create_task``: the same effects and keys."""
    raise _not_built("reviews.record_and_create_task")


@activity.defn(name="reviews.send_reminder")
async def send_reminder(value: ReminderInput) -> None:
    """Notify the assignee once per ``idempotency_key``."""
    raise _not_built("reviews.send_reminder")


@activity.defn(name="reviews.manager_chain")
async def manager_chain(value: ManagerChainInput) -> ManagerChain:
    """The person's manager and skip-level manager from the directory (active people only)."""
    raise _not_built("reviews.manager_chain")


@activity.defn(name="reviews.escalate_task")
async def escalate_task(value: EscalateTaskInput) -> None:
    """Record the escalation on the task, notify ``notified_id``, publish ``task.escalated``."""
    raise _not_built("reviews.escalate_task")


@activity.defn(name="reviews.escalate_gate")
async def escalate_gate(value: EscalateGateInput) -> None:
    """A cycle-level step (calibration, pay approval) is late: notify and publish."""
    raise _not_built("reviews.escalate_gate")


@activity.defn(name="reviews.remind_gate")
async def remind_gate(value: GateReminderInput) -> None:
    """A cycle-level step is still open before its deadline: remind HR once, publish ``cycle.gate-reminder-due``."""
    raise _not_built("reviews.remind_gate")


@activity.defn(name="reviews.close_review")
async def close_review(value: CloseReviewInput) -> None:
    """Close the person's review and every open task of it in the inbox; publish ``review.closed``."""
    raise _not_built("reviews.close_review")


@activity.defn(name="reviews.mark_phase")
async def mark_phase(value: MarkPhaseInput) -> None:
    """Record the cycle's phase; publish ``cycle.phase-opened`` (or ``cycle.cancelled``)."""
    raise _not_built("reviews.mark_phase")


@activity.defn(name="reviews.open_calibration")
async def open_calibration(value: OpenCalibrationInput) -> CalibrationSessions:
    """Create the calibration sessions (one per organisation unit) once; return their ids."""
    raise _not_built("reviews.open_calibration")


# --- rewards service -------------------------------------------------------------------------


@activity.defn(name="rewards.request_proposals")
async def request_proposals(value: RequestProposalsInput) -> ProposalOrgUnits:
    """Create pay proposals from the final ratings once; return the organisation units to approve."""
    raise _not_built("rewards.request_proposals")


# --- feedback service ------------------------------------------------------------------------


@activity.defn(name="feedback.open_peer_reviews")
async def open_peer_reviews(value: OpenPeerReviewsInput) -> None:
    """Record a subject's approved peers (who may answer, by task id) and the plan's questions, once."""
    raise _not_built("feedback.open_peer_reviews")


@activity.defn(name="feedback.release_peer_reviews")
async def release_peer_reviews(value: ReleasePeerReviewsInput) -> PeerReviewsReleased:
    """Close the subject's round: release the aggregate at k or more answers, else nothing; once."""
    raise _not_built("feedback.release_peer_reviews")


CONTRACTS = (
    list_participants,
    create_task,
    open_first_tasks,
    start_reviews,
    update_task,
    record_and_create_task,
    send_reminder,
    manager_chain,
    escalate_task,
    escalate_gate,
    remind_gate,
    close_review,
    mark_phase,
    open_calibration,
    request_proposals,
    open_peer_reviews,
    release_peer_reviews,
)


# --- rewards service: the pay approval chain (workflows/pay_approval.py) ----------------------


@activity.defn(name="rewards.plan_approval_chain")
async def plan_approval_chain(value: PlanApprovalChainInput) -> ApprovalChainPlan:
    """The chain's steps: the manager, each active level up the line to ``depth``, the final approver."""
    raise _not_built("rewards.plan_approval_chain")


@activity.defn(name="rewards.open_approval_step")
async def open_approval_step(value: OpenApprovalStepInput) -> None:
    """Record the step's opening (assignee, due time) and audit it once per key."""
    raise _not_built("rewards.open_approval_step")


@activity.defn(name="rewards.remind_approval_step")
async def remind_approval_step(value: ApprovalReminderInput) -> None:
    """Remind the step's assignee once per key; audit it."""
    raise _not_built("rewards.remind_approval_step")


@activity.defn(name="rewards.escalate_approval_step")
async def escalate_approval_step(value: ApprovalEscalationInput) -> None:
    """Notify the assignee's manager, skip-level or HR once per key; audit it."""
    raise _not_built("rewards.escalate_approval_step")


@activity.defn(name="rewards.record_approval_decision")
async def record_approval_decision(value: RecordApprovalDecisionInput) -> None:
    """Audit the decision with the chain before and after; move the proposals it moves."""
    raise _not_built("rewards.record_approval_decision")


APPROVAL_CONTRACTS = (
    plan_approval_chain,
    open_approval_step,
    remind_approval_step,
    escalate_approval_step,
    record_approval_decision,
)
