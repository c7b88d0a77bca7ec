"""What the reviews service publishes (its consumers are in ``consumers.py``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.reviews.models import OutboxEvent, Person, ReviewTask
from shared.events import Outbox
from shared.people import PersonEventData

outbox = Outbox("reviews", OutboxEvent)

EVENT_FIELDS = frozenset(PersonEventData.model_fields)
# PersonEventData's fields in order; None marks a required one (a missing value is a KeyError).
EVENT_DEFAULTS = {
    name: None if field.is_required() else (field.default,) for name, field in PersonEventData.model_fields.items()
}

UUID_FIELDS = tuple(
    name for name, field in PersonEventData.model_fields.items() if field.annotation in (uuid.UUID, uuid.UUID | None)
)


def person_event_data(person: Person | dict[str, Any]) -> dict[str, object]:
    """Only what PersonEventData names travels: never salary, gender or any sensitive field."""
    if isinstance(person, dict):
        return PersonEventData.model_validate({k: v for k, v in person.items() if k in EVENT_FIELDS}).model_dump(
            mode="json"
        )
    return PersonEventData.model_validate(person, from_attributes=True).model_dump(mode="json")


def person_verb(person: Person | dict[str, Any]) -> str:
    active = person["active"] if isinstance(person, dict) else person.active
    return "upserted" if active else "deactivated"


async def add_person_events(session: AsyncSession, people: Sequence[dict[str, Any]]) -> int:
    """Outbox rows for many people at once: the importer changes thousands in one transaction.

    ``people`` are the importer's validated rows, so their event data is read off directly
    (PersonEventData's fields, in its order and JSON form) instead of validating a model
    per person, which cost a 100,000-row import more than writing its rows; a test checks
    that the result equals ``person_event_data`` of each stored person.
    """
    items = []
    for person in people:
        data = {
            name: person[name] if default is None else person.get(name, default[0])
            for name, default in EVENT_DEFAULTS.items()
        }
        # The UUID fields are the only ones not JSON-ready as stored: convert those, not every value.
        for name in UUID_FIELDS:
            value = data[name]
            if value is not None:
                data[name] = str(value)
        items.append((person_verb(person), data["id"], data))
    return await outbox.add_many_json(session, "person", items)


def task_event_data(task: ReviewTask) -> dict[str, object]:
    """What the bus carries about a task: ids, step, status and due date, never answers."""
    return {
        "task_id": task.id,
        "cycle_id": str(task.cycle_id),
        "person_id": str(task.person_id),
        "step": task.step,
        "assignee_id": str(task.assignee_id),
        "status": task.status,
        "due_at": task.due_at.isoformat(),
        "revision": task.revision,
    }
