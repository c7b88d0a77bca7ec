"""For the service API: turn a refused Update into the refusal code and HTTP status to answer.

try:
    await handle.execute_update(EmployeeReviewWorkflow.complete_task, CompleteTask(...))
except Exception as error:
    refusal = refusal_of(error)
    if refusal is None:
        raise
    raise Conflict(...)  # problem+json with refusal.status, refusal.code, refusal.message
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from workflows.models import REFUSAL_STATUS, Refusal


@dataclass(frozen=True)
class UpdateRefusal:
    code: Refusal
    message: str

    @property
    def status(self) -> int:
        return REFUSAL_STATUS[self.code]


def refusal_of(error: BaseException) -> UpdateRefusal | None:
    """The refusal behind a failed Update, or None when the error is not a refusal (a 5xx)."""
    if isinstance(error, WorkflowUpdateFailedError) and isinstance(error.cause, ApplicationError):
        try:
            return UpdateRefusal(Refusal(error.cause.type or ""), error.cause.message)
        except ValueError:
            return None
    if isinstance(error, RPCError) and error.status is RPCStatusCode.NOT_FOUND:
        # The workflow has ended: the review is over (its tasks are closed in the inbox).
        return UpdateRefusal(Refusal.review_closed, "the review has ended")
    return None
