"""The rules of the pay approval chain: the API's side (policy, start, decide, read) and the
side of the chain's activities (plan, open, remind, escalate, record), which the workflow
calls on the rewards task queue. It flushes, never commits (the activities commit their own
session, the API's SessionDep commits the request)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.approvals.repository import CHAIN_APPROVED, CHAIN_IN_PROGRESS, ApprovalRepository
from services.rewards.approvals.schemas import (
    AuditRead,
    ChainRead,
    EscalationWrite,
    PolicyRead,
    PolicyWrite,
    StepRead,
)
from services.rewards.events import add_proposal_event, outbox
from services.rewards.models import ApprovalAudit, ApprovalChain, ApprovalComment, ApprovalPolicy, PayProposal
from services.rewards.proposals.repository import PayCycleRepository, ProposalRepository
from services.rewards.proposals.service import ManagerView, ProposalService, is_hr
from shared.auth import Principal, Role
from shared.calibration import ProposalStatus
from shared.database import utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from workflows.models import (
    ActivityQueues,
    ApprovalAction,
    ApprovalChainInput,
    ApprovalChainPlan,
    ApprovalEscalationInput,
    ApprovalReminderInput,
    ApprovalStepPlan,
    ApprovalStepStatus,
    DeadlinePolicy,
    EscalationStep,
    EscalationTarget,
    OpenApprovalStepInput,
    PlanApprovalChainInput,
    RecordApprovalDecisionInput,
)

HOUR = 3600


class ChainNotReady(Exception):
    """The chain's row is not committed yet (its start is still in the request's transaction)."""


def policy_read(policy: ApprovalPolicy) -> PolicyRead:
    return PolicyRead(
        cycle_id=policy.cycle_id,
        depth=policy.depth,
        final_approver_id=policy.final_approver_id,
        hr_owner_id=policy.hr_owner_id,
        step_hours=policy.step_seconds / HOUR,
        reminder_every_hours=None if policy.reminder_every_seconds is None else policy.reminder_every_seconds / HOUR,
        escalation=[
            EscalationWrite(after_hours=item["after_seconds"] / HOUR, notify=EscalationTarget(item["notify"]))
            for item in policy.escalation
        ],
        set_by=policy.set_by,
    )


def _steps(chain: ApprovalChain) -> list[ApprovalStepPlan]:
    return [ApprovalStepPlan.model_validate(step) for step in chain.steps]


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


class ApprovalService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.approvals = ApprovalRepository.from_session(session)
        self.cycles = PayCycleRepository.from_session(session)
        self.proposals = ProposalRepository.from_session(session)

    # --- policy (HR) ---------------------------------------------------------------------

    async def set_policy(self, cycle_id: uuid.UUID, data: PolicyWrite, by: uuid.UUID) -> ApprovalPolicy:
        if await self.cycles.get(cycle_id) is None:
            raise NotFound(f"No pay cycle {cycle_id} is known to the rewards service.")
        if data.final_approver_id is not None:
            person = await self.approvals.person(data.final_approver_id)
            if person is None or not person.active:
                raise ValidationFailed.field("final_approver_id", "must be an active person")
        policy = await self.approvals.policy(cycle_id)
        if policy is None:
            policy = ApprovalPolicy(cycle_id=cycle_id)
            self.session.add(policy)
        policy.depth = data.depth
        policy.final_approver_id = data.final_approver_id
        policy.hr_owner_id = data.hr_owner_id or by
        policy.step_seconds = max(1, round(data.step_hours * HOUR))
        policy.reminder_every_seconds = (
            None if data.reminder_every_hours is None else max(1, round(data.reminder_every_hours * HOUR))
        )
        policy.escalation = [
            {"after_seconds": max(1, round(item.after_hours * HOUR)), "notify": item.notify.value}
            for item in sorted(data.escalation, key=lambda item: item.after_hours)
        ]
        policy.set_by = by
        await self.session.flush()
        return policy

    async def policy(self, cycle_id: uuid.UUID) -> ApprovalPolicy:
        policy = await self.approvals.policy(cycle_id)
        if policy is None:
            raise NotFound(f"Cycle {cycle_id} has no approval policy.")
        return policy

    # --- the API: start, read, decide ----------------------------------------------------

    def starter(self, principal: Principal, manager_id: uuid.UUID | None) -> uuid.UUID:
        """Whose chain a request starts: your own (a manager), or any manager's (HR)."""
        if manager_id is None or manager_id == principal.person_id:
            if not (principal.has_any(Role.manager) or is_hr(principal)):
                raise Forbidden("Only managers (for their reports) and HR may start an approval chain.")
            return principal.person_id
        if not is_hr(principal):
            raise Forbidden("Only HR and admins may start another manager's approval chain.")
        return manager_id

    async def start(
        self, cycle_id: uuid.UUID, manager_id: uuid.UUID, by: uuid.UUID, queues: ActivityQueues
    ) -> tuple[ApprovalChain, ApprovalChainInput]:
        """Submit the manager's drafts and write the chain; the caller starts its workflow."""
        policy = await self.approvals.policy(cycle_id)
        if policy is None:
            raise Conflict(f"Cycle {cycle_id} has no approval policy yet: HR sets it first.")
        if await self.approvals.chain(cycle_id, manager_id) is not None:
            raise Conflict(f"The approval chain of {manager_id} in cycle {cycle_id} has started already.")
        before = await self._proposals_snapshot(cycle_id, manager_id)
        await ProposalService(self.session).submit(cycle_id, ManagerView(manager_id, False), by)
        chain = ApprovalChain(cycle_id=cycle_id, manager_id=manager_id, status=CHAIN_IN_PROGRESS, steps=[])
        self.session.add(chain)
        await self.session.flush()
        now = utcnow()
        self.session.add(
            ApprovalAudit(
                idempotency_key=f"{chain.id}:submitted",
                chain_id=chain.id,
                step_index=0,
                round=1,
                action="submitted",
                actor_id=by,
                at=now,
                before={"chain": None, "proposals": before},
                after=await self._snapshot(chain),
            )
        )
        await self.session.flush()
        value = ApprovalChainInput(
            cycle_id=str(cycle_id),
            manager_id=str(manager_id),
            depth=policy.depth,
            final_approver_id=None if policy.final_approver_id is None else str(policy.final_approver_id),
            hr_owner_id=str(policy.hr_owner_id),
            step_duration=timedelta(seconds=policy.step_seconds),
            policy=DeadlinePolicy(
                reminder_every=None
                if policy.reminder_every_seconds is None
                else timedelta(seconds=policy.reminder_every_seconds),
                escalation=[
                    EscalationStep(after=timedelta(seconds=item["after_seconds"]), notify=item["notify"])
                    for item in policy.escalation
                ],
            ),
            queues=queues,
        )
        return chain, value

    async def visible_chain(self, cycle_id: uuid.UUID, manager_id: uuid.UUID, principal: Principal) -> ApprovalChain:
        """The chain if the principal is HR or in it (its manager or one of its approvers)."""
        chain = await self.approvals.chain(cycle_id, manager_id)
        if chain is None or not (is_hr(principal) or self._in_chain(chain, principal.person_id)):
            raise NotFound(f"No approval chain of {manager_id} in cycle {cycle_id} that you may see.")
        return chain

    @staticmethod
    def _in_chain(chain: ApprovalChain, person_id: uuid.UUID) -> bool:
        people = {str(chain.manager_id)} | {str(step.assignee_id) for step in _steps(chain) if step.assignee_id}
        return str(person_id) in people

    def check_decider(self, chain: ApprovalChain, principal: Principal, step_index: int | None) -> int:
        """The step the principal may decide now (the workflow checks again, the API answers first)."""
        if chain.status != CHAIN_IN_PROGRESS or chain.current_step is None:
            raise Conflict("The chain has no open step.", reason="task_done")
        if step_index is not None and step_index != chain.current_step:
            raise Conflict(f"Step {step_index} is not the chain's current step ({chain.current_step}).")
        assignee = chain.current_assignee_id
        if assignee is None:
            if not is_hr(principal):
                raise Forbidden("The final step is HR's.")
        elif assignee != principal.person_id:
            raise Forbidden("The chain's current step is someone else's.")
        return chain.current_step

    async def add_comment(self, chain: ApprovalChain, author_id: uuid.UUID, text: str | None) -> uuid.UUID | None:
        if text is None or not text.strip():
            return None
        comment = ApprovalComment(chain_id=chain.id, author_id=author_id, text=text.strip())
        self.session.add(comment)
        await self.session.flush()
        return comment.id

    async def read(self, chain: ApprovalChain, *, audit: bool = True) -> ChainRead:
        entries = await self.approvals.audit(chain) if audit else []
        due = chain.current_due_at
        return ChainRead(
            id=chain.id,
            cycle_id=chain.cycle_id,
            manager_id=chain.manager_id,
            status=chain.status,
            steps=[
                StepRead(index=i, level=s.level, assignee_id=_uuid(s.assignee_id), final=s.final)
                for i, s in enumerate(_steps(chain))
            ],
            current_step=chain.current_step,
            current_assignee_id=chain.current_assignee_id,
            current_status=chain.current_status,
            current_round=chain.current_round,
            current_opened_at=chain.current_opened_at,
            current_due_at=due,
            overdue=chain.status == CHAIN_IN_PROGRESS and due is not None and utcnow() > due,
            approved_at=chain.approved_at,
            audit=[
                AuditRead(
                    step_index=entry.step_index,
                    round=entry.round,
                    action=entry.action,
                    actor_id=entry.actor_id,
                    notified_id=entry.notified_id,
                    comment=comment,
                    at=entry.at,
                    before=entry.before,
                    after=entry.after,
                )
                for entry, comment in entries
            ],
        )

    # --- the activities' side ------------------------------------------------------------

    async def _chain_of(self, cycle_id: str, manager_id: str) -> ApprovalChain:
        chain = await self.approvals.chain(uuid.UUID(cycle_id), uuid.UUID(manager_id), for_update=True)
        if chain is None:
            raise ChainNotReady(f"no approval chain of {manager_id} in cycle {cycle_id} yet")
        return chain

    async def plan(self, value: PlanApprovalChainInput) -> ApprovalChainPlan:
        chain = await self._chain_of(value.cycle_id, value.manager_id)
        if chain.steps:
            return ApprovalChainPlan(steps=_steps(chain))  # a retry: the plan made the first time
        steps = [ApprovalStepPlan(level=0, assignee_id=value.manager_id)]
        below = uuid.UUID(value.manager_id)
        for level in range(1, value.depth + 1):
            above = await self.approvals.active_manager_of(below)
            if above is None:
                break  # the top of the organisation: fewer levels than the depth
            steps.append(ApprovalStepPlan(level=level, assignee_id=str(above)))
            below = above
        steps.append(ApprovalStepPlan(level=len(steps), assignee_id=value.final_approver_id, final=True))
        chain.steps = [step.model_dump(mode="json") for step in steps]
        chain.current_step, chain.current_assignee_id = 0, chain.manager_id
        chain.current_status, chain.current_round = ApprovalStepStatus.approved.value, 1
        await self.session.flush()
        return ApprovalChainPlan(steps=steps)

    async def open_step(self, value: OpenApprovalStepInput) -> None:
        chain = await self._chain_of(value.cycle_id, value.manager_id)
        if await self.approvals.audited(value.idempotency_key):
            return
        before = await self._snapshot(chain)
        step = value.step
        chain.current_step, chain.current_assignee_id = step.index, _uuid(step.assignee_id)
        chain.current_status, chain.current_round = step.status.value, step.round
        chain.current_opened_at, chain.current_due_at = step.opened_at, step.due_at
        await self._audit(
            chain, value.idempotency_key, step.index, step.round, "opened", before=before, notified=step.assignee_id
        )
        self._event(chain, "opened", step.index, step.round, step.assignee_id)

    async def remind(self, value: ApprovalReminderInput) -> None:
        chain = await self._chain_of(value.cycle_id, value.manager_id)
        if await self.approvals.audited(value.idempotency_key):
            return
        step = value.step
        notified = step.assignee_id or str(await self._hr_owner(chain))
        await self._audit(chain, value.idempotency_key, step.index, step.round, "reminded", notified=notified)
        self._event(chain, "reminded", step.index, step.round, notified)

    async def escalate(self, value: ApprovalEscalationInput) -> uuid.UUID:
        chain = await self._chain_of(value.cycle_id, value.manager_id)
        hr_owner = _uuid(value.hr_owner_id) or await self._hr_owner(chain)
        step = value.step
        notified: uuid.UUID | None = hr_owner
        assignee = _uuid(step.assignee_id)
        if value.target is not EscalationTarget.hr and assignee is not None:
            manager = await self.approvals.active_manager_of(assignee)
            if value.target is EscalationTarget.skip_level and manager is not None:
                manager = await self.approvals.active_manager_of(manager)
            notified = manager or hr_owner
        assert notified is not None
        if await self.approvals.audited(value.idempotency_key):
            return notified
        before = await self._snapshot(chain)
        chain.current_status = ApprovalStepStatus.escalated.value
        await self._audit(
            chain,
            value.idempotency_key,
            step.index,
            step.round,
            "escalated",
            before=before,
            notified=str(notified),
            extra={"target": value.target.value, "escalation_index": value.escalation_index},
        )
        self._event(chain, "escalated", step.index, step.round, str(notified))
        return notified

    async def record(self, value: RecordApprovalDecisionInput) -> None:
        if value.next_index is None:
            # Final approvals of one cycle take turns on its row, so of two chains that finish a
            # unit together the second sees the first approved and approves the unit.
            await self.cycles.get(uuid.UUID(value.cycle_id), for_update=True)
        chain = await self._chain_of(value.cycle_id, value.manager_id)
        if await self.approvals.audited(value.idempotency_key):
            return
        decision, step = value.decision, value.step
        before = await self._snapshot(chain)
        actor = uuid.UUID(decision.actor_id)
        comment_id = _uuid(decision.comment_id)
        proposals = await self.proposals.of_reports(chain.cycle_id, chain.manager_id, all_levels=False, for_update=True)
        if decision.action is ApprovalAction.return_ and value.next_index == 0:
            comment = None if comment_id is None else await self.approvals.comment(comment_id)
            for proposal in proposals:
                if proposal.status == ProposalStatus.submitted:
                    proposal.status = ProposalStatus.draft.value
                    proposal.submitted_by = proposal.submitted_at = None
                    proposal.returned_by, proposal.returned_at = actor, value.decided_at
                    proposal.return_reason = None if comment is None else comment.text
                    add_proposal_event(self.session, proposal, "returned")
        elif decision.action is ApprovalAction.approve and step.index == 0:
            await ProposalService(self.session).submit(chain.cycle_id, ManagerView(chain.manager_id, False), actor)
        if value.next_index is None:
            chain.status, chain.approved_at = CHAIN_APPROVED, value.decided_at
            chain.current_step = chain.current_assignee_id = chain.current_status = None
            chain.current_due_at = None
        else:
            # The next step is the chain's from now on: it opens (round, due time) a moment later.
            following = _steps(chain)[value.next_index]
            chain.current_step, chain.current_assignee_id = value.next_index, _uuid(following.assignee_id)
            chain.current_status, chain.current_due_at = ApprovalStepStatus.pending.value, None
        await self.session.flush()
        action = "approved" if decision.action is ApprovalAction.approve else "returned"
        await self._audit(
            chain,
            value.idempotency_key,
            step.index,
            step.round,
            action,
            before=before,
            actor=actor,
            comment_id=comment_id,
            at=value.decided_at,
            extra={"next_step": value.next_index},
        )
        self._event(chain, "decided", step.index, step.round, decision.actor_id, action=action)
        if value.next_index is None:
            await self._approve_complete_units(chain, proposals, actor)

    async def _approve_complete_units(self, chain: ApprovalChain, proposals: list[PayProposal], by: uuid.UUID) -> None:
        """Approve each unit of the chain's proposals whose every proposal has an approved chain.

        The unit's approval is the existing one (proposals approved, ``proposal.approved``,
        the cycle's gate told by the reviews service): a unit is approved once, as a whole.
        """
        approved = await self.approvals.approved_managers(chain.cycle_id)
        done = await self.cycles.approvals(chain.cycle_id)
        service = ProposalService(self.session)
        for unit in sorted({proposal.org_unit for proposal in proposals}):
            if unit in done:
                continue
            members = await self.proposals.of_unit(chain.cycle_id, unit)
            ready = True
            for member in members:
                if member.status != ProposalStatus.submitted or not await self._chain_approved(member, approved):
                    ready = False
                    break
            if ready:
                await service.approve_unit(chain.cycle_id, unit, by)

    async def _chain_approved(self, proposal: PayProposal, approved: set[uuid.UUID]) -> bool:
        """The proposal's manager's chain is approved: their own, or, if they left before
        starting one, the next active manager's, whose reports they are now (``reports()``)."""
        person = await self.approvals.person(proposal.person_id)
        if person is None or person.manager_id is None:
            return False
        if person.manager_id in approved:
            return True
        return await self.approvals.active_manager_of(proposal.person_id) in approved

    # --- bookkeeping ---------------------------------------------------------------------

    async def _hr_owner(self, chain: ApprovalChain) -> uuid.UUID:
        policy = await self.approvals.policy(chain.cycle_id)
        assert policy is not None  # a chain starts only under a policy
        return policy.hr_owner_id

    async def _proposals_snapshot(self, cycle_id: uuid.UUID, manager_id: uuid.UUID) -> dict[str, Any]:
        proposals = await self.proposals.of_reports(cycle_id, manager_id, all_levels=False)
        return {
            str(p.id): {
                "status": p.status,
                "proposed_pct": None if p.proposed_pct is None else str(p.proposed_pct),
                "bonus_amount": None if p.bonus_amount is None else str(p.bonus_amount),
            }
            for p in proposals
        }

    async def _snapshot(self, chain: ApprovalChain) -> dict[str, Any]:
        await self.session.flush()
        return {
            "chain": {
                "status": chain.status,
                "step": chain.current_step,
                "assignee_id": None if chain.current_assignee_id is None else str(chain.current_assignee_id),
                "step_status": chain.current_status,
                "round": chain.current_round,
            },
            "proposals": await self._proposals_snapshot(chain.cycle_id, chain.manager_id),
        }

    async def _audit(
        self,
        chain: ApprovalChain,
        key: str,
        step_index: int,
        round_: int,
        action: str,
        *,
        before: dict[str, Any] | None = None,
        actor: uuid.UUID | None = None,
        notified: str | None = None,
        comment_id: uuid.UUID | None = None,
        at: Any = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        after = await self._snapshot(chain)
        if extra:
            after = {**after, **extra}
        self.session.add(
            ApprovalAudit(
                idempotency_key=key,
                chain_id=chain.id,
                step_index=step_index,
                round=round_,
                action=action,
                actor_id=actor,
                notified_id=_uuid(notified),
                comment_id=comment_id,
                at=at or utcnow(),
                before=before,
                after=after,
            )
        )
        await self.session.flush()

    def _event(
        self, chain: ApprovalChain, verb: str, step_index: int, round_: int, person: str | None, **more: str
    ) -> None:
        data: dict[str, Any] = {
            "chain_id": str(chain.id),
            "cycle_id": str(chain.cycle_id),
            "manager_id": str(chain.manager_id),
            "step_index": step_index,
            "round": round_,
            "person_id": person,
            **more,
        }
        # Literal subjects (tests/unit/test_docs_match_code.py reads them): ids and the action only.
        if verb == "opened":
            outbox.add(self.session, "approval-step", "opened", data, subject=str(chain.id))
        elif verb == "reminded":
            outbox.add(self.session, "approval-step", "reminded", data, subject=str(chain.id))
        elif verb == "escalated":
            outbox.add(self.session, "approval-step", "escalated", data, subject=str(chain.id))
        else:
            outbox.add(self.session, "approval-step", "decided", data, subject=str(chain.id))
