from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.rewards.schemas import FTE, Amount, Currency, Gender, Grade, Label

IMPORT_FIELDS = ("person_id", "currency", "base_salary", "grade", "effective_date")
# Columns a file may add (job architecture and sensitive attributes, issue 11).
OPTIONAL_IMPORT_FIELDS = (
    "job_level",
    "job_family",
    "worker_category",
    "fte",
    "employment_type",
    "gender",
    "location",
    "hire_date",
    "variable_pay",
)


class CompensationRow(BaseModel):
    """One row of an import: a person's pay from ``effective_date`` on."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_id: uuid.UUID
    currency: Currency
    base_salary: Amount
    grade: Grade
    effective_date: date
    job_level: Label | None = None
    job_family: Label | None = None
    worker_category: Label | None = Field(None, description="The code of an HR-defined worker category.")
    fte: FTE = Decimal(1)
    employment_type: Label | None = None
    gender: Gender | None = None
    location: Label | None = None
    hire_date: date | None = None
    variable_pay: Amount = Decimal(0)


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
    job_level: str | None = None
    job_family: str | None = None
    worker_category: str | None = None
    fte: Decimal = Decimal(1)
    employment_type: str | None = None
    location: str | None = None
    hire_date: date | None = None
    variable_pay: Decimal = Decimal(0)
    gender: Gender | None = Field(None, description="HR and admins only; null for anyone else.")


class CompensationListItem(CompensationRead):
    display_name: str
    department: str | None


class CompensationHistory(BaseModel):
    person_id: uuid.UUID
    records: list[CompensationRead]
