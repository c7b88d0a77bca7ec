"""The 360 round of EmployeeReviewWorkflow on the time-skipping server, with fake activities:
nomination (employee), approval (manager, who edits the list), one peer task per approved peer
with reminders and escalations, the feedback activities on the feedback queue, the release
once at the round's closing time (not at the last answer), and a cancelled round."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.workflows.fakes import (
    FakeServices,
    eventually,
    fresh_time_skipping_env,
    schedule,
    serving,
    skip,
    start_review,
)
from workflows.employee_review import EmployeeReviewWorkflow
from workflows.models import (
    CloseReason,
    CloseReview,
    CompleteTask,
    CycleSchedule,
    DeadlinePolicy,
    EmployeeReviewResult,
    EscalationStep,
    EscalationTarget,
    ManagerChain,
    PeerFeedbackPlan,
    PeerQuestion,
    Step,
    StepSchedule,
    task_id,
)

CYCLE = "c360"
EMPLOYEE = "e1"
MANAGER = "m1"
SKIP = "s1"
PEERS = ("p1", "p2", "p3")
Handle = WorkflowHandle[EmployeeReviewWorkflow, EmployeeReviewResult]
PLAN = PeerFeedbackPlan(
    min_peers=3, max_peers=4, questions=[PeerQuestion(key="q", text="Keep doing?")], competencies=["craft"]
)


def peer_schedule(start: datetime) -> CycleSchedule:
    """Nomination by day 2, approval by day 4, peer reviews by day 6 (closing day 8)."""
    base = schedule(start)
    steps = dict(base.steps)
    policy = DeadlinePolicy(
        reminder_every=timedelta(days=1),
        escalation=[EscalationStep(after=timedelta(0), notify=EscalationTarget.manager)],
    )
    for step, day in ((Step.peer_nomination, 2), (Step.peer_approval, 4), (Step.peer_review, 6)):
        steps[step] = StepSchedule(deadline=start + timedelta(days=day), closes_after=timedelta(days=2), policy=policy)
    return CycleSchedule(steps=steps, peer_feedback=PLAN)


@asynccontextmanager
async def review(
    client: Client | WorkflowEnvironment, task_queue: str, fakes: FakeServices, start: datetime
) -> AsyncIterator[Handle]:
    temporal = client.client if isinstance(client, WorkflowEnvironment) else client
    async with serving(client, task_queue, fakes):
        handle = await start_review(
            temporal, task_queue, peer_schedule(start), cycle_id=CYCLE, person_id=EMPLOYEE, manager_id=MANAGER
        )
        yield handle


async def nominate_and_approve(handle: Handle, fakes: FakeServices) -> list[str]:
    """The employee names four (their manager among them); the manager approves three peers."""
    nomination = task_id(CYCLE, EMPLOYEE, Step.peer_nomination)
    await eventually(lambda: nomination in fakes.tasks)
    await handle.execute_update(
        EmployeeReviewWorkflow.complete_task,
        CompleteTask(task_id=nomination, actor_id=EMPLOYEE, payload={"peer_ids": [*PEERS, MANAGER]}),
    )
    approval = task_id(CYCLE, EMPLOYEE, Step.peer_approval)
    await eventually(lambda: approval in fakes.tasks)
    assert fakes.tasks[approval].assignee_id == MANAGER
    # The manager's list names the subject too: the workflow drops them (never a rater).
    await handle.execute_update(
        EmployeeReviewWorkflow.complete_task,
        CompleteTask(task_id=approval, actor_id=MANAGER, payload={"peer_ids": [EMPLOYEE, *PEERS]}),
    )
    peer_tasks = [task_id(CYCLE, EMPLOYEE, Step.peer_review, n) for n in (1, 2, 3)]
    await eventually(lambda: all(t in fakes.tasks for t in peer_tasks))
    return peer_tasks


@pytest.fixture
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with fresh_time_skipping_env() as environment:
        yield environment


async def test_a_360_round_nominates_approves_reminds_escalates_and_releases_at_the_close(
    env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = FakeServices(chains={peer: ManagerChain(manager_id=SKIP) for peer in PEERS})
    start = await env.get_current_time()
    async with review(env, task_queue, fakes, start) as handle:
        peer_tasks = await nominate_and_approve(handle, fakes)
        (opened,) = fakes.named("feedback.open_peer_reviews")
        assert [(p.peer_id, p.task_id) for p in opened.peers] == list(zip(PEERS, peer_tasks, strict=True))
        assert opened.manager_id == MANAGER
        assert [fakes.tasks[t].assignee_id for t in peer_tasks] == list(PEERS)
        # The feedback service learned who may answer before any peer task was written.
        names = [call.name for call in fakes.calls]
        assert names.index("feedback.open_peer_reviews") < max(
            i for i, call in enumerate(fakes.calls) if call.name == "reviews.create_task"
        )
        # Two peers answer (the reviews service completes their tasks as their assignees).
        for peer, task in zip(PEERS[:2], peer_tasks[:2], strict=True):
            await handle.execute_update(EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=task, actor_id=peer))
        assert fakes.named("feedback.release_peer_reviews") == []  # not at an answer
        # The third is reminded daily and escalated at the deadline (day 6), like any task.
        await skip(env, timedelta(days=6, hours=12))
        await eventually(lambda: any(e.task_id == peer_tasks[2] for e in fakes.named("reviews.escalate_task")))
        reminded = {r.task_id for r in fakes.named("reviews.send_reminder")}
        assert peer_tasks[2] in reminded
        assert fakes.named("feedback.release_peer_reviews") == []  # the round closes on day 8
        await skip(env, timedelta(days=2))
        await eventually(lambda: len(fakes.named("feedback.release_peer_reviews")) == 1)
        (released,) = fakes.named("feedback.release_peer_reviews")
        assert (released.person_id, released.cancelled) == (EMPLOYEE, False)
        states = {t.task_id: t.status.value for t in await handle.query(EmployeeReviewWorkflow.tasks)}
        assert [states[t] for t in peer_tasks] == ["done", "done", "expired"]
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        await handle.result()
    assert len(fakes.named("feedback.release_peer_reviews")) == 1


async def test_a_cancelled_review_closes_its_round_without_a_release(env: WorkflowEnvironment, task_queue: str) -> None:
    fakes = FakeServices()
    start = await env.get_current_time()
    async with review(env, task_queue, fakes, start) as handle:
        await nominate_and_approve(handle, fakes)
        await handle.execute_update(EmployeeReviewWorkflow.close, CloseReview(reason=CloseReason.cancelled))
        await handle.result()
    (released,) = fakes.named("feedback.release_peer_reviews")
    assert released.cancelled is True


async def record_peer_review(client: Client, task_queue: str) -> Handle:
    """The 360 path on a dev server, for ``histories/employee_review_v7.json``."""
    fakes = FakeServices()
    start = datetime.now().astimezone()
    async with review(client, task_queue, fakes, start) as handle:
        peer_tasks = await nominate_and_approve(handle, fakes)
        for peer, task in zip(PEERS, peer_tasks, strict=True):
            await handle.execute_update(EmployeeReviewWorkflow.complete_task, CompleteTask(task_id=task, actor_id=peer))
        await handle.signal(EmployeeReviewWorkflow.cycle_close, CloseReview(reason=CloseReason.removed))
        await handle.result()
    return handle
