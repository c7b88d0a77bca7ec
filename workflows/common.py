"""Pieces both review workflows share: activity options, refusals, time comparison."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.models import Refusal

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Activities are idempotent, so retrying them forever is safe; the interval stays short so a
# service back from an outage catches up quickly.
ACTIVITY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

# Timers fire at their time or a little after; an event this close to now is due.
EPSILON = timedelta(seconds=1)

REPORT_SIGNAL = "participant_report"

# Patch id (``workflow.patched``): runs begun with it name the reviews or rewards service's
# task queue on every activity; runs begun before it schedule on their own (the workflow
# worker's) queue to their end, as their histories show.
SERVICE_QUEUES_PATCH = "activities-on-service-queues"


def refuse(code: Refusal, message: str) -> ApplicationError:
    """The rejection an Update validator raises: ``type`` is the machine-readable code."""
    return ApplicationError(message, type=code.value, non_retryable=True)


def is_due(at: datetime, now: datetime) -> bool:
    return at <= now + EPSILON


def seconds_until(at: datetime, now: datetime) -> float:
    return max((at - now).total_seconds(), EPSILON.total_seconds())
