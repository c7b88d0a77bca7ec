"""What the rewards service publishes (its consumers are in ``consumers.py``).

Publishes (subjects ``meritloop.rewards.<entity>.<verb>``; ids, codes and statuses only,
never an amount or a percentage):

* ``pay-band.created``: id, grade, currency.
* ``proposal.created`` / ``.submitted`` / ``.approved`` / ``.returned``: the proposal's ids,
  organisation unit and new status (``shared.calibration.ProposalStatusChanged``).
* ``cycle-rewards.finalized``: cycle id and how many proposals were approved, once per cycle.
* ``pay-changes.written``: cycle id, effective date and how many records HR's write-back made
  (``pay_changes/``), when it made any.
* ``pay-change.written``: one per person raised by that write-back: cycle id, person id and the
  effective date (the notifications component tells the person; never the amount).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from services.rewards.models import OutboxEvent, PayBand, PayProposal, Person
from shared.calibration import (
    CycleRewardsFinalized,
    ProposalStatus,
    ProposalStatusChanged,
)
from shared.events import Outbox
from shared.people import PeopleProjection

outbox = Outbox("rewards", OutboxEvent)
people = PeopleProjection(Person)


class PayBandCreatedData(BaseModel):
    """What the bus may carry about a pay band: its identity, never an amount."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    grade: str
    currency: str


def pay_band_event_data(band: PayBand) -> dict[str, object]:
    return PayBandCreatedData.model_validate(band).model_dump(mode="json")


def add_proposal_event(session: AsyncSession, proposal: PayProposal, verb: str) -> None:
    """``proposal.<verb>`` with ids and status: the model has no field an amount could hide in."""
    data = ProposalStatusChanged(
        id=proposal.id,
        cycle_id=proposal.cycle_id,
        person_id=proposal.person_id,
        org_unit=proposal.org_unit,
        status=ProposalStatus(proposal.status),
    )
    outbox.add(session, "proposal", verb, data.model_dump(mode="json"), subject=str(proposal.id))


def add_cycle_finalized_event(session: AsyncSession, cycle_id: uuid.UUID, approved_count: int) -> None:
    data = CycleRewardsFinalized(cycle_id=cycle_id, approved_count=approved_count)
    outbox.add(session, "cycle-rewards", "finalized", data.model_dump(mode="json"), subject=str(cycle_id))
