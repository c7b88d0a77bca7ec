"""The pay approval chain of one manager's proposals in one cycle.

Steps: the manager (their submission starts the chain), each level up the management line to
the configured depth, then HR or a named compensation approver. Each step is a task with a
deadline, reminders and escalations on the same rule as a review task
(``workflows.common.task_timeline``); the ``decide`` Update approves the current step (the
chain moves up) or returns it (the chain goes back one step, with a comment kept in the
rewards database). The activities run in the rewards service (its task queue): they plan the
chain from the people projection, record each opening, reminder, escalation and decision in
the audit table and, after the final approval, approve the proposals' organisation units
whose chains are all approved. See docs/workflows.md.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import activities
    from workflows.common import ACTIVITY_RETRY, ACTIVITY_TIMEOUT, refuse, seconds_until, task_timeline
    from workflows.models import (
        ApprovalAction,
        ApprovalChainInput,
        ApprovalChainResult,
        ApprovalDecided,
        ApprovalDecision,
        ApprovalEscalationInput,
        ApprovalReminderInput,
        ApprovalStepState,
        ApprovalStepStatus,
        OpenApprovalStepInput,
        PlanApprovalChainInput,
        RecordApprovalDecisionInput,
        Refusal,
        approval_chain_workflow_id,
    )

# A decision may come while the step is still being opened (pending): it is recorded once it is open.
WAITING = frozenset(
    {ApprovalStepStatus.pending, ApprovalStepStatus.open, ApprovalStepStatus.overdue, ApprovalStepStatus.escalated}
)


@workflow.defn
class PayApprovalChainWorkflow:
    @workflow.init
    def __init__(self, value: ApprovalChainInput) -> None:
        self._input = value
        self._id = approval_chain_workflow_id(value.cycle_id, value.manager_id)
        self._steps: list[ApprovalStepState] = []
        self._current: int | None = None
        self._pending: ApprovalDecision | None = None  # accepted by the Update, not recorded yet
        self._decided: list[ApprovalDecided] = []
        self._returns = 0
        self._escalations = 0

    @workflow.run
    async def run(self, value: ApprovalChainInput) -> ApprovalChainResult:
        plan = await workflow.execute_activity(
            activities.plan_approval_chain,
            PlanApprovalChainInput(
                idempotency_key=f"{self._id}:plan",
                cycle_id=value.cycle_id,
                manager_id=value.manager_id,
                depth=value.depth,
                final_approver_id=value.final_approver_id,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=value.queues.rewards,
        )
        self._steps = [
            ApprovalStepState(index=index, level=step.level, assignee_id=step.assignee_id, final=step.final)
            for index, step in enumerate(plan.steps)
        ]
        # Step 0 is the manager's own: their submission started the chain.
        first = self._steps[0]
        first.status, first.round, first.opened_at = ApprovalStepStatus.approved, 1, workflow.now()
        self._current = 1
        while self._current is not None:
            step = self._steps[self._current]
            await self._open(step)
            decision = await self._follow(step)
            await self._record(step, decision)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return ApprovalChainResult(
            cycle_id=value.cycle_id,
            manager_id=value.manager_id,
            decisions=len(self._decided),
            returns=self._returns,
            escalations=self._escalations,
        )

    async def _open(self, step: ApprovalStepState) -> None:
        now = workflow.now()
        step.round += 1
        step.status = ApprovalStepStatus.open
        step.opened_at, step.due_at = now, now + self._input.step_duration
        step.reminders_sent = step.escalations_done = 0
        await workflow.execute_activity(
            activities.open_approval_step,
            OpenApprovalStepInput(
                idempotency_key=f"{self._id}:step:{step.index}:round:{step.round}",
                cycle_id=self._input.cycle_id,
                manager_id=self._input.manager_id,
                step=step,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._input.queues.rewards,
        )

    async def _follow(self, step: ApprovalStepState) -> ApprovalDecision:
        """Reminders, the deadline and the escalations of the open step, until someone decides."""
        assert step.opened_at is not None
        assert step.due_at is not None
        while self._pending is None:
            now = workflow.now()
            due = task_timeline(
                now=now,
                opened_at=step.opened_at,
                due_at=step.due_at,
                marked_overdue=step.status is not ApprovalStepStatus.open,
                reminders_sent=step.reminders_sent,
                escalations_done=step.escalations_done,
                policy=self._input.policy,
            )
            if due.overdue:
                step.status = ApprovalStepStatus.overdue
                continue
            if due.escalation is not None:
                await self._escalate(step, due.escalation)
                continue
            if due.reminder is not None:
                await self._remind(step, due.reminder)
                continue
            try:
                await workflow.wait_condition(
                    lambda: self._pending is not None,
                    timeout=None if due.wake is None else seconds_until(due.wake, now),
                    timeout_summary=f"approval step {step.index} deadline",
                )
            except TimeoutError:  # asyncio.TimeoutError since Python 3.11
                continue  # a reminder, the deadline or an escalation fell due: the loop decides
        return self._pending

    async def _remind(self, step: ApprovalStepState, number: int) -> None:
        step.reminders_sent = number
        await workflow.execute_activity(
            activities.remind_approval_step,
            ApprovalReminderInput(
                idempotency_key=f"{self._id}:step:{step.index}:round:{step.round}:reminder:{number}",
                cycle_id=self._input.cycle_id,
                manager_id=self._input.manager_id,
                step=step,
                number=number,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._input.queues.rewards,
        )

    async def _escalate(self, step: ApprovalStepState, index: int) -> None:
        escalation = self._input.policy.escalation[index]
        step.escalations_done = index + 1
        step.status = ApprovalStepStatus.escalated
        self._escalations += 1
        await workflow.execute_activity(
            activities.escalate_approval_step,
            ApprovalEscalationInput(
                idempotency_key=f"{self._id}:step:{step.index}:round:{step.round}:escalation:{index}",
                cycle_id=self._input.cycle_id,
                manager_id=self._input.manager_id,
                step=step,
                escalation_index=index,
                target=escalation.notify,
                hr_owner_id=self._input.hr_owner_id,
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._input.queues.rewards,
        )

    async def _record(self, step: ApprovalStepState, decision: ApprovalDecision) -> None:
        if decision.action is ApprovalAction.approve:
            step.status = ApprovalStepStatus.approved
            following: int | None = None if step.final else step.index + 1
        else:
            step.status = ApprovalStepStatus.returned
            following = step.index - 1
            self._returns += 1
        number = len(self._decided) + 1
        await workflow.execute_activity(
            activities.record_approval_decision,
            RecordApprovalDecisionInput(
                idempotency_key=f"{self._id}:decision:{number}",
                cycle_id=self._input.cycle_id,
                manager_id=self._input.manager_id,
                decision=decision,
                step=step,
                next_index=following,
                decided_at=workflow.now(),
            ),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=ACTIVITY_RETRY,
            task_queue=self._input.queues.rewards,
        )
        self._current = following
        self._pending = None
        self._decided.append(
            ApprovalDecided(
                step_index=step.index, action=decision.action, current_index=following, finished=following is None
            )
        )

    # --- the Update the rewards API delivers -------------------------------------------------

    def _check(self, value: ApprovalDecision) -> None:
        if not self._steps:
            raise refuse(Refusal.task_not_found, "the chain is still being planned; try again")
        if self._current is None:
            raise refuse(Refusal.task_done, "the chain is approved")
        if self._pending is not None:
            raise refuse(Refusal.task_done, "a decision on this step is being recorded")
        if value.step_index != self._current:
            raise refuse(Refusal.task_done, f"step {value.step_index} is not the chain's current step")
        step = self._steps[self._current]
        if step.status not in WAITING:
            raise refuse(Refusal.task_not_found, "the step is not open yet")
        allowed = value.actor_is_hr if step.assignee_id is None else value.actor_id == step.assignee_id
        if not allowed:
            raise refuse(Refusal.wrong_actor, "the step is someone else's")
        if value.action is ApprovalAction.return_ and step.index == 0:
            raise refuse(Refusal.invalid_phase, "the manager's step has no step below to return to")

    @workflow.update
    async def decide(self, value: ApprovalDecision) -> ApprovalDecided:
        self._check(value)
        self._pending = value
        number = len(self._decided) + 1
        await workflow.wait_condition(lambda: len(self._decided) >= number)
        return self._decided[number - 1]

    @decide.validator
    def _validate_decide(self, value: ApprovalDecision) -> None:
        self._check(value)

    @workflow.query
    def steps(self) -> list[ApprovalStepState]:
        return list(self._steps)

    @workflow.query
    def current(self) -> int | None:
        return self._current
