"""EmployeeReviewWorkflow on the time-skipping server: every deadline path, every refusal."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from tests.workflows.fakes import (
    HR,
    FakeServices,
    eventually,
    eventually_async,
    fresh_time_skipping_env,
    schedule,
    serving,
    skip,
    start_review,
)
from workflows.client import refusal_of
from workflows.common import REPORT_SIGNAL
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.models import (
    ChangeManager,
    CloseReason,
    CloseReview,
    CompleteTask,
    EmployeeReviewResult,
    EscalateTaskInput,
    EscalationTarget,
    ExtendDeadline,
    ManagerChain,
    ParticipantReport,
    Phase,
    PhaseOpened,
    ReassignTask,
    Refusal,
    Step,
    TaskStatus,
    task_id,
)

CYCLE = "c1"
EMPLOYEE = "e1"
MANAGER = "m1"
SKIP = "s1"
SA_TASK = task_id(CYCLE, EMPLOYEE, Step.self_assessment)
MR_TASK = task_id(CYCLE, EMPLOYEE, Step.manager_review)

Handle = WorkflowHandle[EmployeeReviewWorkflow, EmployeeReviewResult]


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_time_skipping_env() as environment:
        yield environment


@asynccontextmanager
async def review(
    env: WorkflowEnvironment, task_queue: str, fakes: FakeServices
) -> AsyncIterator[tuple[Handle, datetime]]:
    start = await env.get_current_time()
    async with serving(env, task_queue, fakes):
        handle = await start_review(env.client, task_queue, schedule(start), cycle_id=CYCLE, person_id=EMPLOYEE)
        await eventually(lambda: SA_TASK in fakes.tasks)
        yield handle, start
        # End it the way a cycle would (terminating a workflow that has timers upsets the
        # time-skipping server's clock for later tests).
        if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            with contextlib.suppress(RPCError):
                await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        if fakes.close_gate is not None:
            fakes.close_gate.set()
        await handle.result()


async def refused(handle: Handle, update: object, value: object) -> Refusal:
    with pytest.raises(WorkflowUpdateFailedError) as caught:
        await handle.execute_update(update, value)  # type: ignore[call-overload]
    refusal = refusal_of(caught.value)
    assert refusal is not None
    return refusal.code


async def reminders_sent(fakes: FakeServices, count: int) -> None:
    await eventually(lambda: len(fakes.named("reviews.send_reminder")) == count)


def escalations(fakes: FakeServices) -> list[EscalateTaskInput]:
    return fakes.named("reviews.escalate_task")


async def test_reminders_at_the_configured_cadence(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices()
    async with review(env, task_queue, fakes) as (_, start):
        assert fakes.named("reviews.send_reminder") == []
        for number in (1, 2, 3):
            await skip(env, timedelta(days=3))
            await reminders_sent(fakes, number)
        reminders = [call for call in fakes.calls if call.name == "reviews.send_reminder"]
        assert [call.value.number for call in reminders] == [1, 2, 3]
        assert all(call.value.assignee_id == EMPLOYEE for call in reminders)
        days = [round((call.at - start) / timedelta(hours=1)) for call in reminders]
        assert days == [72, 144, 216]
        assert len({call.value.idempotency_key for call in reminders}) == 3
        assert escalations(fakes) == []  # the deadline (day 10) has not come


async def test_escalation_to_manager_then_skip_level_then_hr(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(chains={EMPLOYEE: ManagerChain(manager_id=MANAGER, skip_level_id=SKIP)})
    async with review(env, task_queue, fakes) as (_, start):
        await skip(env, timedelta(days=10, minutes=1))
        await eventually(lambda: len(escalations(fakes)) == 1)
        first = escalations(fakes)[0]
        assert (first.target, first.notified_id, first.escalation_index) == (EscalationTarget.manager, MANAGER, 0)

        await skip(env, timedelta(days=1))
        assert len(escalations(fakes)) == 1  # skip-level comes two days after the deadline
        await skip(env, timedelta(days=1))
        await eventually(lambda: len(escalations(fakes)) == 2)
        assert (escalations(fakes)[1].target, escalations(fakes)[1].notified_id) == (EscalationTarget.skip_level, SKIP)

        await skip(env, timedelta(days=2))
        await eventually(lambda: len(escalations(fakes)) == 3)
        third = escalations(fakes)[2]
        assert (third.target, third.notified_id, third.fell_back_to_hr) == (EscalationTarget.hr, HR, False)
        times = [
            round((call.at - start) / timedelta(hours=1)) for call in fakes.calls if call.name.endswith("escalate_task")
        ]
        assert times == [240, 288, 336]

        # The step closes six days past the deadline: the task expires, the manager review opens.
        await skip(env, timedelta(days=2))
        await eventually(lambda: MR_TASK in fakes.tasks)
        expired = [u for u in fakes.named("reviews.update_task") if u.task_id == SA_TASK]
        assert [u.status for u in expired] == [TaskStatus.expired]
        assert fakes.tasks[MR_TASK].assignee_id == MANAGER


async def test_escalation_falls_back_to_hr_without_a_chain(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(chains={EMPLOYEE: ManagerChain(manager_id=MANAGER, skip_level_id=None)})
    async with review(env, task_queue, fakes):
        await skip(env, timedelta(days=12, minutes=1))
        await eventually(lambda: len(escalations(fakes)) == 2)
        second = escalations(fakes)[1]
        assert (second.target, second.notified_id, second.fell_back_to_hr) == (EscalationTarget.skip_level, HR, True)


async def test_extension_moves_reminders_and_escalations(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(chains={EMPLOYEE: ManagerChain(manager_id=MANAGER, skip_level_id=SKIP)})
    async with review(env, task_queue, fakes) as (handle, start):
        await skip(env, timedelta(days=4))
        new_deadline = start + timedelta(days=20)
        result = await handle.execute_update(
            EmployeeReviewWorkflow.extend_deadline,
            ExtendDeadline(step=Step.self_assessment, new_deadline=new_deadline, actor_id=HR),
        )
        assert result.deadline == new_deadline
        assert [u.due_at for u in fakes.named("reviews.update_task")] == [new_deadline]

        await skip(env, timedelta(days=7))  # past the old deadline (day 10)
        await eventually(lambda: len(fakes.named("reviews.send_reminder")) == 3)
        assert escalations(fakes) == []
        await skip(env, timedelta(days=9, minutes=1))  # day 20: the new deadline
        await eventually(lambda: len(escalations(fakes)) == 1)
        assert [r.number for r in fakes.named("reviews.send_reminder")] == [1, 2, 3, 4, 5, 6]
        assert escalations(fakes)[0].due_at == new_deadline

        with pytest.raises(WorkflowUpdateFailedError) as caught:
            await handle.execute_update(
                EmployeeReviewWorkflow.extend_deadline,
                ExtendDeadline(step=Step.self_assessment, new_deadline=start, actor_id=HR),
            )
        assert refusal_of(caught.value) is not None
        assert refusal_of(caught.value).code is Refusal.invalid_deadline  # type: ignore[union-attr]


async def test_wrong_actor_unknown_task_and_task_done_are_refused(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices()
    async with review(env, task_queue, fakes) as (handle, _):
        complete = EmployeeReviewWorkflow.complete_task
        assert await refused(handle, complete, CompleteTask(task_id=SA_TASK, actor_id=MANAGER)) is Refusal.wrong_actor
        assert (
            await refused(handle, complete, CompleteTask(task_id=MR_TASK, actor_id=MANAGER)) is Refusal.task_not_found
        )
        done = await handle.execute_update(complete, CompleteTask(task_id=SA_TASK, actor_id=EMPLOYEE, payload={"r": 4}))
        assert done.status is TaskStatus.done
        assert await refused(handle, complete, CompleteTask(task_id=SA_TASK, actor_id=EMPLOYEE)) is Refusal.task_done
        stored = [u for u in fakes.named("reviews.update_task") if u.task_id == SA_TASK]
        assert [(u.status, u.payload, u.actor_id) for u in stored] == [(TaskStatus.done, {"r": 4}, EMPLOYEE)]
        await eventually(lambda: MR_TASK in fakes.tasks)


async def test_reassignment_changes_the_assignee_and_refuses_the_old_one(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeServices(chains={"m2": ManagerChain(manager_id="m2-boss")})
    async with review(env, task_queue, fakes) as (handle, _):
        await handle.execute_update(
            EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=SA_TASK, actor_id=EMPLOYEE)
        )
        await eventually(lambda: MR_TASK in fakes.tasks)
        moved = await handle.execute_update(
            EmployeeReviewWorkflow.reassign_task, ReassignTask(task_id=MR_TASK, new_assignee_id="m2", actor_id=HR)
        )
        assert moved.assignee_id == "m2"
        change = [u for u in fakes.named("reviews.update_task") if u.task_id == MR_TASK]
        assert [u.assignee_id for u in change] == ["m2"]
        old = CompleteTask(task_id=MR_TASK, actor_id=MANAGER)
        assert await refused(handle, EmployeeReviewWorkflow.complete_task, old) is Refusal.wrong_actor

        # Escalation now follows the new assignee's chain (manager review due on day 30).
        await skip(env, timedelta(days=30, minutes=1))
        await eventually(lambda: len(escalations(fakes)) == 1)
        assert escalations(fakes)[0].notified_id == "m2-boss"
        done = await handle.execute_update(
            EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=MR_TASK, actor_id="m2")
        )
        assert done.status is TaskStatus.done


async def test_changed_manager_takes_the_open_and_the_later_manager_tasks(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeServices()
    async with review(env, task_queue, fakes) as (handle, _):
        await handle.execute_update(
            EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=SA_TASK, actor_id=EMPLOYEE)
        )
        await eventually(lambda: MR_TASK in fakes.tasks)
        changed = await handle.execute_update(
            EmployeeReviewWorkflow.change_manager, ChangeManager(new_manager_id=SKIP, actor_id="system")
        )
        assert (changed.manager_id, changed.reassigned_task_ids) == (SKIP, [MR_TASK])
        assert [u.assignee_id for u in fakes.named("reviews.update_task") if u.task_id == MR_TASK] == [SKIP]
        old = CompleteTask(task_id=MR_TASK, actor_id=MANAGER)
        assert await refused(handle, EmployeeReviewWorkflow.complete_task, old) is Refusal.wrong_actor
        await handle.execute_update(EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=MR_TASK, actor_id=SKIP))

        # The pay review is created later, for the new manager; a repeat changes nothing.
        await handle.signal(EmployeeReviewWorkflow.phase_opened, PhaseOpened(phase=Phase.pay_approval))
        pay_task = task_id(CYCLE, EMPLOYEE, Step.pay_review)
        await eventually(lambda: pay_task in fakes.tasks)
        assert fakes.tasks[pay_task].assignee_id == SKIP
        again = await handle.execute_update(
            EmployeeReviewWorkflow.change_manager, ChangeManager(new_manager_id=SKIP, actor_id="system")
        )
        assert again.reassigned_task_ids == []


async def test_participant_leaving_closes_the_review(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices()
    async with review(env, task_queue, fakes) as (handle, _):
        result = await handle.execute_update(
            EmployeeReviewWorkflow.close, CloseReview(reason=CloseReason.participant_left)
        )
        assert result.closed_reason is CloseReason.participant_left
        assert [(c.person_id, c.reason) for c in fakes.named("reviews.close_review")] == [
            (EMPLOYEE, CloseReason.participant_left)
        ]
        final = await handle.result()
        assert [t.status for t in final.tasks] == [TaskStatus.closed]


async def test_completion_after_cancel_is_refused(env: WorkflowEnvironment, task_queue: str) -> None:
    """Between the cancel and the inbox closing, the validator refuses; after that the API does."""
    import asyncio

    fakes = FakeServices(close_gate=asyncio.Event())
    async with review(env, task_queue, fakes) as (handle, _):
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.cancelled))
        complete = CompleteTask(task_id=SA_TASK, actor_id=EMPLOYEE)
        assert await refused(handle, EmployeeReviewWorkflow.complete_task, complete) is Refusal.cycle_cancelled
        assert fakes.close_gate is not None
        fakes.close_gate.set()
        final = await handle.result()
        assert final.closed_reason is CloseReason.cancelled
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the workflow has ended: an RPC error
            await handle.execute_update(EmployeeReviewWorkflow.complete_task, complete)
        refusal = refusal_of(caught.value)
        assert refusal is not None
        assert refusal.code is Refusal.review_closed


async def test_retried_activity_does_not_create_a_second_task(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices(fail_once={"reviews.create_task", "reviews.escalate_task"})
    async with review(env, task_queue, fakes):
        creates = [call for call in fakes.calls if call.name == "reviews.create_task"]
        assert [call.attempt for call in creates] == [1, 2]
        assert creates[0].value.task_id == creates[1].value.task_id == SA_TASK
        assert list(fakes.tasks) == [SA_TASK]

        await skip(env, timedelta(days=10, minutes=1))
        await eventually(lambda: len(escalations(fakes)) == 2)
        keys = {e.idempotency_key for e in escalations(fakes)}
        assert len(keys) == 1


async def test_shorter_cycle_wide_deadline_keeps_a_personal_extension(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Personal extension to day 20 (from the cycle), then a cycle-wide change to day 15: day 20 stays."""
    fakes = FakeServices(chains={EMPLOYEE: ManagerChain(manager_id=MANAGER, skip_level_id=SKIP)})
    async with review(env, task_queue, fakes) as (handle, start):
        personal, cycle_wide = start + timedelta(days=20), start + timedelta(days=15)
        await handle.signal(
            EmployeeReviewWorkflow.deadline_changed,
            ExtendDeadline(step=Step.self_assessment, new_deadline=personal, actor_id=HR, person_id=EMPLOYEE),
        )
        await eventually(lambda: [u.due_at for u in fakes.named("reviews.update_task")] == [personal])
        await handle.signal(
            EmployeeReviewWorkflow.deadline_changed,
            ExtendDeadline(step=Step.self_assessment, new_deadline=cycle_wide, actor_id=HR),
        )
        await skip(env, timedelta(days=15, minutes=1))  # past the cycle-wide deadline
        assert escalations(fakes) == []
        assert [u.due_at for u in fakes.named("reviews.update_task")] == [personal]
        assert [t.due_at for t in await handle.query(EmployeeReviewWorkflow.tasks)] == [personal]
        await skip(env, timedelta(days=5))  # day 20: the personal deadline
        await eventually(lambda: len(escalations(fakes)) == 1)
        assert escalations(fakes)[0].due_at == personal


async def test_later_cycle_wide_deadline_wins_over_a_personal_extension(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    """Personal extension to day 20 (HR through the review's Update), then cycle-wide day 25: day 25.

    The personal extension is remembered: a cycle-wide change back to day 18 leaves day 20.
    """
    fakes = FakeServices()
    async with review(env, task_queue, fakes) as (handle, start):
        personal = start + timedelta(days=20)
        result = await handle.execute_update(
            EmployeeReviewWorkflow.extend_deadline,
            ExtendDeadline(step=Step.self_assessment, new_deadline=personal, actor_id=HR),
        )
        assert result.deadline == personal
        later = start + timedelta(days=25)
        await handle.signal(
            EmployeeReviewWorkflow.deadline_changed,
            ExtendDeadline(step=Step.self_assessment, new_deadline=later, actor_id=HR),
        )
        await eventually(lambda: [u.due_at for u in fakes.named("reviews.update_task")] == [personal, later])
        assert [t.due_at for t in await handle.query(EmployeeReviewWorkflow.tasks)] == [later]

        await handle.signal(
            EmployeeReviewWorkflow.deadline_changed,
            ExtendDeadline(step=Step.self_assessment, new_deadline=start + timedelta(days=18), actor_id=HR),
        )
        await eventually(lambda: [u.due_at for u in fakes.named("reviews.update_task")] == [personal, later, personal])
        # A new personal deadline replaces the old one; earlier than the cycle-wide one, that one holds.
        shorter = await handle.execute_update(
            EmployeeReviewWorkflow.extend_deadline,
            ExtendDeadline(step=Step.self_assessment, new_deadline=start + timedelta(days=12), actor_id=HR),
        )
        assert shorter.deadline == start + timedelta(days=18)
        assert fakes.named("reviews.update_task")[-1].due_at == start + timedelta(days=18)


async def test_a_review_started_late_still_reminds_and_escalates(env: WorkflowEnvironment, task_queue: str) -> None:
    """The launch wrote the self-assessment four days ago; the review starts only now.

    Its first reminder (day 3 after the launch) is already past: the review sends it at once,
    then keeps the launch's cadence and escalates at the deadline, as if it had run all along.
    """
    fakes = FakeServices(chains={EMPLOYEE: ManagerChain(manager_id=MANAGER, skip_level_id=SKIP)})
    start = await env.get_current_time()
    launched = start - timedelta(days=4)
    async with serving(env, task_queue, fakes):
        handle = await start_review(
            env.client,
            task_queue,
            schedule(launched),
            cycle_id=CYCLE,
            person_id=EMPLOYEE,
            first_task_opened_at=launched,
        )
        await reminders_sent(fakes, 1)
        assert fakes.named("reviews.create_task") == []  # the task was in the inbox already
        await skip(env, timedelta(days=2, hours=12))
        await reminders_sent(fakes, 2)
        await skip(env, timedelta(days=4))  # past the deadline (launch + 10 days)
        await eventually(lambda: len(escalations(fakes)) == 1)
        reminders = [call for call in fakes.calls if call.name == "reviews.send_reminder"]
        assert [call.value.number for call in reminders] == [1, 2, 3]
        hours = [round((call.at - start) / timedelta(hours=1)) for call in reminders]
        assert hours == [0, 48, 120]  # at once, then launch + 6 and + 9 days
        assert reminders[0].value.task_id == SA_TASK
        escalated = [call for call in fakes.calls if call.name == "reviews.escalate_task"]
        assert [round((call.at - start) / timedelta(hours=1)) for call in escalated] == [144]
        assert escalations(fakes)[0].notified_id == MANAGER
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        final = await handle.result()
    assert [(task.task_id, task.status) for task in final.tasks] == [(SA_TASK, TaskStatus.closed)]


@workflow.defn(sandboxed=False)
class ReportSink:
    """Stands where the cycle would: keeps every report it is sent."""

    def __init__(self) -> None:
        self._reports: list[ParticipantReport] = []

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: any(report.ended for report in self._reports))

    @workflow.signal(name=REPORT_SIGNAL)
    def report(self, value: ParticipantReport) -> None:
        self._reports.append(value)

    @workflow.query
    def reports(self) -> list[ParticipantReport]:
        return self._reports


async def test_a_report_the_cycle_did_not_take_is_sent_again(env: WorkflowEnvironment, task_queue: str) -> None:
    """The cycle is not there for the first report (as in a continue-as-new on the test server):
    the review sends it again after a pause instead of losing the person's start for good."""
    fakes = FakeServices()
    cycle_id = f"cycle-test-{uuid.uuid4()}"
    sink_queue = f"{task_queue}-sink"
    async with (
        serving(env, task_queue, fakes),
        Worker(env.client, task_queue=sink_queue, workflows=[ReportSink], workflow_runner=UnsandboxedWorkflowRunner()),
    ):
        handle = await start_review(
            env.client,
            task_queue,
            schedule(await env.get_current_time()),
            cycle_id=CYCLE,
            person_id=EMPLOYEE,
            cycle_workflow_id=cycle_id,
        )

        async def report_refused() -> bool:
            history = await handle.fetch_history()
            return any(
                event.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_FAILED
                for event in history.events
            )

        await eventually_async(report_refused)
        sink = await env.client.start_workflow(ReportSink.run, id=cycle_id, task_queue=sink_queue)
        await skip(env, timedelta(seconds=2))  # past the first pause

        async def started_reported() -> bool:
            return any(report.started for report in await sink.query(ReportSink.reports))

        await eventually_async(started_reported)
        first = (await sink.query(ReportSink.reports))[0]
        assert (first.person_id, first.started) == (EMPLOYEE, True)
        assert [(t.step, t.status) for t in first.transitions] == [(Step.self_assessment, TaskStatus.open)]
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        await handle.result()
        await sink.result()  # it ends at the review's last report: that one was taken too
