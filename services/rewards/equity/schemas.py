"""Pay-equity and Art. 9 reports. Percentages are decimal strings with 2 decimals (``"12.50"``)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.rewards.equity.stats import Suppressed
from services.rewards.exchange_rates.schemas import ConversionRead
from services.rewards.policy.schemas import Control
from services.rewards.schemas import Amount, Currency

CONVERSION = "How the records were converted into the reporting currency; null when none was asked for."


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"


class GapRead(BaseModel):
    women: int | None
    men: int | None
    mean_gap_pct: Decimal | None
    median_gap_pct: Decimal | None
    suppressed: Suppressed | None = Field(description="Why the cell shows nothing; null when it does.")


class QuartileRead(BaseModel):
    quartile: int = Field(description="1 is the lowest-paid quarter, 4 the highest.")
    people: int | None
    women_pct: Decimal | None
    men_pct: Decimal | None
    suppressed: Suppressed | None


class VariablePayShareRead(BaseModel):
    women_pct: Decimal | None
    men_pct: Decimal | None
    women_suppressed: Suppressed | None
    men_suppressed: Suppressed | None


class CategoryGapRead(BaseModel):
    category: str
    people: int | None
    basic_pay: GapRead
    variable_pay: GapRead


class Art9ReportRead(BaseModel):
    """EU Pay Transparency Directive (2023/970) Art. 9 (1) (a)-(g) on one reference date."""

    reference_date: date
    currency: str = Field(description="The currency of the figures: the records', or the reporting currency.")
    conversion: ConversionRead | None = Field(None, description=CONVERSION)
    min_cell_size: int
    people: int
    women: int
    men: int
    other_or_undisclosed: int | None
    pay_gap: GapRead = Field(description="(a) mean and (c) median gap of total pay (base + variable), per FTE.")
    variable_pay_gap: GapRead = Field(description="(b) mean and (d) median gap over those who received variable pay.")
    variable_pay_share: VariablePayShareRead = Field(description="(e) women and men receiving variable pay.")
    quartiles: list[QuartileRead] = Field(description="(f) women and men per quartile pay band.")
    categories: list[CategoryGapRead] = Field(description="(g) gap per category of worker, basic and variable pay.")


class AdjustedGapRead(BaseModel):
    women: int | None
    men: int | None
    unadjusted: GapRead = Field(description="Base pay per FTE of the people in the regression.")
    coefficient: float | None = Field(description="b_female of log(base pay / FTE).")
    standard_error: float | None
    degrees_of_freedom: int | None
    adjusted_gap_pct: Decimal | None = Field(description="(1 - exp(b_female)) x 100: positive, women paid less.")
    ci_low_pct: Decimal | None
    ci_high_pct: Decimal | None
    suppressed: Suppressed | None
    excluded: int = Field(description="Women and men left out for lack of a control's value (no hire date).")


class CategoryEquityRead(BaseModel):
    category: str
    flagged: bool = Field(description="Unexplained gap at or above the policy's threshold (joint assessment).")
    gap: AdjustedGapRead


class PayEquityRead(BaseModel):
    reference_date: date
    currency: str
    conversion: ConversionRead | None = Field(None, description=CONVERSION)
    min_cell_size: int
    flag_threshold_pct: Decimal
    controls: list[Control]
    overall: AdjustedGapRead
    categories: list[CategoryEquityRead]


class RemediationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    budget: Amount = Field(description="At most this much in annual raises, in the report's currency.")
    reference_date: date | None = None
    currency: Currency | None = Field(None, description="Only the people paid in this currency.")
    reporting_currency: Currency | None = Field(
        None, description="Convert everyone's pay (and the budget's currency) into this one at the reference date."
    )
    controls: list[Control] | None = Field(None, max_length=7)


class RaiseRead(BaseModel):
    person_id: uuid.UUID
    base_salary: Decimal
    raise_amount: Decimal
    new_base_salary: Decimal
    raise_pct: Decimal
    paid_currency: str = Field(description="The currency the person is paid in.")
    paid_raise_amount: Decimal = Field(
        description="The raise in paid_currency (converted back at the same rate, rounded up to the cent)."
    )


class RemedyRead(BaseModel):
    category: str
    gap_before_pct: Decimal
    gap_after_pct: Decimal
    closes_gap: bool
    cost: Decimal
    raises: list[RaiseRead]


class RemediationRead(BaseModel):
    reference_date: date
    currency: str
    conversion: ConversionRead | None = Field(None, description=CONVERSION)
    controls: list[Control]
    budget: Decimal
    total_cost: Decimal
    remaining: Decimal
    remedies: list[RemedyRead]
