"""The request that writes a finalized cycle's approved salaries, and what it did."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class PayChangesWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"effective_date": "2027-04-01"}]})

    effective_date: date = Field(
        description="The day the new salaries apply from: after the date of every record the proposals raise."
    )


class PayChangesWritten(BaseModel):
    cycle_id: uuid.UUID
    effective_date: date
    written: int = Field(description="New compensation records, one per approved increase.")
    already_written: int = Field(description="Approved increases that already have their record on that date.")
    no_increase: int = Field(description="Approved proposals that keep the salary: nothing to write.")
    newer_record: int = Field(
        description="Left alone: the person has a record newer than the one the proposal raised (an import since, "
        "or an earlier write of this cycle on another date)."
    )
    date_taken: int = Field(description="Left alone: the person already has a different record on that date.")
