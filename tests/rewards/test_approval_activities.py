"""The approval chain's activities on the rewards service's real database, called as the
activity worker calls them: the plan, idempotency by key, escalation targets and fallbacks.

The whole chain through Temporal runs in tests/cycles/test_pay_approval_chain.py.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from services.rewards.approvals.activities import ApprovalActivities
from services.rewards.approvals.repository import ApprovalRepository
from services.rewards.approvals.service import ApprovalService
from services.rewards.models import ApprovalAudit, ApprovalChain, OutboxEvent, Person
from services.rewards.proposals.service import ProposalService
from shared.auth import Role
from shared.calibration import RatingFinalized
from shared.database import utcnow
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, import_csv, insert_people, someone, today
from workflows.models import (
    ApprovalAction,
    ApprovalDecision,
    ApprovalEscalationInput,
    ApprovalReminderInput,
    ApprovalStepState,
    ApprovalStepStatus,
    EscalationTarget,
    OpenApprovalStepInput,
    PlanApprovalChainInput,
    RecordApprovalDecisionInput,
)

pytestmark = pytest.mark.database


def activities(client: httpx.AsyncClient) -> ApprovalActivities:
    return ApprovalActivities(client.app.state.sessionmaker)  # type: ignore[attr-defined]


async def count(client: httpx.AsyncClient, model: Any) -> int:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_plan_open_remind_escalate(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    top = someone("Top", "Board")
    gone = someone("Gone", "Board", top)  # deactivated: the chain skips to Top
    dora = someone("Dora", "Board", gone)
    mia = someone("Mia", "Eng", dora)
    await insert_people(rewards, top, gone, dora, mia)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        (await session.get(Person, gone.id)).active = False
    cycle = uuid.uuid4()
    assert (await rewards.patch(f"/cycles/{cycle}", json={}, headers=hr)).status_code == 200
    hr_owner = uuid.uuid4()
    policy = await rewards.put(
        f"/cycles/{cycle}/approval-policy", json={"depth": 3, "step_hours": 1, "hr_owner_id": str(hr_owner)}, headers=hr
    )
    assert policy.status_code == 200, policy.text
    work = activities(rewards)
    plan_input = PlanApprovalChainInput(
        idempotency_key="k:plan", cycle_id=str(cycle), manager_id=str(mia.id), depth=3, final_approver_id=None
    )

    # Before the API's request commits the chain, the plan is retried (not failed).
    with pytest.raises(ApplicationError) as pending:
        await work.plan(plan_input)
    assert pending.value.type == "chain_pending"
    assert pending.value.non_retryable is False

    async with sessionmaker() as session, session.begin():
        session.add(ApprovalChain(cycle_id=cycle, manager_id=mia.id, status="in_progress", steps=[]))
    plan = await work.plan(plan_input)
    # Depth 3, but above Dora only Top is active (Gone is skipped), and Top is the top.
    assert [(s.level, s.assignee_id, s.final) for s in plan.steps] == [
        (0, str(mia.id), False),
        (1, str(dora.id), False),
        (2, str(top.id), False),
        (3, None, True),
    ]
    assert await work.plan(plan_input) == plan  # a retry answers the plan made the first time

    now = utcnow()
    step = ApprovalStepState(
        index=1,
        level=1,
        assignee_id=str(dora.id),
        status=ApprovalStepStatus.open,
        round=1,
        opened_at=now,
        due_at=now + timedelta(hours=1),
    )
    opened = OpenApprovalStepInput(idempotency_key="k:open", cycle_id=str(cycle), manager_id=str(mia.id), step=step)
    events_before = await count(rewards, OutboxEvent)
    await work.open_step(opened)
    await work.open_step(opened)  # a retry: nothing twice
    assert await count(rewards, ApprovalAudit) == 1
    assert await count(rewards, OutboxEvent) == events_before + 1
    reminder = ApprovalReminderInput(
        idempotency_key="k:remind", cycle_id=str(cycle), manager_id=str(mia.id), step=step, number=1
    )
    await work.remind(reminder)
    await work.remind(reminder)

    def escalation(key: str, target: EscalationTarget, on: ApprovalStepState) -> ApprovalEscalationInput:
        return ApprovalEscalationInput(
            idempotency_key=key,
            cycle_id=str(cycle),
            manager_id=str(mia.id),
            step=on,
            escalation_index=0,
            target=target,
            hr_owner_id=str(hr_owner),
        )

    # A read that began before the escalation committed: the chain and its audit still agree
    # (on PostgreSQL each statement sees the commits made before it, so they come from one).
    async with sessionmaker() as reading:
        stale = await ApprovalRepository.from_session(reading).chain(cycle, mia.id)
        assert stale is not None
        assert stale.current_status == "open"
        await work.escalate(escalation("k:e1", EscalationTarget.manager, step))  # Dora's manager: Top (Gone skipped)
        seen = await ApprovalService(reading).read(stale)
        escalated = any(entry.action == "escalated" for entry in seen.audit)
        assert (seen.current_status == "escalated") is escalated, (seen.current_status, seen.audit)
    await work.escalate(escalation("k:e2", EscalationTarget.skip_level, step))  # above Top: nobody -> HR owner
    final = step.model_copy(update={"index": 3, "level": 3, "assignee_id": None, "final": True})
    await work.escalate(escalation("k:e3", EscalationTarget.manager, final))  # any-HR step: the HR owner
    await work.escalate(escalation("k:e1", EscalationTarget.manager, step))  # a retry

    chain = (await rewards.get(f"/cycles/{cycle}/approval-chains/{mia.id}", headers=hr)).json()
    assert [(e["action"], e["notified_id"]) for e in chain["audit"]] == [
        ("opened", str(dora.id)),
        ("reminded", str(dora.id)),
        ("escalated", str(top.id)),
        ("escalated", str(hr_owner)),
        ("escalated", str(hr_owner)),
    ]
    assert (chain["current_step"], chain["current_status"], chain["current_assignee_id"]) == (
        1,
        "escalated",
        str(dora.id),
    )
    # Top is in the chain (level 2) and may read it; Gone is not.
    assert (
        await rewards.get(f"/cycles/{cycle}/approval-chains/{mia.id}", headers=auth(Role.manager, person_id=top.id))
    ).status_code == 200


async def test_a_leavers_reports_go_with_the_next_active_manager(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    """Until the HRIS moves them, a manager who left passes their people up: listed, submitted, approved."""
    hr = auth(Role.hr)
    boss = someone("Boss", "Eng")
    gone = someone("Gone", "Eng", boss)
    ada, bob, carl = someone("Ada", "Eng", gone), someone("Bob", "Eng", gone), someone("Carl", "Eng", boss)
    await insert_people(rewards, boss, gone, ada, bob, carl)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        (await session.get(Person, gone.id)).active = False
    await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))
    past = today() - timedelta(days=30)
    imported = await import_csv(rewards, hr, *((p.id, "EUR", "50000.00", "L1", past) for p in (gone, ada, bob, carl)))
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        await ProposalService(session).apply_ratings([rating_of(cycle, p) for p in (gone, ada, bob, carl)])

    as_boss = auth(Role.manager, person_id=boss.id)
    listed = await rewards.get(f"/cycles/{cycle}/proposals", params={"manager": "me"}, headers=as_boss)
    assert listed.status_code == 200, listed.text
    assert {item["person_id"] for item in listed.json()["items"]} == {str(p.id) for p in (gone, ada, bob, carl)}
    submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_boss)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["submitted"] == 4

    # Boss's chain approved at its final step approves the unit: Ada and Bob count as Boss's.
    async with sessionmaker() as session, session.begin():
        session.add(ApprovalChain(cycle_id=cycle, manager_id=boss.id, status="in_progress", steps=[]))
    work = activities(rewards)
    plan = await work.plan(
        PlanApprovalChainInput(
            idempotency_key="l:plan", cycle_id=str(cycle), manager_id=str(boss.id), depth=1, final_approver_id=None
        )
    )
    final = plan.steps[-1]
    assert final.final
    now = utcnow()
    await work.record(
        RecordApprovalDecisionInput(
            idempotency_key="l:final",
            cycle_id=str(cycle),
            manager_id=str(boss.id),
            decision=ApprovalDecision(
                step_index=final.level, actor_id=str(uuid.uuid4()), actor_is_hr=True, action=ApprovalAction.approve
            ),
            step=ApprovalStepState(
                index=final.level,
                level=final.level,
                assignee_id=None,
                status=ApprovalStepStatus.open,
                round=1,
                opened_at=now,
                due_at=now + timedelta(hours=1),
            ),
            next_index=None,
            decided_at=now,
        )
    )
    summary = await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)
    assert summary.status_code == 200, summary.text
    assert summary.json()["approved"] is True, summary.json()


def rating_of(cycle: uuid.UUID, person: Someone) -> dict[str, Any]:
    return RatingFinalized(
        cycle_id=cycle,
        person_id=person.id,
        rating=Decimal(4),
        scale_min=Decimal(1),
        scale_max=Decimal(5),
        rating_label=None,
        org_unit=person.department,
        manager_id=person.manager_id,
        finalized_at=utcnow(),
        version=1,
    ).model_dump(mode="json")
