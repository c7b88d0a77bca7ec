"""Routes of the pay approval chain: HR's policy, a manager's start, each step's decision, reads."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from services.rewards.access import ActiveHR, ActivePrincipal
from services.rewards.approvals import temporal
from services.rewards.approvals.schemas import (
    ChainRead,
    ChainStart,
    DecisionResult,
    DecisionWrite,
    PolicyRead,
    PolicyWrite,
)
from services.rewards.approvals.service import ApprovalService, policy_read
from services.rewards.proposals.service import is_hr
from shared.database import SessionDep
from shared.errors import Conflict, ServiceUnavailable
from shared.openapi import problems
from shared.settings import Settings
from workflows.client import activity_queues
from workflows.models import ApprovalDecision, approval_chain_workflow_id

router = APIRouter(tags=["pay approval chain"])


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.put("/cycles/{cycle_id}/approval-policy", response_model=PolicyRead, summary="Set the cycle's approval chain")
async def set_policy(cycle_id: uuid.UUID, data: PolicyWrite, session: SessionDep, hr: ActiveHR) -> PolicyRead:
    return policy_read(await ApprovalService(session).set_policy(cycle_id, data, hr.person_id))


@router.get("/cycles/{cycle_id}/approval-policy", response_model=PolicyRead, summary="The cycle's approval chain")
async def get_policy(cycle_id: uuid.UUID, session: SessionDep, _hr: ActiveHR) -> PolicyRead:
    return policy_read(await ApprovalService(session).policy(cycle_id))


@router.post(
    "/cycles/{cycle_id}/approval-chains",
    response_model=ChainRead,
    status_code=status.HTTP_201_CREATED,
    summary="Submit your reports' proposals into the approval chain",
    responses=problems(409, 503),
)
async def start_chain(
    cycle_id: uuid.UUID, data: ChainStart, request: Request, session: SessionDep, principal: ActivePrincipal
) -> ChainRead:
    from workflows.pay_approval import PayApprovalChainWorkflow

    settings = _settings(request)
    service = ApprovalService(session)
    manager_id = service.starter(principal, data.manager_id)
    chain, value = await service.start(cycle_id, manager_id, principal.person_id, activity_queues(settings))
    # Started before the request commits, so a start that fails leaves no chain and no
    # submission; the chain's first activity retries until the commit makes its row visible.
    client = await temporal.client(settings)
    try:
        await client.start_workflow(
            PayApprovalChainWorkflow.run,
            value,
            id=approval_chain_workflow_id(str(cycle_id), str(manager_id)),
            task_queue=settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError as exc:
        raise Conflict(f"The approval chain of {manager_id} in cycle {cycle_id} has started already.") from exc
    except RPCError as exc:
        raise ServiceUnavailable("The workflow engine cannot be reached; try again shortly.") from exc
    return await service.read(chain)


@router.get(
    "/cycles/{cycle_id}/approval-chains/{manager_id}",
    response_model=ChainRead,
    summary="A manager's approval chain with its audit (HR and the people in the chain)",
)
async def get_chain(
    cycle_id: uuid.UUID, manager_id: uuid.UUID, session: SessionDep, principal: ActivePrincipal
) -> ChainRead:
    service = ApprovalService(session)
    return await service.read(await service.visible_chain(cycle_id, manager_id, principal))


@router.post(
    "/cycles/{cycle_id}/approval-chains/{manager_id}/decisions",
    response_model=DecisionResult,
    summary="Approve the chain's current step, or return it one step with a comment",
    responses=problems(409, 503),
)
async def decide(
    cycle_id: uuid.UUID,
    manager_id: uuid.UUID,
    data: DecisionWrite,
    request: Request,
    session: SessionDep,
    principal: ActivePrincipal,
) -> DecisionResult:
    from workflows.pay_approval import PayApprovalChainWorkflow

    settings = _settings(request)
    service = ApprovalService(session)
    chain = await service.visible_chain(cycle_id, manager_id, principal)
    step = service.check_decider(chain, principal, data.step_index)
    comment_id = await service.add_comment(chain, principal.person_id, data.comment)
    # The workflow's activity records the decision in its own transaction and links the
    # comment: both must be committed before the Update is delivered.
    await session.commit()
    handle = (await temporal.client(settings)).get_workflow_handle(
        approval_chain_workflow_id(str(cycle_id), str(manager_id))
    )
    decided = await temporal.deliver(
        settings,
        handle.execute_update(
            PayApprovalChainWorkflow.decide,
            ApprovalDecision(
                step_index=step,
                actor_id=str(principal.person_id),
                actor_is_hr=is_hr(principal),
                action=data.action,
                comment_id=None if comment_id is None else str(comment_id),
            ),
        ),
    )
    await session.refresh(chain)
    return DecisionResult(
        step_index=decided.step_index,
        action=decided.action,
        current_step=decided.current_index,
        finished=decided.finished,
        chain=await service.read(chain),
    )


@router.get("/me/approval-tasks", response_model=list[ChainRead], summary="Approval steps waiting on you")
async def my_approval_tasks(session: SessionDep, principal: ActivePrincipal) -> list[ChainRead]:
    service = ApprovalService(session)
    chains = await service.approvals.waiting_on(principal.person_id, hr=is_hr(principal))
    return [await service.read(chain, audit=False) for chain in chains]
