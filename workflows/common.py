"""Pieces both review workflows share: activity options, refusals, time comparison."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from workflows.models import DeadlinePolicy, Refusal

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


@dataclass(frozen=True)
class TaskTimeline:
    """What is due on an open task now, and when to look again: the one rule of review tasks
    (EmployeeReviewWorkflow._follow_task) and approval steps (PayApprovalChainWorkflow):
    reminders every ``reminder_every`` from the opening until the deadline, overdue at the
    deadline, the escalations at their delays after it, the expiry at the closing time."""

    overdue: bool  # the deadline has passed and the task is not marked overdue yet
    escalation: int | None  # the index of an escalation that is due
    reminder: int | None  # the number of a reminder that is due
    wake: datetime | None  # the next time something falls due (None: nothing more)
    expired: bool = False  # the step's closing time has passed (tasks that close)


def task_timeline(
    *,
    now: datetime,
    opened_at: datetime,
    due_at: datetime,
    marked_overdue: bool,
    reminders_sent: int,
    escalations_done: int,
    policy: DeadlinePolicy,
    closes_at: datetime | None = None,
) -> TaskTimeline:
    """In this order: overdue, an escalation, the close (expiry), a reminder; else when to wake.

    ``closes_at`` is the step's closing time for a task that expires (a review task); an
    approval step has none and waits for its decision.
    """
    if not marked_overdue and is_due(due_at, now):
        return TaskTimeline(overdue=True, escalation=None, reminder=None, wake=None)
    wake: list[datetime] = []
    if escalations_done < len(policy.escalation):
        at = due_at + policy.escalation[escalations_done].after
        if is_due(at, now):
            return TaskTimeline(overdue=False, escalation=escalations_done, reminder=None, wake=None)
        wake.append(at)
    if closes_at is not None:
        if is_due(closes_at, now):
            return TaskTimeline(overdue=False, escalation=None, reminder=None, wake=None, expired=True)
        wake.append(closes_at)
    if policy.reminder_every is not None:
        number = reminders_sent + 1
        at = opened_at + policy.reminder_every * number
        if at < due_at:
            if is_due(at, now):
                # After a long outage send one reminder, numbered by the cadence.
                number = max(number, int((now - opened_at) / policy.reminder_every))
                return TaskTimeline(overdue=False, escalation=None, reminder=number, wake=None)
            wake.append(at)
    if not marked_overdue:
        wake.append(due_at)
    return TaskTimeline(overdue=False, escalation=None, reminder=None, wake=min(wake, default=None))
