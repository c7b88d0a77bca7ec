"""Bodies of calibration's adverse-impact and live-impact routes (HR and admins).

Amounts and percentages are decimal strings (``"46800.00"``, ``"12.50"``), as everywhere in
rewards; ratings are numbers on the session's scale.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.rewards.calibration_impact.stats import Suppressed
from services.rewards.equity.schemas import AdjustedGapRead
from services.rewards.exchange_rates.schemas import ConversionRead
from services.rewards.policy.schemas import Control
from services.rewards.rules import PoolBasis
from services.rewards.schemas import Attribute, Currency, OrgUnit, Percent
from shared.calibration import RatingNumber, RatingValue

MAX_PEOPLE = 20_000


class SessionRating(BaseModel):
    model_config = ConfigDict(extra="forbid")

    person_id: uuid.UUID
    rating: RatingValue


class AdverseImpactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale_min: RatingValue | None = Field(None, description="Required with ratings.")
    scale_max: RatingValue | None = Field(None, description="Required with ratings.")
    ratings: list[SessionRating] | None = Field(
        None,
        max_length=MAX_PEOPLE,
        description="The session's ratings as calibration shows them; left out: the final ratings this "
        "service has received for the cycle (rating.finalized).",
    )
    top_min: RatingValue | None = Field(
        None, description="A rating at or above this is a top rating; default scale_max."
    )
    attributes: list[Attribute] | None = Field(
        None,
        min_length=1,
        max_length=5,
        description="Protected attributes; left out: HR's default (impact_attributes of /rewards-policy, gender "
        "until HR changes it).",
    )


class GroupRateRead(BaseModel):
    value: str
    people: int | None
    top: int | None
    rate_pct: Decimal | None = Field(description="% of the group with a top rating")
    impact_ratio: Decimal | None = Field(description="rate / the reference group's rate, 4 decimals")
    below_four_fifths: bool | None
    p_value: float | None = Field(description="Two-sided Fisher exact test against the reference group.")
    significant: bool | None
    adverse_impact: bool = Field(description="Below four-fifths and significant.")
    suppressed: Suppressed | None


class AttributeImpactRead(BaseModel):
    attribute: Attribute
    reference: str | None = Field(description="The group with the highest rate of top ratings.")
    groups: list[GroupRateRead]
    suppressed: Suppressed | None


class AdverseImpactRead(BaseModel):
    cycle_id: uuid.UUID
    source: str = Field(description="'posted' (the ratings in the request) or 'final' (rating.finalized).")
    people: int
    top_min: RatingNumber
    min_cell_size: int
    alpha: float
    attributes: list[AttributeImpactRead]


class ImpactRating(SessionRating):
    org_unit: OrgUnit | None = Field(None, description="Default: the person's department, else 'unassigned'.")
    previous_rating: RatingValue | None = Field(
        None, description="The rating before this adjustment: the answer then shows what the change costs."
    )


class ImpactRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scale_min: RatingValue
    scale_max: RatingValue
    ratings: Annotated[list[ImpactRating], Field(min_length=1, max_length=MAX_PEOPLE)]
    currency: Currency | None = Field(
        None,
        description="Only the people paid in this currency; required when they are paid in several and no "
        "reporting_currency is given.",
    )
    reporting_currency: Currency | None = Field(
        None,
        description="Price everyone in their own currency and show the answer's amounts in this one, at the "
        "exchange rates in force today (a currency without one: 422 naming it).",
    )
    merit_budget_pct: Percent | None = Field(
        None,
        description="Instead of the cycle's merit budget % (units' own % and fixed amounts still win); "
        "e.g. before pay approval.",
    )
    bonus_budget_pct: Percent | None = Field(None, description="Instead of the cycle's bonus budget %, likewise.")


class PoolImpactRead(BaseModel):
    people: int = Field(description="People with a record (in the currency, for a currency's line).")
    payroll: Decimal
    merit_budget_pct: Decimal | None = Field(
        description="Null when the pool is a fixed amount (merit_basis), or the unit's currencies differ."
    )
    merit_basis: PoolBasis | None = Field(
        None,
        description="'percent' of the payroll, or 'amount': HR fixed the unit's pool in this currency; 'mixed' "
        "across currencies.",
    )
    merit_budget: Decimal | None = Field(
        description="Null while the cycle has no merit budget % (pay approval not open) and the unit no fixed "
        "amount; in a converted total, while one of its currencies has no pool."
    )
    merit_spend: Decimal
    merit_remaining: Decimal | None
    bonus_budget_pct: Decimal | None
    bonus_basis: PoolBasis | None = None
    bonus_budget: Decimal | None
    bonus_spend: Decimal
    bonus_remaining: Decimal | None
    over_budget: list[str] = Field(
        description="'merit', 'bonus': pools the projected spend exceeds, in any one currency (a surplus in one "
        "currency never covers an overrun in another)."
    )


class UnitCurrencyImpactRead(PoolImpactRead):
    """One currency's pools of a unit, in that currency: each unit pays in its own currencies."""

    currency: str


class UnitImpactRead(PoolImpactRead):
    """A unit's figures in the answer's currency; converted, the sum of its currency lines converted."""

    org_unit: str
    currencies: list[UnitCurrencyImpactRead] = Field(
        default_factory=list, description="The unit's pools and spend per currency its people are paid in."
    )


class AdjustmentImpactRead(BaseModel):
    person_id: uuid.UUID
    org_unit: str
    rating: RatingNumber
    previous_rating: RatingNumber
    merit_pct: Decimal | None
    merit_increase: Decimal
    merit_change: Decimal = Field(description="Increase at rating - increase at previous_rating.")
    bonus: Decimal
    bonus_change: Decimal


class PayGapImpactRead(BaseModel):
    controls: list[Control]
    before: AdjustedGapRead = Field(description="Over the session's people, at today's base pay.")
    after: AdjustedGapRead = Field(description="The same people, if every increase follows the matrix target.")


class ImpactRead(BaseModel):
    cycle_id: uuid.UUID
    currency: str | None = Field(description="The currency of the answer's amounts (units[].currencies[] aside).")
    conversion: ConversionRead | None = Field(
        None, description="How the amounts came into the reporting currency; null when none was asked for."
    )
    people: int
    priced: int = Field(description="People whose merit increase the matrix prices.")
    unpriced: dict[str, int] = Field(
        description="Why the others are not: no_record, other_currency, no_midpoint, no_matrix, scale_mismatch."
    )
    matrix_revision: int | None
    bonus_plan: bool
    units: list[UnitImpactRead]
    adjustments: list[AdjustmentImpactRead]
    pay_gap: PayGapImpactRead
