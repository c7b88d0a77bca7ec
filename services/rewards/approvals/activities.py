"""The pay approval chain's activities (``rewards.*_approval_*``), run by the rewards service's
activity worker next to the tables they write. Each commits its own transaction and is
idempotent: the audit row's key is the activity's idempotency key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from services.rewards.approvals.service import ApprovalService, ChainNotReady
from workflows.models import (
    ApprovalChainPlan,
    ApprovalEscalationInput,
    ApprovalReminderInput,
    OpenApprovalStepInput,
    PlanApprovalChainInput,
    RecordApprovalDecisionInput,
)

T = TypeVar("T")

# With the workflows' retry policy (1 s doubling to 1 min) about 15 minutes of waiting.
PENDING_ATTEMPTS = 20


class ApprovalActivities:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    def all(self) -> Sequence[Callable[..., Any]]:
        return (self.plan, self.open_step, self.remind, self.escalate, self.record)

    async def _run(self, work: Callable[[ApprovalService], Awaitable[T]]) -> T:
        try:
            async with self.sessionmaker() as session, session.begin():
                return await work(ApprovalService(session))
        except ChainNotReady as exc:
            # The API starts the workflow before its request commits the chain: retried. A
            # request that never committed leaves no chain: the workflow fails after a while,
            # and its id may be started again (ALLOW_DUPLICATE_FAILED_ONLY).
            give_up = activity.in_activity() and activity.info().attempt >= PENDING_ATTEMPTS
            raise ApplicationError(
                str(exc), type="chain_pending", category=ApplicationErrorCategory.BENIGN, non_retryable=give_up
            ) from exc
        except ValueError as exc:
            raise ApplicationError(str(exc), type="bad_input", non_retryable=True) from exc

    @activity.defn(name="rewards.plan_approval_chain")
    async def plan(self, value: PlanApprovalChainInput) -> ApprovalChainPlan:
        return await self._run(lambda service: service.plan(value))

    @activity.defn(name="rewards.open_approval_step")
    async def open_step(self, value: OpenApprovalStepInput) -> None:
        await self._run(lambda service: service.open_step(value))

    @activity.defn(name="rewards.remind_approval_step")
    async def remind(self, value: ApprovalReminderInput) -> None:
        await self._run(lambda service: service.remind(value))

    @activity.defn(name="rewards.escalate_approval_step")
    async def escalate(self, value: ApprovalEscalationInput) -> None:
        await self._run(lambda service: service.escalate(value))

    @activity.defn(name="rewards.record_approval_decision")
    async def record(self, value: RecordApprovalDecisionInput) -> None:
        await self._run(lambda service: service.record(value))
