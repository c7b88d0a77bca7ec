"""Requests and responses of the pay approval chain (docs/rewards.md, "Approval chain")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from workflows.models import ApprovalAction, EscalationTarget


class EscalationWrite(BaseModel):
    after_hours: float = Field(gt=0, le=24 * 365, description="hours after the step's deadline")
    notify: EscalationTarget


class PolicyWrite(BaseModel):
    depth: int = Field(1, ge=0, le=10, description="levels above the manager before the final step")
    final_approver_id: uuid.UUID | None = Field(
        None, description="the HR or compensation person who decides last; none: any active HR person"
    )
    hr_owner_id: uuid.UUID | None = Field(None, description="escalations fall back to them; default: you")
    step_hours: float = Field(gt=0, le=24 * 365, description="each step is due this long after it opens")
    reminder_every_hours: float | None = Field(None, gt=0, le=24 * 365)
    escalation: list[EscalationWrite] = Field(default_factory=list, max_length=10)


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    cycle_id: uuid.UUID
    depth: int
    final_approver_id: uuid.UUID | None
    hr_owner_id: uuid.UUID
    step_hours: float
    reminder_every_hours: float | None
    escalation: list[EscalationWrite]
    set_by: uuid.UUID


class ChainStart(BaseModel):
    manager_id: uuid.UUID | None = Field(None, description="HR only: start the chain of this manager; default: you")


class DecisionWrite(BaseModel):
    action: ApprovalAction
    step_index: int | None = Field(None, ge=0, description="the step you decide; default: the current step")
    comment: str | None = Field(None, max_length=2000, description="required to return")

    @model_validator(mode="after")
    def _return_needs_a_comment(self) -> Self:
        if self.action is ApprovalAction.return_ and not (self.comment and self.comment.strip()):
            raise ValueError("a return needs a comment")
        return self


class StepRead(BaseModel):
    index: int
    level: int
    assignee_id: uuid.UUID | None
    final: bool


class AuditRead(BaseModel):
    step_index: int
    round: int
    action: str
    actor_id: uuid.UUID | None
    notified_id: uuid.UUID | None
    comment: str | None
    at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class ChainRead(BaseModel):
    id: uuid.UUID
    cycle_id: uuid.UUID
    manager_id: uuid.UUID
    status: str
    steps: list[StepRead]
    current_step: int | None
    current_assignee_id: uuid.UUID | None
    current_status: str | None
    current_round: int | None
    current_opened_at: datetime | None
    current_due_at: datetime | None
    overdue: bool
    approved_at: datetime | None
    audit: list[AuditRead] = Field(default_factory=list)


class DecisionResult(BaseModel):
    step_index: int
    action: ApprovalAction
    current_step: int | None
    finished: bool
    chain: ChainRead
