"""A small cycle end to end on a real ``temporal server start-dev``, then replayed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from services.reviews.cycles.review_starts import start_operation, start_reviews
from tests.workflows.fakes import HR, FakeServices, eventually, queues_for, schedule, serving
from tests.workflows.scenario import PEOPLE, fakes, run_small_cycle
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.handles import review_handle
from workflows.models import (
    CloseReason,
    CloseReview,
    CompleteTask,
    EmployeeReviewInput,
    Phase,
    Step,
    TaskStatus,
    review_workflow_id,
    task_id,
)
from workflows.worker import build_replayer


async def test_small_cycle_end_to_end_on_the_dev_server_replays(dev_client: Client, task_queue: str) -> None:
    services = fakes()
    cycle_id = uuid.uuid4().hex[:10]
    async with serving(dev_client, task_queue, services):
        cycle, children = await run_small_cycle(dev_client, task_queue, services, cycle_id)
        result = await cycle.result()
        assert (result.participants, result.ended, result.cancelled) == (2, 2, False)
        for step in Step:
            if step in result.steps:
                assert result.steps[step].done == len(PEOPLE)
        assert [m.phase for m in services.named("reviews.mark_phase")] == list(Phase)
        finals = [await child.result() for child in children]
        assert all(final.final_rating is None and final.closed_reason is None for final in finals)
        assert len(services.tasks) == 4 * len(PEOPLE)
        # The shorter cycle-wide extension (day 15) left p1's personal one (day 25) alone.
        due = {
            person: [
                u.due_at
                for u in services.named("reviews.update_task")
                if u.task_id == task_id(cycle_id, person, Step.self_assessment) and u.due_at
            ]
            for person in PEOPLE
        }
        (personal,), (cycle_wide,) = due.values()  # one deadline change each
        assert personal - cycle_wide == timedelta(days=10)
        reminders = services.named("reviews.remind_gate")
        for step in (Step.calibration, Step.pay_approval):
            numbers = [r.number for r in reminders if r.step is step]
            assert numbers == list(range(1, len(numbers) + 1))
            assert len(numbers) >= 2

    replayer = build_replayer()
    await replayer.replay_workflow(await cycle.fetch_history())
    for child in children:
        await replayer.replay_workflow(await child.fetch_history())


async def test_a_submit_before_the_review_exists_starts_it_once(dev_client: Client, task_queue: str) -> None:
    """Update-with-start: the completion starts the review; the fan-out's later start keeps it."""
    services = FakeServices()
    start = datetime.now(UTC)
    cycle_id = uuid.uuid4().hex[:10]
    value = EmployeeReviewInput(
        cycle_id=cycle_id,
        person_id="p1",
        manager_id="m1",
        hr_owner_id=HR,
        schedule=schedule(start),
        queues=queues_for(task_queue),
        first_task_opened_at=start,
    )
    first = task_id(cycle_id, "p1", Step.self_assessment)
    async with serving(dev_client, task_queue, services):
        done = await dev_client.execute_update_with_start_workflow(
            EmployeeReviewWorkflow.complete_task,
            CompleteTask(task_id=first, actor_id="p1", payload={}),
            start_workflow_operation=start_operation(value, task_queue),
        )
        assert done.status is TaskStatus.done
        assert await start_reviews(dev_client, [value], task_queue, window=5) == []  # kept, not started again
        handle = review_handle(dev_client, review_workflow_id(cycle_id, "p1"))
        await eventually(lambda: [u.status for u in services.named("reviews.update_task")] == [TaskStatus.done])
        # The review goes on to the manager review, which it creates itself.
        await eventually(lambda: [c.step for c in services.named("reviews.create_task")] == [Step.manager_review])
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        await handle.result()
        # Ended: a late start (or submit) never starts it again.
        assert await start_reviews(dev_client, [value], task_queue, window=5) == ["p1"]
    runs = [run async for run in dev_client.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1
