"""Starting participants' reviews (EmployeeReviewWorkflow) from the reviews service.

A bulk launch writes every self-assessment task first and starts the reviews behind them:
the ``reviews.start_reviews`` activity starts them page by page, and a submit that comes
before its person's review exists starts it with the completion (update-with-start). Both
build the review's input here, from the participant's row and the cycle's template, and
start it under its one id with the same policies, so whichever comes first wins and the other
finds it: a running review is kept, an ended one is never started again. Anything else that
sends such a review an Update before it has started (a leaver's deactivation closing it, a
manager's handing it on) starts it the same way, through ``update_review``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from services.reviews.cycles.repository import CycleRepository, TaskRepository
from services.reviews.models import CycleParticipant, ReviewCycle
from shared.settings import Settings
from workflows.client import activity_queues
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import review_handle
from workflows.models import (
    PHASES,
    CycleSchedule,
    EmployeeReviewInput,
    EmployeeReviewResult,
    Phase,
    ReviewTemplate,
    Step,
    cycle_workflow_id,
    review_workflow_id,
    task_id,
)

# A running review is kept; one that has ended is never started again under its id.
CONFLICT = WorkflowIDConflictPolicy.USE_EXISTING
REUSE = WorkflowIDReusePolicy.REJECT_DUPLICATE

ReviewStart = WithStartWorkflowOperation[EmployeeReviewWorkflow, EmployeeReviewResult]
UpdateArg = TypeVar("UpdateArg")
UpdateResult = TypeVar("UpdateResult")


def review_input(cycle_id: str, participant: CycleParticipant, template: ReviewTemplate) -> EmployeeReviewInput:
    manager_id = None if participant.manager_id is None else str(participant.manager_id)
    return template.for_person(cycle_id, str(participant.person_id), manager_id)


def template_of(cycle: ReviewCycle, settings: Settings, first_task_opened_at: datetime | None) -> ReviewTemplate:
    """The template as the inbox knows it (for a submit that starts the review).

    The schedule is the cycle's as stored. The cycle broadcasts a cycle-wide extension only to
    reviews that exist, so one this start misses reaches the review only through the schedule
    it starts with; ``reviews.start_reviews`` moves the bulk-written task to match.
    """
    phase = Phase(cycle.phase) if cycle.phase else Phase.self_assessment
    opened = [p for p in PHASES if PHASES.index(p) <= PHASES.index(phase) and p is not Phase.closed]
    return ReviewTemplate(
        hr_owner_id=str(cycle.hr_owner_id),
        schedule=CycleSchedule.model_validate(cycle.schedule),
        cycle_workflow_id=cycle_workflow_id(str(cycle.id)),
        opened_phases=opened or [Phase.self_assessment],
        queues=activity_queues(settings),
        first_task_opened_at=first_task_opened_at,
    )


def start_operation(value: EmployeeReviewInput, task_queue: str) -> ReviewStart:
    return WithStartWorkflowOperation(
        EmployeeReviewWorkflow.run,
        value,
        id=review_workflow_id(value.cycle_id, value.person_id),
        task_queue=task_queue,
        id_conflict_policy=CONFLICT,
        id_reuse_policy=REUSE,
    )


async def first_task_start(
    session: AsyncSession, settings: Settings, cycle_id: uuid.UUID, person_id: uuid.UUID
) -> ReviewStart | None:
    """How to start this person's review behind the first task a bulk launch wrote for it.

    None when there is nothing to start: the cycle is not running, the person no longer takes
    part, or no first task waits in the inbox (then the review writes its own tasks, and only
    the cycle starts it).
    """
    cycles = CycleRepository.from_session(session)
    cycle = await cycles.get(cycle_id)
    participant = await cycles.participant(cycle_id, person_id)
    if cycle is None or cycle.status != "launched" or participant is None or participant.closed_reason:
        return None
    first = await TaskRepository.from_session(session).get(task_id(str(cycle_id), str(person_id), Step.self_assessment))
    if first is None:
        return None
    template = template_of(cycle, settings, first.created_at)
    return start_operation(review_input(str(cycle.id), participant, template), settings.temporal_task_queue)


async def update_review(
    client: Client,
    workflow_id: str,
    update: UpdateMethodMultiParam[[EmployeeReviewWorkflow, UpdateArg], UpdateResult],
    arg: UpdateArg,
    start: Callable[[], Awaitable[ReviewStart | None]],
) -> UpdateResult:
    """Send a review an Update; one not started yet is started with it when ``start`` says how.

    The review's absence is asked about only after the Update found none. A review that has
    ended is never started again: the NOT_FOUND stands, which callers read as ``review_closed``.
    """
    try:
        return await review_handle(client, workflow_id).execute_update(update, arg)
    except RPCError as error:
        if error.status is not RPCStatusCode.NOT_FOUND:
            raise
        operation = await start()
        if operation is None:
            raise
        missing = error
    try:
        return await client.execute_update_with_start_workflow(update, arg, start_workflow_operation=operation)
    except WorkflowAlreadyStartedError:
        raise missing from None


async def start_reviews(
    client: Client,
    inputs: Sequence[EmployeeReviewInput],
    task_queue: str,
    window: int,
    progress: Callable[[int], None] | None = None,
    *,
    keep_running: bool = True,
) -> list[str]:
    """Start (or keep) each review, ``window`` requests at a time; the person ids whose review had ended.

    ``keep_running=False``: a running review is not kept but reported with the ended ones (a join).
    """
    ended: list[str] = []
    done = 0
    gate = asyncio.Semaphore(window)

    async def start(value: EmployeeReviewInput) -> None:
        nonlocal done
        async with gate:
            try:
                await client.start_workflow(
                    EmployeeReviewWorkflow.run,
                    value,
                    id=review_workflow_id(value.cycle_id, value.person_id),
                    task_queue=task_queue,
                    id_conflict_policy=CONFLICT if keep_running else WorkflowIDConflictPolicy.FAIL,
                    id_reuse_policy=REUSE,
                )
            except WorkflowAlreadyStartedError:
                ended.append(value.person_id)
            done += 1
            if progress is not None:
                progress(done)

    await asyncio.gather(*(start(value) for value in inputs))
    return sorted(ended)
