"""HR's exchange rates, and how a report tells which rates it converted with.

A rate says what one unit of ``currency`` is worth in the base currency: ``{"currency": "USD",
"base": "EUR", "rate": "0.92"}`` is 1 USD = 0.92 EUR. Rates are decimal strings.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.rewards.schemas import Currency

# Positive, at most 10 decimals and 15 digits, so below 100,000 (1 KWD = 52,000 IDR fits; 1 IDR =
# 0.0000578123 EUR too): 15 digits is what a SQLite REAL keeps exactly.
RateValue = Annotated[Decimal, Field(gt=0, max_digits=15, decimal_places=10, allow_inf_nan=False)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ExchangeRateWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: RateValue = Field(description="What one unit of the path's currency is worth in the base currency.")
    base: Currency | None = Field(
        None,
        description="The currency every rate is quoted against. Required for the first rate, which fixes it; "
        "afterwards it may be left out, and another one is refused.",
    )
    note: Note | None = Field(None, description="Where the rate comes from, e.g. 'ECB reference rate'.")


class ExchangeRateRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    currency: str
    base: str
    rate: Decimal = Field(description="1 currency = rate base.")
    inverse_rate: Decimal = Field(description="1 base = inverse_rate currency (10 decimals), to check the direction.")
    effective_date: date = Field(description="In force from this day until the currency's next rate.")
    note: str | None
    set_by: uuid.UUID
    created_at: datetime
    modified_at: datetime | None


class RateChange(StrEnum):
    replaced = "replaced"
    removed = "removed"


class ExchangeRateChangeRead(BaseModel):
    """A rate as it stood until HR replaced or removed it."""

    currency: str
    base: str
    effective_date: date
    rate: Decimal = Field(description="The value it had: 1 currency = rate base.")
    note: str | None
    set_by: uuid.UUID = Field(description="Who had set that value.")
    set_at: datetime = Field(description="When that value was set.")
    change: RateChange
    changed_by: uuid.UUID
    changed_at: datetime


class RatesInForceRead(BaseModel):
    on: date
    base: str | None = Field(description="Null until HR stores the first rate.")
    rates: list[ExchangeRateRead] = Field(description="Each currency's latest rate effective on or before `on`.")


class RateUsedRead(BaseModel):
    """A stored rate a conversion read."""

    currency: str
    base: str
    rate: Decimal
    effective_date: date


class ConvertedCurrencyRead(BaseModel):
    currency: str = Field(description="A currency the records (or proposals) are paid in.")
    rate: Decimal = Field(
        description="Units of the reporting currency one unit of it buys, to 10 decimals; amounts are "
        "converted with the unrounded cross rate and rounded once, half up to the cent."
    )
    records: int = Field(description="How many of the answer's records (or proposals) are paid in it.")


class ConversionRead(BaseModel):
    """How an answer's amounts came into one currency."""

    currency: str = Field(description="The reporting currency every converted amount is in.")
    rates_on: date = Field(description="The rates in force on this day were used.")
    base: str | None
    rates: list[RateUsedRead] = Field(description="The stored rates used, against the base.")
    currencies: list[ConvertedCurrencyRead]


class ReferenceImportRead(BaseModel):
    """What an import of the ECB's reference rates did (or, with ``dry_run``, would do)."""

    dry_run: bool
    base: str = Field(description="EUR: the ECB quotes every currency against the euro.")
    first_day: date
    last_day: date
    currencies: list[str]
    rates: int = Field(description="Rates in the file (empty and N/A cells not counted).")
    created: int
    replaced: int = Field(
        description="Days whose stored rate differed: the old one is kept in /exchange-rates/changes."
    )
    unchanged: int
    empty_cells: int = Field(description="Cells the ECB left empty or wrote N/A: no rate.")
