"""Starting participants' reviews (EmployeeReviewWorkflow) from the reviews service.

A bulk launch writes every self-assessment task first and starts the reviews behind them:
the ``reviews.start_reviews`` activity starts them page by page, and a submit that comes
before its person's review exists starts it with the completion (update-with-start). Both
build the review's input here, from the participant's row and the cycle's template, and
start it under its one id with the same policies, so whichever comes first wins and the other
finds it: a running review is kept, an ended one is never started again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime

from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from services.reviews.models import CycleParticipant, ReviewCycle
from shared.settings import Settings
from workflows.client import activity_queues
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.models import (
    PHASES,
    CycleSchedule,
    EmployeeReviewInput,
    EmployeeReviewResult,
    Phase,
    ReviewTemplate,
    cycle_workflow_id,
    review_workflow_id,
)

# A running review is kept; one that has ended is never started again under its id.
CONFLICT = WorkflowIDConflictPolicy.USE_EXISTING
REUSE = WorkflowIDReusePolicy.REJECT_DUPLICATE


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


def start_operation(
    value: EmployeeReviewInput, task_queue: str
) -> WithStartWorkflowOperation[EmployeeReviewWorkflow, EmployeeReviewResult]:
    return WithStartWorkflowOperation(
        EmployeeReviewWorkflow.run,
        value,
        id=review_workflow_id(value.cycle_id, value.person_id),
        task_queue=task_queue,
        id_conflict_policy=CONFLICT,
        id_reuse_policy=REUSE,
    )


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
