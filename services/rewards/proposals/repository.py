"""All SQL about pay cycles, proposals, organisation-unit approvals and reporting lines."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import CompensationRecord, OrgUnitApproval, PayCycle, PayProposal, Person
from shared.calibration import ProposalStatus

# A guard against a corrupted hierarchy: no real organisation is this deep.
MAX_DEPTH = 64


def _with_pay_data(cycle_id: uuid.UUID) -> tuple[ColumnElement[bool], ...]:
    """A cycle's proposals that have pay data: the ones a pool counts."""
    return (
        PayProposal.cycle_id == cycle_id,
        PayProposal.currency.is_not(None),
        PayProposal.current_salary.is_not(None),
        PayProposal.increase_amount.is_not(None),
    )


class PayCycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PayCycleRepository:
        return cls(session)

    async def get(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> PayCycle | None:
        return await self.session.get(PayCycle, cycle_id, with_for_update=for_update)

    async def get_or_create(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> PayCycle:
        """The cycle, created if new. Two transactions creating it at once: one fails on the
        primary key (IntegrityError) and is retried (a consumer) or answered 409 (a request)."""
        cycle = await self.get(cycle_id, for_update=for_update)
        if cycle is None:
            cycle = PayCycle(id=cycle_id)
            self.session.add(cycle)
            await self.session.flush()
        return cycle

    async def approvals(self, cycle_id: uuid.UUID) -> dict[str, OrgUnitApproval]:
        rows = await self.session.scalars(select(OrgUnitApproval).where(OrgUnitApproval.cycle_id == cycle_id))
        return {row.org_unit: row for row in rows}

    async def add_approval(self, approval: OrgUnitApproval) -> None:
        self.session.add(approval)
        await self.session.flush()


class ProposalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> ProposalRepository:
        return cls(session)

    async def approved_raises(self, cycle_id: uuid.UUID) -> list[tuple[PayProposal, CompensationRecord]]:
        """The cycle's approved proposals that name a salary, each with the record it raises."""
        rows = await self.session.execute(
            select(PayProposal, CompensationRecord)
            .join(CompensationRecord, CompensationRecord.id == PayProposal.compensation_record_id)
            .where(*self._approved(cycle_id), PayProposal.proposed_salary.is_not(None))
            .order_by(PayProposal.person_id)
        )
        return list(rows.tuples())

    async def records_of_approved(self, cycle_id: uuid.UUID) -> dict[tuple[uuid.UUID, date], CompensationRecord]:
        """Every compensation record of the people approved in the cycle, by ``(person_id, effective_date)``."""
        rows = await self.session.scalars(
            select(CompensationRecord)
            .join(PayProposal, PayProposal.person_id == CompensationRecord.person_id)
            .where(*self._approved(cycle_id))
        )
        return {(row.person_id, row.effective_date): row for row in rows}

    @staticmethod
    def _approved(cycle_id: uuid.UUID) -> tuple[Any, ...]:
        return PayProposal.cycle_id == cycle_id, PayProposal.status == ProposalStatus.approved.value

    async def get(self, proposal_id: uuid.UUID, *, for_update: bool = False) -> PayProposal | None:
        return await self.session.get(PayProposal, proposal_id, with_for_update=for_update)

    async def get_for(
        self, cycle_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False
    ) -> PayProposal | None:
        query = select(PayProposal).where(PayProposal.cycle_id == cycle_id, PayProposal.person_id == person_id)
        if for_update:
            query = query.with_for_update()
        proposal = await self.session.scalar(query)
        return proposal

    async def for_people(
        self, cycle_id: uuid.UUID, person_ids: Sequence[uuid.UUID], *, for_update: bool = False
    ) -> dict[uuid.UUID, PayProposal]:
        if not person_ids:
            return {}
        query = select(PayProposal).where(PayProposal.cycle_id == cycle_id, PayProposal.person_id.in_(person_ids))
        if for_update:
            query = query.with_for_update()
        return {proposal.person_id: proposal for proposal in await self.session.scalars(query)}

    async def add(self, proposal: PayProposal) -> PayProposal:
        self.session.add(proposal)
        await self.session.flush()
        return proposal

    async def add_all(self, proposals: Sequence[PayProposal]) -> None:
        """Flushes even with nothing new: the caller's changes to loaded proposals go with it."""
        self.session.add_all(proposals)
        await self.session.flush()

    async def person(self, person_id: uuid.UUID) -> Person | None:
        return await self.session.get(Person, person_id)

    async def departments(self, person_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The people projection's department of each person who has one."""
        if not person_ids:
            return {}
        rows = await self.session.execute(
            select(Person.id, Person.department).where(Person.id.in_(person_ids), Person.department.is_not(None))
        )
        return {person_id: department for person_id, department in rows.tuples() if department}

    def reports(self, manager_id: uuid.UUID, *, all_levels: bool) -> Select[tuple[uuid.UUID]]:
        """Ids of the people under ``manager_id`` in the people projection (one recursive CTE).

        Direct reports include those of a report who has left (inactive), and so on down: until
        the HRIS moves them, a leaver's people are the next active manager's to propose for,
        submit and approve, as their reviews are (the reviews service hands them on likewise).
        """
        tree = (
            select(Person.id.label("id"), Person.active.label("active"), literal(1).label("level"))
            .where(Person.manager_id == manager_id)
            .cte("reports", recursive=True)
        )
        below = (
            select(Person.id, Person.active, tree.c.level + 1)
            .join(tree, Person.manager_id == tree.c.id)
            .where(tree.c.level < MAX_DEPTH)
        )
        if not all_levels:
            below = below.where(tree.c.active.is_(False))
        return select(tree.union_all(below).c.id)

    async def is_report(self, manager_id: uuid.UUID, person_id: uuid.UUID) -> bool:
        tree = self.reports(manager_id, all_levels=True).subquery()
        found = await self.session.scalar(select(tree.c.id).where(tree.c.id == person_id).limit(1))
        return found is not None

    async def page(
        self,
        cycle_id: uuid.UUID,
        *,
        limit: int,
        offset: int,
        under: uuid.UUID | None = None,
        all_levels: bool = False,
        org_unit: str | None = None,
        status: ProposalStatus | None = None,
    ) -> tuple[list[tuple[PayProposal, str | None]], int]:
        query: Select[Any] = (
            select(PayProposal, Person.display_name)
            .outerjoin(Person, Person.id == PayProposal.person_id)
            .where(PayProposal.cycle_id == cycle_id)
        )
        if under is not None:
            query = query.where(PayProposal.person_id.in_(self.reports(under, all_levels=all_levels)))
        if org_unit is not None:
            query = query.where(PayProposal.org_unit == org_unit)
        if status is not None:
            query = query.where(PayProposal.status == status.value)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.execute(
            query.order_by(PayProposal.org_unit, Person.display_name, PayProposal.id).limit(limit).offset(offset)
        )
        return [(row[0], row[1]) for row in rows.all()], total

    async def of_reports(
        self, cycle_id: uuid.UUID, manager_id: uuid.UUID, *, all_levels: bool, for_update: bool = False
    ) -> list[PayProposal]:
        query = select(PayProposal).where(
            PayProposal.cycle_id == cycle_id,
            PayProposal.person_id.in_(self.reports(manager_id, all_levels=all_levels)),
        )
        if for_update:
            query = query.with_for_update()
        return list(await self.session.scalars(query.order_by(PayProposal.id)))

    async def of_unit(self, cycle_id: uuid.UUID, org_unit: str, *, for_update: bool = False) -> list[PayProposal]:
        query = select(PayProposal).where(PayProposal.cycle_id == cycle_id, PayProposal.org_unit == org_unit)
        if for_update:
            query = query.with_for_update()
        return list(await self.session.scalars(query.order_by(PayProposal.id)))

    async def of_cycle_needing_data(self, cycle_id: uuid.UUID) -> list[PayProposal]:
        query = select(PayProposal).where(
            PayProposal.cycle_id == cycle_id, PayProposal.status == ProposalStatus.needs_data.value
        )
        return list(await self.session.scalars(query.with_for_update().order_by(PayProposal.id)))

    async def money(
        self,
        cycle_id: uuid.UUID,
        org_unit: str | None = None,
        *,
        under: uuid.UUID | None = None,
        units: Collection[str] | None = None,
    ) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
        """``(org_unit, currency, salary, increase, bonus)`` of the proposals that have pay data:
        of one unit, of some ``units``, or of everyone below a manager (all levels), or both.

        Summed by the caller in Decimal: SQLite would add the amounts as floating point.
        """
        if units is not None and not units:
            return []
        query = select(
            PayProposal.org_unit,
            PayProposal.currency,
            PayProposal.current_salary,
            PayProposal.increase_amount,
            PayProposal.bonus_amount,
        ).where(*_with_pay_data(cycle_id))
        if org_unit is not None:
            query = query.where(PayProposal.org_unit == org_unit)
        if units is not None:
            query = query.where(PayProposal.org_unit.in_(sorted(units)))
        if under is not None:
            query = query.where(PayProposal.person_id.in_(self.reports(under, all_levels=True)))
        rows = await self.session.execute(query)
        return [(row[0], row[1], row[2], row[3], row[4] or Decimal(0)) for row in rows.all()]

    async def salaries(self, cycle_id: uuid.UUID, units: Collection[str]) -> list[tuple[str, str, uuid.UUID, Decimal]]:
        """``(org_unit, currency, person, salary)`` of the proposals with pay data in some ``units``."""
        if not units:
            return []
        query = select(
            PayProposal.org_unit, PayProposal.currency, PayProposal.person_id, PayProposal.current_salary
        ).where(*_with_pay_data(cycle_id), PayProposal.org_unit.in_(sorted(units)))
        rows = await self.session.execute(query)
        return [
            (unit, currency or "", person, salary or Decimal(0)) for unit, currency, person, salary in rows.tuples()
        ]

    async def of_cycle_with_data(self, cycle_id: uuid.UUID, statuses: Iterable[ProposalStatus]) -> list[PayProposal]:
        values = [status.value for status in statuses]
        query = select(PayProposal).where(PayProposal.cycle_id == cycle_id, PayProposal.status.in_(values))
        return list(await self.session.scalars(query.with_for_update().order_by(PayProposal.id)))

    async def of_person(self, person_id: uuid.UUID, statuses: Iterable[ProposalStatus]) -> list[PayProposal]:
        values = [status.value for status in statuses]
        query = select(PayProposal).where(PayProposal.person_id == person_id, PayProposal.status.in_(values))
        return list(await self.session.scalars(query.order_by(PayProposal.approved_at.desc(), PayProposal.id)))

    async def status_counts(self, cycle_id: uuid.UUID, org_unit: str) -> dict[ProposalStatus, int]:
        rows = await self.session.execute(
            select(PayProposal.status, func.count())
            .where(PayProposal.cycle_id == cycle_id, PayProposal.org_unit == org_unit)
            .group_by(PayProposal.status)
        )
        return {ProposalStatus(row[0]): int(row[1]) for row in rows.all()}

    async def arrivals(self, cycle_id: uuid.UUID) -> tuple[dict[ProposalStatus, int], datetime | None]:
        """Proposals per status of a whole cycle, and when the latest rating behind them was finalized."""
        rows = await self.session.execute(
            select(PayProposal.status, func.count(), func.max(PayProposal.rating_finalized_at))
            .where(PayProposal.cycle_id == cycle_id)
            .group_by(PayProposal.status)
        )
        counts: dict[ProposalStatus, int] = {}
        latest: datetime | None = None
        for status, count, finalized in rows.tuples():
            counts[ProposalStatus(status)] = int(count)
            latest = finalized if latest is None or (finalized is not None and finalized > latest) else latest
        return counts, latest

    async def org_units(self, cycle_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(PayProposal.org_unit)
            .where(PayProposal.cycle_id == cycle_id)
            .distinct()
            .order_by(PayProposal.org_unit)
        )
        return list(rows)

    async def count(self, cycle_id: uuid.UUID, statuses: Iterable[ProposalStatus]) -> int:
        values = [status.value for status in statuses]
        total = await self.session.scalar(
            select(func.count()).where(PayProposal.cycle_id == cycle_id, PayProposal.status.in_(values))
        )
        return int(total or 0)
