from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from services.rewards.schemas import Amount, Currency, Grade

IMPORT_FIELDS = ("person_id", "currency", "base_salary", "grade", "effective_date")


class CompensationRow(BaseModel):
    """One row of an import: a person's pay from ``effective_date`` on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: uuid.UUID
    currency: Currency
    base_salary: Amount
    grade: Grade
    effective_date: date


class RowAction(StrEnum):
    create = "create"  # a new record (a new effective date for the person)
    unchanged = "unchanged"  # the same record exists already: importing a file twice is harmless


class ImportRowResult(BaseModel):
    row: int
    person_id: uuid.UUID
    effective_date: date
    action: RowAction


class ImportReport(BaseModel):
    dry_run: bool
    applied: bool
    rows: int
    created: int
    unchanged: int
    results: list[ImportRowResult]


class CompensationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    person_id: uuid.UUID
    currency: str
    base_salary: Decimal
    grade: str
    pay_band_id: uuid.UUID
    effective_date: date
    created_at: datetime


class CompensationListItem(CompensationRead):
    display_name: str
    department: str | None


class CompensationHistory(BaseModel):
    person_id: uuid.UUID
    records: list[CompensationRead]
