"""A small review cycle driven end to end through its Updates: the dev-server test and
``record_history`` both run it (fake activities, real workflows).

Besides every phase it takes the patched paths (``workflow.patched``): a personal extension
kept under a shorter cycle-wide one, and gate reminders before calibration and pay approval
(their cadence is one second here, so they come in real time).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client, WorkflowHandle

from tests.workflows.fakes import HR, FakeServices, queues_for, schedule
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import review_handle
from workflows.models import (
    CompleteTask,
    CycleConfig,
    CycleResult,
    CycleSchedule,
    EmployeeReviewResult,
    ExtendDeadline,
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
GATE_REMINDER_EVERY = timedelta(seconds=1)


def fakes() -> FakeServices:
    return FakeServices(
        participants=[Participant(person_id=p, manager_id=MANAGER, org_unit="ou1") for p in PEOPLE],
        sessions=["s1"],
        org_units=["ou1"],
    )


def small_schedule(start: datetime) -> CycleSchedule:
    """The tests' schedule, with gates due in ten minutes and reminded every second."""
    plan = schedule(start)
    for step in (Step.calibration, Step.pay_approval):
        gate = plan.of(step)
        plan.steps[step] = gate.model_copy(
            update={
                "deadline": start + timedelta(minutes=10),
                "policy": gate.policy.model_copy(update={"reminder_every": GATE_REMINDER_EVERY}),
            }
        )
    return plan


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
    start = datetime.now(UTC)
    cycle = await client.start_workflow(
        ReviewCycleWorkflow.run,
        ReviewCycleInput(
            config=CycleConfig(
                cycle_id=cycle_id, hr_owner_id=HR, schedule=small_schedule(start), queues=queues_for(task_queue)
            )
        ),
        id=cycle_workflow_id(cycle_id),
        task_queue=task_queue,
    )
    children = [review_handle(client, review_workflow_id(cycle_id, person)) for person in PEOPLE]

    async def complete(person: str, step: Step, actor: str) -> None:
        tid = task_id(cycle_id, person, step)

        async def created() -> bool:
            return tid in services.tasks

        await _until(created)
        child = review_handle(client, review_workflow_id(cycle_id, person))
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

    async def reminded(step: Step, count: int) -> None:
        async def check() -> bool:
            return len([r for r in services.named("reviews.remind_gate") if r.step is step]) >= count

        await _until(check)

    # p1 gets a personal extension to day 25; the cycle-wide change to day 15 moves p2 only.
    first, second = (task_id(cycle_id, person, Step.self_assessment) for person in PEOPLE)

    async def tasks_exist() -> bool:
        return first in services.tasks and second in services.tasks

    await _until(tasks_exist)
    for deadline, person in ((start + timedelta(days=25), PEOPLE[0]), (start + timedelta(days=15), None)):
        extension = ExtendDeadline(step=Step.self_assessment, new_deadline=deadline, actor_id=HR, person_id=person)
        await cycle.execute_update(ReviewCycleWorkflow.extend_deadline, extension)

    async def extended() -> bool:
        return {u.task_id for u in services.named("reviews.update_task") if u.due_at} == {first, second}

    await _until(extended)

    for person in PEOPLE:
        await complete(person, Step.self_assessment, person)
        await complete(person, Step.manager_review, MANAGER)
    await in_phase(Phase.calibration)
    await reminded(Step.calibration, 2)
    await cycle.execute_update(
        ReviewCycleWorkflow.calibration_finalized, SessionFinalized(session_id="s1", actor_id=HR)
    )
    await in_phase(Phase.pay_approval)
    for person in PEOPLE:
        await complete(person, Step.pay_review, MANAGER)
    await reminded(Step.pay_approval, 2)
    await cycle.execute_update(
        ReviewCycleWorkflow.pay_approval_finalized, PayApprovalFinalized(org_unit="ou1", actor_id=HR)
    )
    for person in PEOPLE:
        await complete(person, Step.acknowledgement, person)
    await cycle.result()
    return cycle, children
