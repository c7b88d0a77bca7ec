"""What a notification is about, and which events bring one."""

from __future__ import annotations

from enum import StrEnum

from shared.events import event_type


class Kind(StrEnum):
    task_created = "task_created"
    task_reminder = "task_reminder"
    gate_reminder = "gate_reminder"
    # Sent at once and never opted out of: someone's work is late and this person must act.
    escalation = "escalation"


OPTIONAL_KINDS: tuple[Kind, ...] = (Kind.task_created, Kind.task_reminder, Kind.gate_reminder)

TASK_CREATED = event_type("reviews", "task", "created")
TASK_REMINDER = event_type("reviews", "task", "reminder-due")
TASK_ESCALATED = event_type("reviews", "task", "escalated")
GATE_REMINDER = event_type("reviews", "cycle", "gate-reminder-due")
GATE_ESCALATED = event_type("reviews", "cycle", "gate-escalated")

# Event type -> (kind, the data field naming who is told).
SOURCES: dict[str, tuple[Kind, str]] = {
    TASK_CREATED: (Kind.task_created, "assignee_id"),
    TASK_REMINDER: (Kind.task_reminder, "assignee_id"),
    TASK_ESCALATED: (Kind.escalation, "notified_id"),
    GATE_REMINDER: (Kind.gate_reminder, "notified_id"),
    GATE_ESCALATED: (Kind.escalation, "notified_id"),
}
