"""The pay approval chain on in-memory fakes of its rewards activities: a scenario shared by the
time-skipping test and the history recorder (tests/workflows/record_history.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHandle

from tests.workflows.fakes import eventually_async, queues_for
from workflows.client import activity_worker
from workflows.models import (
    ApprovalAction,
    ApprovalChainInput,
    ApprovalChainPlan,
    ApprovalChainResult,
    ApprovalDecided,
    ApprovalDecision,
    ApprovalEscalationInput,
    ApprovalReminderInput,
    ApprovalStepPlan,
    DeadlinePolicy,
    EscalationStep,
    EscalationTarget,
    OpenApprovalStepInput,
    PlanApprovalChainInput,
    RecordApprovalDecisionInput,
    approval_chain_workflow_id,
)
from workflows.pay_approval import PayApprovalChainWorkflow
from workflows.worker import build_worker

MANAGER, DIRECTOR, VP, HR = "manager-1", "director-1", "vp-1", "hr-owner"


@dataclass
class FakeApprovals:
    """Records every call; answers each idempotency key once (as the real activities must)."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def _record(self, name: str, value: Any, key: str) -> None:
        if key not in self.keys:
            self.keys.add(key)
            self.calls.append((name, value))

    def named(self, name: str) -> list[Any]:
        return [value for called, value in self.calls if called == name]

    @activity.defn(name="rewards.plan_approval_chain")
    async def plan(self, value: PlanApprovalChainInput) -> ApprovalChainPlan:
        self._record("plan", value, value.idempotency_key)
        above = [DIRECTOR, VP][: value.depth]
        return ApprovalChainPlan(
            steps=[
                ApprovalStepPlan(level=0, assignee_id=value.manager_id),
                *(ApprovalStepPlan(level=i + 1, assignee_id=person) for i, person in enumerate(above)),
                ApprovalStepPlan(level=len(above) + 1, assignee_id=value.final_approver_id, final=True),
            ]
        )

    @activity.defn(name="rewards.open_approval_step")
    async def open_step(self, value: OpenApprovalStepInput) -> None:
        self._record("open", value, value.idempotency_key)

    @activity.defn(name="rewards.remind_approval_step")
    async def remind(self, value: ApprovalReminderInput) -> None:
        self._record("remind", value, value.idempotency_key)

    @activity.defn(name="rewards.escalate_approval_step")
    async def escalate(self, value: ApprovalEscalationInput) -> None:
        self._record("escalate", value, value.idempotency_key)

    @activity.defn(name="rewards.record_approval_decision")
    async def record(self, value: RecordApprovalDecisionInput) -> None:
        self._record("record", value, value.idempotency_key)

    def all(self) -> Sequence[Callable[..., Awaitable[Any]]]:
        return (self.plan, self.open_step, self.remind, self.escalate, self.record)


@asynccontextmanager
async def serving_approvals(client: Client, task_queue: str, fakes: FakeApprovals) -> AsyncIterator[None]:
    async with build_worker(client, task_queue), activity_worker(client, queues_for(task_queue).rewards, fakes.all()):
        yield


def chain_input(task_queue: str, step: timedelta, cycle_id: str | None = None) -> ApprovalChainInput:
    """Two levels above the manager, then any HR person; reminders at half a step, an escalation
    to the late approver's manager at the deadline and to HR a step later."""
    return ApprovalChainInput(
        cycle_id=cycle_id or str(uuid.uuid4()),
        manager_id=MANAGER,
        depth=2,
        hr_owner_id=HR,
        step_duration=step,
        policy=DeadlinePolicy(
            reminder_every=step / 2,
            escalation=[
                EscalationStep(after=timedelta(0), notify=EscalationTarget.manager),
                EscalationStep(after=step, notify=EscalationTarget.hr),
            ],
        ),
        queues=queues_for(task_queue),
    )


async def current_step(handle: WorkflowHandle[Any, Any], index: int) -> None:
    async def there() -> bool:
        return bool(await handle.query(PayApprovalChainWorkflow.current) == index)

    await eventually_async(there)


async def decide(
    handle: WorkflowHandle[Any, Any], step: int, actor: str, action: ApprovalAction, **more: Any
) -> ApprovalDecided:
    decision = ApprovalDecision(step_index=step, actor_id=actor, action=action, **more)
    return await handle.execute_update(PayApprovalChainWorkflow.decide, decision)


async def run_chain(
    client: Client, task_queue: str, wait: Callable[[timedelta], Awaitable[None]], step: timedelta
) -> tuple[WorkflowHandle[Any, ApprovalChainResult], ApprovalChainResult]:
    """The director lets their step run late (one escalation) then approves; the VP returns it
    with a comment; the director approves again, the VP approves, HR approves last."""
    value = chain_input(task_queue, step)
    handle = await client.start_workflow(
        PayApprovalChainWorkflow.run,
        value,
        id=approval_chain_workflow_id(value.cycle_id, value.manager_id),
        task_queue=task_queue,
    )
    await current_step(handle, 1)
    await wait(step + step / 4)  # past the deadline, before the second escalation
    await decide(handle, 1, DIRECTOR, ApprovalAction.approve)
    await current_step(handle, 2)
    returned = await decide(handle, 2, VP, ApprovalAction.return_, comment_id=str(uuid.uuid4()))
    assert (returned.current_index, returned.finished) == (1, False)
    await decide(handle, 1, DIRECTOR, ApprovalAction.approve)
    await decide(handle, 2, VP, ApprovalAction.approve)
    final = await decide(handle, 3, "hr-person", ApprovalAction.approve, actor_is_hr=True)
    assert final.finished
    return handle, await handle.result()
