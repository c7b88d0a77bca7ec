"""Writing a finalized cycle's approved salaries back as compensation records.

Each approved increase becomes a new record from the effective date HR names, a copy of the
record the proposal raised (band, job, FTE, sensitive attributes) with the proposed salary.
History stays: the raised record is kept, and the current record is the newest one not after
today, so a future date changes nobody's current pay before it comes. Repeating the request is
harmless: a person whose record on that date holds the salary is counted, not written twice,
and anyone with a record newer than the raised one (an import since, or this cycle written on
another date) is left alone, so nobody is raised twice.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.compensation.schemas import OPTIONAL_IMPORT_FIELDS
from services.rewards.events import outbox
from services.rewards.models import CompensationRecord, PayCycle, PayProposal
from services.rewards.pay_changes.schemas import PayChangesWritten
from shared.calibration import ProposalStatus
from shared.errors import Conflict, NotFound, ValidationFailed

# Every column of a record that the raise keeps as it was: whatever an import may set but the pay.
KEPT = ("person_id", "pay_band_id", "currency", *OPTIONAL_IMPORT_FIELDS)


class PayChangeService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def write(self, cycle_id: uuid.UUID, effective_date: date, by: uuid.UUID) -> PayChangesWritten:
        # The cycle row lock keeps two writes of one cycle from racing each other.
        cycle = await self.session.get(PayCycle, cycle_id, with_for_update=True)
        if cycle is None:
            raise NotFound(f"No pay cycle {cycle_id}.")
        if cycle.finalized_at is None:
            raise Conflict(
                f"Pay cycle {cycle_id} is not finalized: every organisation unit must be approved first.",
                reason="not_finalized",
            )
        approved = (PayProposal.cycle_id == cycle_id, PayProposal.status == ProposalStatus.approved.value)
        raised = list(
            (
                await self.session.execute(
                    select(PayProposal, CompensationRecord)
                    .join(CompensationRecord, CompensationRecord.id == PayProposal.compensation_record_id)
                    .where(*approved, PayProposal.proposed_salary.is_not(None))
                    .order_by(PayProposal.person_id)
                )
            ).tuples()
        )
        latest_base = max((record.effective_date for _proposal, record in raised), default=None)
        if latest_base is not None and effective_date <= latest_base:
            raise ValidationFailed.field(
                "effective_date", f"must be after {latest_base.isoformat()}, the date of the newest pay it raises"
            )
        newest_rows = await self.session.execute(
            select(CompensationRecord.person_id, func.max(CompensationRecord.effective_date))
            .join(PayProposal, PayProposal.person_id == CompensationRecord.person_id)
            .where(*approved)
            .group_by(CompensationRecord.person_id)
        )
        newest = {person_id: latest for person_id, latest in newest_rows.tuples()}
        on_the_date = {
            record.person_id: record
            for record in await self.session.scalars(
                select(CompensationRecord)
                .join(PayProposal, PayProposal.person_id == CompensationRecord.person_id)
                .where(*approved, CompensationRecord.effective_date == effective_date)
            )
        }
        result = PayChangesWritten(
            cycle_id=cycle_id,
            effective_date=effective_date,
            written=0,
            already_written=0,
            no_increase=0,
            newer_record=0,
            date_taken=0,
        )
        for proposal, record in raised:
            salary = proposal.proposed_salary
            assert salary is not None
            found = on_the_date.get(proposal.person_id)
            if salary == record.base_salary:
                result.no_increase += 1
            elif found is not None:
                if found.base_salary == salary:
                    result.already_written += 1
                else:
                    result.date_taken += 1
            elif newest[proposal.person_id] > record.effective_date:
                result.newer_record += 1
            else:
                kept = {name: getattr(record, name) for name in KEPT}
                self.session.add(
                    CompensationRecord(**kept, base_salary=salary, effective_date=effective_date, imported_by=by)
                )
                result.written += 1
        await self.session.flush()
        if result.written:
            # Ids, a date and a count (for an HRIS that takes the new pay over): never an amount.
            data = {"cycle_id": str(cycle_id), "effective_date": effective_date.isoformat(), "written": result.written}
            outbox.add(self.session, "pay-changes", "written", data, subject=str(cycle_id))
        return result
