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

from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.compensation.repository import CompensationRepository
from services.rewards.compensation.schemas import OPTIONAL_IMPORT_FIELDS
from services.rewards.events import outbox
from services.rewards.models import CompensationRecord, PayCycle
from services.rewards.pay_changes.schemas import PayChangesWritten
from services.rewards.proposals.repository import ProposalRepository
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
        proposals = ProposalRepository.from_session(self.session)
        raised = await proposals.approved_raises(cycle_id)
        latest_base = max((record.effective_date for _proposal, record in raised), default=None)
        if latest_base is not None and effective_date <= latest_base:
            raise ValidationFailed.field(
                "effective_date", f"must be after {latest_base.isoformat()}, the date of the newest pay it raises"
            )
        records = await proposals.records_of_approved(cycle_id)
        newest: dict[uuid.UUID, date] = {}
        for person_id, effective in records:
            newest[person_id] = max(effective, newest.get(person_id, effective))
        result = PayChangesWritten(
            cycle_id=cycle_id,
            effective_date=effective_date,
            written=0,
            already_written=0,
            no_increase=0,
            newer_record=0,
            date_taken=0,
        )
        written: list[CompensationRecord] = []
        for proposal, record in raised:
            salary = proposal.proposed_salary
            assert salary is not None
            found = records.get((proposal.person_id, effective_date))
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
                written.append(
                    CompensationRecord(**kept, base_salary=salary, effective_date=effective_date, imported_by=by)
                )
        await CompensationRepository.from_session(self.session).add_all(written)
        result.written = len(written)
        if result.written:
            # Ids, a date and a count (for an HRIS that takes the new pay over): never an amount.
            day = effective_date.isoformat()
            data = {"cycle_id": str(cycle_id), "effective_date": day, "written": result.written}
            outbox.add(self.session, "pay-changes", "written", data, subject=str(cycle_id))
            # Each person raised learns the day their new pay applies from (notifications mails them).
            told = [
                outbox.event(
                    "pay-change",
                    "written",
                    {"cycle_id": str(cycle_id), "person_id": str(record.person_id), "effective_date": day},
                    subject=str(record.person_id),
                )
                for record in written
            ]
            await outbox.add_many(self.session, told)
        return result
