"""A small review cycle driven end to end through its Updates: the dev-server test and
``record_history`` both run it (fake activities, real workflows)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from temporalio.client import Client, WorkflowHandle

from tests.workflows.fakes import HR, FakeServices, schedule
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.models import (
    CompleteTask,
    CycleConfig,
    CycleResult,
    EmployeeReviewResult,
    Participant,
    PayApprovalFinalized,
    Phase,
    ReviewCycleInput,
    SessionFinalized,
    Step,
    cycle_workflow_id,
    review_workflow_id,
    task_id,
)
from workflows.review_cycle import ReviewCycleWorkflow

PEOPLE = ("p1", "p2")
MANAGER = "m1"


def fakes() -> FakeServices:
    return FakeServices(
        participants=[Participant(person_id=p, manager_id=MANAGER, org_unit="ou1") for p in PEOPLE],
        sessions=["s1"],
        org_units=["ou1"],
    )


async def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("the cycle did not get there in time")
        await asyncio.sleep(0.05)


async def run_small_cycle(
    client: Client, task_queue: str, services: FakeServices, cycle_id: str
) -> tuple[
    WorkflowHandle[ReviewCycleWorkflow, CycleResult], list[WorkflowHandle[EmployeeReviewWorkflow, EmployeeReviewResult]]
]:
    """Two people through every phase; a worker with ``services`` must serve ``task_queue``."""
    cycle = await client.start_workflow(
        ReviewCycleWorkflow.run,
        ReviewCycleInput(config=CycleConfig(cycle_id=cycle_id, hr_owner_id=HR, schedule=schedule(datetime.now(UTC)))),
        id=cycle_workflow_id(cycle_id),
        task_queue=task_queue,
    )
    children = [
        client.get_workflow_handle_for(EmployeeReviewWorkflow.run, review_workflow_id(cycle_id, person))
        for person in PEOPLE
    ]

    async def complete(person: str, step: Step, actor: str) -> None:
        tid = task_id(cycle_id, person, step)

        async def created() -> bool:
            return tid in services.tasks

        await _until(created)
        child = client.get_workflow_handle_for(EmployeeReviewWorkflow.run, review_workflow_id(cycle_id, person))
        await child.execute_update(
            EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=tid, actor_id=actor, payload={"rating": "3"})
        )

    async def in_phase(phase: Phase) -> None:
        async def check() -> bool:
            return (await cycle.query(ReviewCycleWorkflow.progress)).phase is phase and (
                phase is not Phase.calibration
                or bool((await cycle.query(ReviewCycleWorkflow.progress)).calibration_pending)
            )

        await _until(check)

    for person in PEOPLE:
        await complete(person, Step.self_assessment, person)
        await complete(person, Step.manager_review, MANAGER)
    await in_phase(Phase.calibration)
    await cycle.execute_update(
        ReviewCycleWorkflow.calibration_finalized, SessionFinalized(session_id="s1", actor_id=HR)
    )
    await in_phase(Phase.pay_approval)
    for person in PEOPLE:
        await complete(person, Step.pay_review, MANAGER)
    await cycle.execute_update(
        ReviewCycleWorkflow.pay_approval_finalized, PayApprovalFinalized(org_unit="ou1", actor_id=HR)
    )
    for person in PEOPLE:
        await complete(person, Step.acknowledgement, person)
    await cycle.result()
    return cycle, children
