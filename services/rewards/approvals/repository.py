"""SQL of the pay approval chain: policies, chains, comments, the audit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import ApprovalAudit, ApprovalChain, ApprovalComment, ApprovalPolicy, Person

CHAIN_IN_PROGRESS = "in_progress"
CHAIN_APPROVED = "approved"


class ApprovalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ApprovalRepository:
        return cls(session)

    async def policy(self, cycle_id: uuid.UUID) -> ApprovalPolicy | None:
        return await self.session.get(ApprovalPolicy, cycle_id)

    async def chain(
        self, cycle_id: uuid.UUID, manager_id: uuid.UUID, *, for_update: bool = False
    ) -> ApprovalChain | None:
        query = select(ApprovalChain).where(ApprovalChain.cycle_id == cycle_id, ApprovalChain.manager_id == manager_id)
        if for_update:
            query = query.with_for_update()
        found: ApprovalChain | None = await self.session.scalar(query)
        return found

    async def approved_managers(self, cycle_id: uuid.UUID) -> set[uuid.UUID]:
        rows = await self.session.scalars(
            select(ApprovalChain.manager_id).where(
                ApprovalChain.cycle_id == cycle_id, ApprovalChain.status == CHAIN_APPROVED
            )
        )
        return set(rows)

    async def waiting_on(self, person_id: uuid.UUID, *, hr: bool) -> Sequence[ApprovalChain]:
        """Chains whose open step is this person's (or, for HR, a final step open to any HR person)."""
        mine = ApprovalChain.current_assignee_id == person_id
        if hr:
            mine = mine | ApprovalChain.current_assignee_id.is_(None)
        query = (
            select(ApprovalChain)
            .where(ApprovalChain.status == CHAIN_IN_PROGRESS, ApprovalChain.current_step.is_not(None), mine)
            .order_by(ApprovalChain.current_due_at, ApprovalChain.id)
        )
        return list(await self.session.scalars(query))

    async def audit(self, chain: ApprovalChain) -> Sequence[tuple[ApprovalAudit, str | None]]:
        """The chain's audit, and ``chain`` refreshed by the same statement. Under PostgreSQL's read
        committed each statement sees the commits made before it: a chain row read before an
        escalation committed would contradict the audit read after it (status open, yet escalated)."""
        rows = await self.session.execute(
            select(ApprovalChain, ApprovalAudit, ApprovalComment.text)
            .outerjoin(ApprovalAudit, ApprovalAudit.chain_id == ApprovalChain.id)
            .outerjoin(ApprovalComment, ApprovalComment.id == ApprovalAudit.comment_id)
            .where(ApprovalChain.id == chain.id)
            .order_by(ApprovalAudit.at, ApprovalAudit.created_at)
            .execution_options(populate_existing=True)
        )
        return [(row[1], row[2]) for row in rows.all() if row[1] is not None]

    async def audited(self, key: str) -> bool:
        found = await self.session.scalar(select(ApprovalAudit.id).where(ApprovalAudit.idempotency_key == key))
        return found is not None

    async def comment(self, comment_id: uuid.UUID) -> ApprovalComment | None:
        return await self.session.get(ApprovalComment, comment_id)

    async def person(self, person_id: uuid.UUID) -> Person | None:
        return await self.session.get(Person, person_id)

    async def active_manager_of(self, person_id: uuid.UUID) -> uuid.UUID | None:
        """The nearest active person above ``person_id`` in the projection (an inactive one is skipped)."""
        seen = {person_id}
        person = await self.person(person_id)
        while person is not None and person.manager_id is not None and person.manager_id not in seen:
            seen.add(person.manager_id)
            above = await self.person(person.manager_id)
            if above is None:
                return None
            if above.active:
                return above.id
            person = above
        return None
