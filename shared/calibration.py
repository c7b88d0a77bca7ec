"""Contracts of the pay-approval events between reviews (final ratings) and rewards (pay).

The reviews service publishes on its stream ``MERITLOOP_REVIEWS``:

* ``meritloop.reviews.rating.finalized``: one person's final, calibrated rating in one
  cycle. ``version`` grows by one each time calibration changes that person's final rating;
  the event id is derived from ``(cycle_id, person_id, version)`` (``rating_event_id``), so
  re-publishing the same rating is dropped by JetStream and by consumers' inboxes. A
  consumer keeps the highest version it has seen: an older version never overwrites a newer
  one, an equal version changes nothing.
* ``meritloop.reviews.cycle.pay-approval-opened``: the cycle enters pay approval. Optional
  policy for the whole cycle: the organisation units taking part, the merit budget as a
  percentage of each unit's payroll, and the due dates of the manager and HR steps.

The rewards service publishes on ``MERITLOOP_REWARDS``:

* ``meritloop.rewards.proposal.created`` / ``.submitted`` / ``.approved`` / ``.returned``:
  ids and the new status of one pay proposal (``ProposalStatusChanged``).
* ``meritloop.rewards.cycle-rewards.finalized``: every organisation unit of the cycle is
  approved (``CycleRewardsFinalized``), published once per cycle.

What never travels: review comments and any free text about performance, salaries, pay
amounts and the percentages of individual increases, gender. A rating is a number on the
cycle's scale and a short label. Calibration's adverse-impact and live-impact analyses need
gender and pay, so they are rewards routes fed with ids and ratings (the final ratings above,
or the ones a session shows, posted by the caller): docs/rewards.md.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StringConstraints, model_validator

from shared.events import event_type, stream_name

RATING_FINALIZED = event_type("reviews", "rating", "finalized")
PAY_APPROVAL_OPENED = event_type("reviews", "cycle", "pay-approval-opened")
PROPOSAL_CREATED = event_type("rewards", "proposal", "created")
PROPOSAL_SUBMITTED = event_type("rewards", "proposal", "submitted")
PROPOSAL_APPROVED = event_type("rewards", "proposal", "approved")
PROPOSAL_RETURNED = event_type("rewards", "proposal", "returned")
CYCLE_REWARDS_FINALIZED = event_type("rewards", "cycle-rewards", "finalized")
RATINGS_STREAM = stream_name("reviews")
REWARDS_STREAM = stream_name("rewards")

_RATING_EVENT_NAMESPACE = uuid.UUID("0d6c2b7e-91a4-4f3e-8b1d-5e2f7a9c3b41")

# A rating on any scale a cycle may use (1-5, 0-100, 1.0-4.0 ...), at most 3 decimals.
RatingValue = Annotated[Decimal, Field(max_digits=9, decimal_places=3, allow_inf_nan=False)]
# How every API response shows a rating, a scale point or a scale's bounds: a JSON number
# (3, 3.5), never a string ("3.000"): scale points are numbers where they are defined (rating
# scales, forms, answers), so a client compares a rating with a point without parsing.
# Stored and computed as Decimal (3 decimals at most), so the float is exact to that precision.
RatingNumber = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
OrgUnit = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class RatingFinalized(BaseModel):
    """``data`` of ``meritloop.reviews.rating.finalized``: no comments, no text beyond the label."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    person_id: uuid.UUID
    rating: RatingValue
    scale_min: RatingValue
    scale_max: RatingValue
    rating_label: str | None = Field(None, max_length=100)
    org_unit: OrgUnit | None = Field(None, description="The person's department when the rating was finalised.")
    manager_id: uuid.UUID | None = None
    finalized_at: datetime
    version: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _on_the_scale(self) -> Self:
        if self.scale_min >= self.scale_max:
            raise ValueError("scale_max must be greater than scale_min")
        if not self.scale_min <= self.rating <= self.scale_max:
            raise ValueError("rating must lie on the scale (scale_min..scale_max)")
        return self


def rating_event_id(cycle_id: uuid.UUID, person_id: uuid.UUID, version: int) -> uuid.UUID:
    """The id of the event of one version of one final rating: the same inputs, the same id."""
    return uuid.uuid5(_RATING_EVENT_NAMESPACE, f"{cycle_id}:{person_id}:{version}")


_PAY_OPENED_NAMESPACE = uuid.UUID("4b7c9d3e-2f1a-4e8b-9c6d-0a1b2c3d4e5f")


def pay_approval_event_id(cycle_id: uuid.UUID) -> uuid.UUID:
    """The id of a cycle's ``cycle.pay-approval-opened`` event; rewards waits for it to be handled."""
    return uuid.uuid5(_PAY_OPENED_NAMESPACE, str(cycle_id))


class PayApprovalOpened(BaseModel):
    """``data`` of ``meritloop.reviews.cycle.pay-approval-opened``: policy, never anyone's pay."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    org_units: list[OrgUnit] | None = None
    budget_pct: Decimal | None = Field(
        None, ge=0, le=100, max_digits=5, decimal_places=2, description="Merit budget, % of each unit's payroll."
    )
    manager_due: date | None = None
    hr_due: date | None = None


class ProposalStatus(StrEnum):
    needs_data = "needs_data"  # no compensation record, band or matrix cell: HR must act
    draft = "draft"  # the manager may edit it
    submitted = "submitted"  # the manager is done; HR decides per organisation unit
    approved = "approved"  # final


class ProposalStatusChanged(BaseModel):
    """``data`` of ``meritloop.rewards.proposal.*``: ids and status, never amounts or percentages."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: uuid.UUID
    cycle_id: uuid.UUID
    person_id: uuid.UUID
    org_unit: str
    status: ProposalStatus


class CycleRewardsFinalized(BaseModel):
    """``data`` of ``meritloop.rewards.cycle-rewards.finalized``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    cycle_id: uuid.UUID
    approved_count: int = Field(ge=0)
