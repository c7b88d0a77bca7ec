"""What a notification is about, and which events bring one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.events import event_type


class Kind(StrEnum):
    task_created = "task_created"
    task_reminder = "task_reminder"
    gate_reminder = "gate_reminder"
    feedback_request = "feedback_request"
    feedback_reminder = "feedback_reminder"
    checkin_reminder = "checkin_reminder"
    approval_step = "approval_step"
    approval_reminder = "approval_reminder"
    upward_feedback = "upward_feedback"
    upward_results = "upward_results"
    dispute_reminder = "dispute_reminder"
    pay_change = "pay_change"
    # Sent at once and never opted out of: someone's work is late and this person must act.
    escalation = "escalation"


OPTIONAL_KINDS: tuple[Kind, ...] = (
    Kind.task_created,
    Kind.task_reminder,
    Kind.gate_reminder,
    Kind.feedback_request,
    Kind.feedback_reminder,
    Kind.checkin_reminder,
    Kind.approval_step,
    Kind.approval_reminder,
    Kind.upward_feedback,
    Kind.upward_results,
    Kind.dispute_reminder,
    Kind.pay_change,
)
# Mailed at once, one mail each. A check-in reminder comes an hour (the series' setting) before
# the meeting: tomorrow's digest would arrive after it.
AT_ONCE: frozenset[Kind] = frozenset({Kind.escalation, Kind.checkin_reminder})
# What waits for the digest unless the person chooses to have it at once.
DIGEST_KINDS: tuple[Kind, ...] = tuple(kind for kind in OPTIONAL_KINDS if kind not in AT_ONCE)

TASK_CREATED = event_type("reviews", "task", "created")
TASK_REMINDER = event_type("reviews", "task", "reminder-due")
TASK_ESCALATED = event_type("reviews", "task", "escalated")
GATE_REMINDER = event_type("reviews", "cycle", "gate-reminder-due")
GATE_ESCALATED = event_type("reviews", "cycle", "gate-escalated")
DISPUTE_REMINDED = event_type("reviews", "dispute", "reminded")
DISPUTE_ESCALATED = event_type("reviews", "dispute", "escalated")
FEEDBACK_REQUESTED = event_type("feedback", "feedback", "requested")
FEEDBACK_REMINDER = event_type("feedback", "feedback-request", "reminder-due")
CHECKIN_REMINDER = event_type("feedback", "checkin", "reminder-due")
UPWARD_OPENED = event_type("feedback", "upward-pulse", "opened")
UPWARD_EXTENDED = event_type("feedback", "upward-pulse", "extended")
UPWARD_RELEASED = event_type("feedback", "upward-pulse", "released")
UPWARD_CANCELLED = event_type("feedback", "upward-pulse", "cancelled")
APPROVAL_OPENED = event_type("rewards", "approval-step", "opened")
APPROVAL_REMINDED = event_type("rewards", "approval-step", "reminded")
APPROVAL_ESCALATED = event_type("rewards", "approval-step", "escalated")
PAY_CHANGE_WRITTEN = event_type("rewards", "pay-change", "written")


@dataclass(frozen=True)
class Source:
    kind: Kind
    # The data fields naming who is told: each holds one person id or a list of them.
    recipients: tuple[str, ...]


SOURCES: dict[str, Source] = {
    TASK_CREATED: Source(Kind.task_created, ("assignee_id",)),
    TASK_REMINDER: Source(Kind.task_reminder, ("assignee_id",)),
    TASK_ESCALATED: Source(Kind.escalation, ("notified_id",)),
    GATE_REMINDER: Source(Kind.gate_reminder, ("notified_id",)),
    GATE_ESCALATED: Source(Kind.escalation, ("notified_id",)),
    # HR's answer to a rating dispute is due: the assignee (the cycle's HR owner) is reminded,
    # and past the due date the assignee's manager (or the cycle's creator) is told.
    DISPUTE_REMINDED: Source(Kind.dispute_reminder, ("assignee_id",)),
    DISPUTE_ESCALATED: Source(Kind.escalation, ("notified_ids",)),
    FEEDBACK_REQUESTED: Source(Kind.feedback_request, ("recipient_ids",)),
    FEEDBACK_REMINDER: Source(Kind.feedback_reminder, ("person_id",)),
    CHECKIN_REMINDER: Source(Kind.checkin_reminder, ("manager_id", "report_id")),
    UPWARD_OPENED: Source(Kind.upward_feedback, ("person_ids",)),
    UPWARD_EXTENDED: Source(Kind.upward_feedback, ("person_ids",)),
    UPWARD_RELEASED: Source(Kind.upward_results, ("manager_ids",)),
    APPROVAL_OPENED: Source(Kind.approval_step, ("person_id",)),
    APPROVAL_REMINDED: Source(Kind.approval_reminder, ("person_id",)),
    APPROVAL_ESCALATED: Source(Kind.escalation, ("person_id",)),
    # HR wrote the person's approved raise into the pay records: the day it applies from.
    PAY_CHANGE_WRITTEN: Source(Kind.pay_change, ("person_id",)),
}


@dataclass(frozen=True)
class Withdrawal:
    """An event that takes back the notifications of ``kind`` not mailed yet whose data ``key`` matches its own."""

    kind: Kind
    key: str


WITHDRAWALS: dict[str, Withdrawal] = {
    # A cancelled pulse takes no answers: an invitation still waiting for the digest would lead nowhere.
    UPWARD_CANCELLED: Withdrawal(Kind.upward_feedback, "pulse_id"),
}


def subjects_of(service: str) -> tuple[str, ...]:
    """The consumed subjects one service publishes (one durable consumer per service's stream)."""
    return tuple(subject for subject in (*SOURCES, *WITHDRAWALS) if subject.split(".")[1] == service)
