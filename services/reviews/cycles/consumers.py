"""Events the review cycles react to.

* ``meritloop.reviews.person.deactivated`` (the directory's own event, read back from the
  reviews stream): a person who leaves has their open reviews closed through the review
  workflow's ``close`` Update (reason ``participant_left``); the reviews they managed move
  to a successor (``change_manager``: open and later manager tasks), and any other open
  task in their inbox is reassigned (``reassign_task``). A review a bulk launch has not
  started yet is started with its Update (``review_starts.update_review``).
* ``meritloop.goals.cycle-score.computed``: the goal score shown in the form and used to
  score the review (highest revision wins).
* ``meritloop.feedback.peer-aggregate.computed``: the peers' aggregate shown to the manager
  and used as the ``peer`` component of the score (highest revision wins). A goal score or
  aggregate that arrives after calibration scored the review scores it again while its session
  is open (``CalibrationService.rescore``).
* ``meritloop.feedback.peer-review.answered`` (360): a peer answered in the feedback service;
  the peer's task is completed through ``complete_task`` as its assignee (no answer travels).
* ``meritloop.rewards.proposal.approved``: HR approved a unit's pay; the cycle workflow
  hears it through ``pay_approval_finalized`` (a repeat is refused as done and ignored).

No handler writes before it calls Temporal (``no_autoflush``), so a worker activity writing
the same SQLite database never waits for this transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.cycles.repository import CycleRepository, TaskRepository
from services.reviews.cycles.review_starts import ReviewStart, first_task_start, update_review
from services.reviews.cycles.service import CalibrationService
from services.reviews.cycles.temporal import holder
from services.reviews.directory.repository import PersonRepository
from shared.calibration import PROPOSAL_APPROVED, REWARDS_STREAM, ProposalStatusChanged
from shared.cycles import CYCLE_SCORE_COMPUTED, SCORES_STREAM, CycleScoreComputed
from shared.events import CloudEvent, Subscription, stream_name
from shared.peer_ratings import (
    AGGREGATES_STREAM,
    PEER_AGGREGATE_COMPUTED,
    PEER_REVIEW_ANSWERED,
    PeerAggregateComputed,
    PeerReviewAnswered,
)
from shared.people import PERSON_DEACTIVATED, PersonEventData
from workflows.client import refusal_of
from workflows.models import (
    ChangeManager,
    CloseReason,
    CloseReview,
    CompleteTask,
    PayApprovalFinalized,
    Phase,
    ReassignTask,
    Refusal,
    Step,
    cycle_workflow_id,
    review_workflow_id,
)

# Refusals that mean "nothing left to do": the review or cycle is already where we want it.
SETTLED = frozenset({Refusal.review_closed, Refusal.cycle_cancelled, Refusal.task_done, Refusal.too_late})
SYSTEM_ACTOR = "system"


async def on_person_deactivated(session: AsyncSession, event: CloudEvent) -> None:
    """Close the leaver's own reviews, and hand the reviews they were managing to a successor."""
    from workflows.employee_review import EmployeeReviewWorkflow

    person = PersonEventData.model_validate(event.data)
    cycles = CycleRepository.from_session(session)
    with session.no_autoflush:
        open_reviews = await cycles.open_participations(person.id)
        managed = await cycles.managed_by(person.id)
        handed = await TaskRepository.from_session(session).open_assigned_to(person.id)
        successors = {
            (participant.cycle_id, participant.person_id): await _successor(
                session, participant.person_id, person, owner
            )
            for participant, owner in managed
        }
        others = [
            (task, await _successor(session, task.person_id, person, owner))
            for task, owner in handed
            # A leaver's peer review is nobody else's to answer (a successor would be a rater
            # no one approved, maybe the subject's manager): it expires with its round.
            if (task.cycle_id, task.person_id) not in successors and task.step != Step.peer_review.value
        ]
    if not (open_reviews or managed or others):
        return
    client = await holder.client()
    settings = holder.settings()

    def starter(cycle_id: uuid.UUID, person_id: uuid.UUID) -> Callable[[], Awaitable[ReviewStart | None]]:
        # A bulk launch starts the reviews minutes after it wrote their first tasks; one that
        # has not started yet is started with the Update rather than left to start unchanged.
        async def start() -> ReviewStart | None:
            with session.no_autoflush:
                return await first_task_start(session, settings, cycle_id, person_id)

        return start

    for participation in open_reviews:
        close = CloseReview(reason=CloseReason.participant_left, actor_id=SYSTEM_ACTOR)
        workflow_id = review_workflow_id(str(participation.cycle_id), str(person.id))
        start = starter(participation.cycle_id, person.id)
        await _settle(update_review(client, workflow_id, EmployeeReviewWorkflow.close, close, start))
    for participant, _owner in managed:
        successor = successors[(participant.cycle_id, participant.person_id)]
        change = ChangeManager(new_manager_id=str(successor), actor_id=SYSTEM_ACTOR)
        workflow_id = review_workflow_id(str(participant.cycle_id), str(participant.person_id))
        start = starter(participant.cycle_id, participant.person_id)
        await _settle(update_review(client, workflow_id, EmployeeReviewWorkflow.change_manager, change, start))
        participant.manager_id = successor
    for task, successor in others:
        handle = client.get_workflow_handle(task.workflow_id)
        update = ReassignTask(task_id=task.id, new_assignee_id=str(successor), actor_id=SYSTEM_ACTOR)
        await _settle(handle.execute_update(EmployeeReviewWorkflow.reassign_task, update))


async def _successor(
    session: AsyncSession, subject_id: uuid.UUID, leaver: PersonEventData, hr_owner: uuid.UUID
) -> uuid.UUID:
    """Who takes over a leaver's task about ``subject_id``.

    The subject's manager in the directory now (if the HRIS moved them already), else the
    leaver's own manager (the skip-level), else the cycle's HR owner.
    """
    people = PersonRepository.from_session(session)
    subject = await people.get(subject_id)
    for candidate_id in (None if subject is None else subject.manager_id, leaver.manager_id):
        if candidate_id is None or candidate_id in (leaver.id, subject_id):
            continue
        candidate = await people.get(candidate_id)
        if candidate is not None and candidate.active:
            return candidate_id
    return hr_owner


async def _settle(update: Awaitable[object]) -> None:
    """Run an Update; a refusal saying it is no longer needed counts as done (a redelivery)."""
    try:
        await update
    except Exception as exc:
        refusal = refusal_of(exc)
        if refusal is None or refusal.code not in SETTLED:
            raise


async def on_goal_score(session: AsyncSession, event: CloudEvent) -> None:
    score = CycleScoreComputed.model_validate(event.data)
    goals = [goal.model_dump(mode="json") for goal in score.goals]
    stored = await CycleRepository.from_session(session).set_goal_score(
        score.cycle_id, score.person_id, score.score, score.revision, goals
    )
    if stored:
        await CalibrationService(session).rescore(score.cycle_id, score.person_id)


async def on_peer_aggregate(session: AsyncSession, event: CloudEvent) -> None:
    aggregate = PeerAggregateComputed.model_validate(event.data)
    stored = await CycleRepository.from_session(session).set_peer_score(
        aggregate.cycle_id, aggregate.person_id, aggregate.score, aggregate.rater_count, aggregate.revision
    )
    if stored:
        await CalibrationService(session).rescore(aggregate.cycle_id, aggregate.person_id)


async def on_peer_review_answered(session: AsyncSession, event: CloudEvent) -> None:
    """Complete the answered peer task as its assignee; the feedback service checked who answered."""
    from services.reviews.cycles.service import InboxService
    from workflows.employee_review import EmployeeReviewWorkflow

    answered = PeerReviewAnswered.model_validate(event.data)
    with session.no_autoflush:
        task = await TaskRepository.from_session(session).get(answered.task_id)
    if task is None or task.step != Step.peer_review.value or task.cycle_id != answered.cycle_id:
        return
    handle = (await holder.client()).get_workflow_handle(task.workflow_id)
    update = CompleteTask(task_id=task.id, actor_id=str(task.assignee_id), payload={})
    try:
        await handle.execute_update(EmployeeReviewWorkflow.complete_task, update)
    except Exception as exc:
        refusal = refusal_of(exc)
        if refusal is None or refusal.code not in SETTLED:
            raise  # task_not_found: the task is still being created; the redelivery tries again
        return
    await InboxService(session).record_completion(task, task.assignee_id)


async def on_proposal_approved(session: AsyncSession, event: CloudEvent) -> None:
    from workflows.review_cycle import ReviewCycleWorkflow

    proposal = ProposalStatusChanged.model_validate(event.data)
    with session.no_autoflush:
        cycle = await CycleRepository.from_session(session).get(proposal.cycle_id)
    if cycle is None or cycle.status != "launched":
        return
    handle = (await holder.client()).get_workflow_handle(cycle_workflow_id(str(proposal.cycle_id)))
    try:
        await handle.execute_update(
            ReviewCycleWorkflow.pay_approval_finalized,
            PayApprovalFinalized(org_unit=proposal.org_unit, actor_id=SYSTEM_ACTOR),
        )
    except Exception as exc:
        refusal = refusal_of(exc)
        if refusal is not None and refusal.code is Refusal.invalid_phase:
            with session.no_autoflush:
                await session.refresh(cycle)
            if cycle.phase in (Phase.acknowledgement.value, Phase.closed.value):
                return  # pay approval is over: this unit's approval was counted already
            raise  # not in pay approval yet: the redelivery tries again
        if refusal is None or refusal.code not in SETTLED | {Refusal.unknown_org_unit}:
            raise


cycle_subscriptions: tuple[Subscription, ...] = (
    Subscription(
        durable="reviews-cycles-leavers",
        stream=stream_name("reviews"),
        subjects=(PERSON_DEACTIVATED,),
        handler=on_person_deactivated,
        one_transaction_per_event=True,
    ),
    Subscription(
        durable="reviews-cycles-goal-scores",
        stream=SCORES_STREAM,
        subjects=(CYCLE_SCORE_COMPUTED,),
        handler=on_goal_score,
    ),
    Subscription(
        durable="reviews-cycles-peer-aggregates",
        stream=AGGREGATES_STREAM,
        subjects=(PEER_AGGREGATE_COMPUTED,),
        handler=on_peer_aggregate,
    ),
    Subscription(
        durable="reviews-cycles-peer-reviews",
        stream=AGGREGATES_STREAM,
        subjects=(PEER_REVIEW_ANSWERED,),
        handler=on_peer_review_answered,
        one_transaction_per_event=True,
    ),
    Subscription(
        durable="reviews-cycles-pay-approvals",
        stream=REWARDS_STREAM,
        subjects=(PROPOSAL_APPROVED,),
        handler=on_proposal_approved,
        one_transaction_per_event=True,
    ),
)
