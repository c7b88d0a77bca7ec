"""Request and response models of the preferences API."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QuietHours(BaseModel):
    """Local hours from ``start``:00 up to ``end``:00 (past midnight when ``end`` is smaller)."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(ge=0, le=23, description="Local hour (0-23) the quiet time begins.")
    end: int = Field(ge=0, le=23, description="Local hour (0-23) it ends; 7 with start 22 is 22:00 to 07:00.")

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ (no quiet hours: null)")
        return self


class PreferencesIn(BaseModel):
    """The whole of a person's settings: what is left out goes back to its default."""

    model_config = ConfigDict(extra="forbid")

    digest_hour: int | None = Field(
        None, ge=0, le=23, description="Local hour (0-23) of the daily digest; null for the default."
    )
    opted_out: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Kinds not to receive: task_created, task_reminder, gate_reminder (never escalation).",
    )
    at_once: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Kinds mailed one by one as they come instead of in the daily digest (see at_once_kinds).",
    )
    quiet_hours: QuietHours | None = Field(
        None,
        description="Local hours in which nothing is mailed at once: escalations and the at_once kinds wait for "
        "their end. 1:1 reminders are timed to a meeting and still come.",
    )


class PreferencesOut(BaseModel):
    person_id: uuid.UUID
    digest_hour: int | None = Field(description="The chosen hour; null means the default.")
    effective_digest_hour: int = Field(description="The hour the digest goes out at, in time_zone.")
    time_zone: str = Field(description="The person's time zone from the directory (UTC when unknown).")
    opted_out: list[str]
    optional_kinds: list[str] = Field(description="What may be opted out of; escalations are always sent.")
    at_once: list[str]
    at_once_kinds: list[str] = Field(
        description="What may be mailed at once (escalations and 1:1 reminders always are)."
    )
    quiet_hours: QuietHours | None


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
