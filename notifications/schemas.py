"""Request and response models of the preferences API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest_hour: int | None = Field(
        None, ge=0, le=23, description="Local hour (0-23) of the daily digest; null for the default."
    )
    opted_out: list[str] = Field(
        default_factory=list,
        description="Kinds not to receive: task_created, task_reminder, gate_reminder (never escalation).",
    )


class PreferencesOut(BaseModel):
    person_id: uuid.UUID
    digest_hour: int | None = Field(description="The chosen hour; null means the default.")
    effective_digest_hour: int = Field(description="The hour the digest goes out at, in time_zone.")
    time_zone: str = Field(description="The person's time zone from the directory (UTC when unknown).")
    opted_out: list[str]
    optional_kinds: list[str] = Field(description="What may be opted out of; escalations are always sent.")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    kind: str
    recipient: str
    language: str
    subject: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
