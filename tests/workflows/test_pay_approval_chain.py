"""The pay approval chain workflow on the time-skipping server, and its recorded history replayed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from tests.workflows.approval_scenario import (
    DIRECTOR,
    HR,
    MANAGER,
    VP,
    FakeApprovals,
    chain_input,
    current_step,
    decide,
    run_chain,
    serving_approvals,
)
from tests.workflows.fakes import fresh_time_skipping_env
from workflows.common import TaskTimeline, task_timeline
from workflows.models import (
    ApprovalAction,
    DeadlinePolicy,
    EscalationStep,
    EscalationTarget,
    approval_chain_workflow_id,
)
from workflows.pay_approval import PayApprovalChainWorkflow
from workflows.worker import build_replayer

HISTORIES = Path(__file__).parent / "histories"
DAY = timedelta(days=1)


async def test_two_levels_with_an_escalation_and_a_return(task_queue: str) -> None:
    fakes = FakeApprovals()
    async with fresh_time_skipping_env() as env, serving_approvals(env.client, task_queue, fakes):
        handle, result = await run_chain(env.client, task_queue, env.sleep, DAY)
        history = await handle.fetch_history()
    assert (result.decisions, result.returns, result.escalations) == (5, 1, 1)
    (plan,) = fakes.named("plan")
    assert (plan.depth, plan.manager_id) == (2, MANAGER)
    opened = [(v.step.index, v.step.round, v.step.assignee_id) for v in fakes.named("open")]
    assert opened == [(1, 1, DIRECTOR), (2, 1, VP), (1, 2, DIRECTOR), (2, 2, VP), (3, 1, None)]
    (escalation,) = fakes.named("escalate")
    assert (escalation.step.index, escalation.escalation_index, escalation.target) == (1, 0, EscalationTarget.manager)
    assert escalation.step.assignee_id == DIRECTOR
    assert escalation.hr_owner_id == HR
    # Reminders at half a step, before the deadline only: one for the late director.
    assert [(v.step.index, v.number) for v in fakes.named("remind")] == [(1, 1)]
    records = fakes.named("record")
    assert [(r.step.index, r.decision.action, r.next_index) for r in records] == [
        (1, ApprovalAction.approve, 2),
        (2, ApprovalAction.return_, 1),
        (1, ApprovalAction.approve, 2),
        (2, ApprovalAction.approve, 3),
        (3, ApprovalAction.approve, None),
    ]
    assert records[1].decision.comment_id is not None
    await build_replayer().replay_workflow(history)


def _refusal(error: pytest.ExceptionInfo[WorkflowUpdateFailedError]) -> str | None:
    cause = error.value.cause
    return cause.type if isinstance(cause, ApplicationError) else None


async def test_decisions_are_validated(task_queue: str) -> None:
    fakes = FakeApprovals()
    async with fresh_time_skipping_env() as env, serving_approvals(env.client, task_queue, fakes):
        value = chain_input(task_queue, DAY).model_copy(update={"final_approver_id": "comp-lead"})
        handle = await env.client.start_workflow(
            PayApprovalChainWorkflow.run,
            value,
            id=approval_chain_workflow_id(value.cycle_id, value.manager_id),
            task_queue=task_queue,
        )
        await current_step(handle, 1)
        with pytest.raises(WorkflowUpdateFailedError) as wrong:
            await decide(handle, 1, VP, ApprovalAction.approve)
        assert _refusal(wrong) == "wrong_actor"
        with pytest.raises(WorkflowUpdateFailedError) as not_current:
            await decide(handle, 2, VP, ApprovalAction.approve)
        assert _refusal(not_current) == "task_done"
        # The first return goes back to the manager, whose step has nothing below it.
        await decide(handle, 1, DIRECTOR, ApprovalAction.return_, comment_id=str(uuid.uuid4()))
        await current_step(handle, 0)
        with pytest.raises(WorkflowUpdateFailedError) as nowhere:
            await decide(handle, 0, MANAGER, ApprovalAction.return_)
        assert _refusal(nowhere) == "invalid_phase"
        await decide(handle, 0, MANAGER, ApprovalAction.approve)  # resubmitted
        await decide(handle, 1, DIRECTOR, ApprovalAction.approve)
        await decide(handle, 2, VP, ApprovalAction.approve)
        # A named final approver: HR in general may not decide for them.
        with pytest.raises(WorkflowUpdateFailedError) as named:
            await decide(handle, 3, "hr-person", ApprovalAction.approve, actor_is_hr=True)
        assert _refusal(named) == "wrong_actor"
        finished = await decide(handle, 3, "comp-lead", ApprovalAction.approve)
        assert finished.finished
        result = await handle.result()
    assert (result.decisions, result.returns, result.escalations) == (5, 1, 0)
    assert [(v.step.index, v.step.round) for v in fakes.named("open")] == [(1, 1), (0, 2), (1, 2), (2, 1), (3, 1)]


def test_task_timeline_follows_the_review_task_rule() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    due = start + DAY
    policy = DeadlinePolicy(
        reminder_every=timedelta(hours=8),
        escalation=[EscalationStep(after=timedelta(hours=2), notify=EscalationTarget.skip_level)],
    )

    def at(delta: timedelta, *, overdue: bool = False, reminders: int = 0, escalations: int = 0) -> TaskTimeline:
        return task_timeline(
            now=start + delta,
            opened_at=start,
            due_at=due,
            marked_overdue=overdue,
            reminders_sent=reminders,
            escalations_done=escalations,
            policy=policy,
        )

    first = at(timedelta(hours=1))
    assert (first.overdue, first.reminder, first.escalation) == (False, None, None)
    assert first.wake == start + timedelta(hours=8)
    assert at(timedelta(hours=8)).reminder == 1
    assert at(timedelta(hours=17), reminders=0).reminder == 2  # after an outage: one reminder, by the cadence
    assert at(timedelta(hours=16, minutes=1), reminders=2).wake == due  # the third reminder would be at the deadline
    assert at(DAY, reminders=2).overdue
    late = at(DAY, overdue=True, reminders=2)
    assert (late.escalation, late.wake) == (None, due + timedelta(hours=2))
    assert at(DAY + timedelta(hours=2), overdue=True, reminders=2).escalation == 0
    assert at(DAY + timedelta(hours=3), overdue=True, reminders=2, escalations=1).wake is None


async def test_recorded_chain_history_replays() -> None:
    path = HISTORIES / "pay_approval_chain_v1.json"
    await build_replayer().replay_workflow(WorkflowHistory.from_json(path.stem, path.read_text()))


def test_the_rewards_service_serves_every_approval_contract() -> None:
    """The names the workflow schedules are the names the rewards service's worker registers."""
    from temporalio.activity import _Definition

    from services.rewards.activities import RewardsActivities
    from workflows.activities import APPROVAL_CONTRACTS

    def names(functions: Iterable[Callable[..., Any]]) -> set[str]:
        found = {_Definition.must_from_callable(f).name for f in functions}
        return {name for name in found if name is not None}

    served = names(RewardsActivities(None).all())  # type: ignore[arg-type]
    assert names(APPROVAL_CONTRACTS) <= served
    assert "rewards.request_proposals" in served
