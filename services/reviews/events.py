"""What the reviews service publishes (its consumers are in ``consumers.py``)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

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


def person_event_rows(
    people: Sequence[dict[str, Any]], created: Mapping[str, Sequence[Any]] | None = None
) -> list[tuple[Any, ...]]:
    """Outbox rows (for ``outbox.add_rows``) of many people: the importer changes thousands at once.

    ``created`` (new people, column by column: every PersonEventData field a list) come
    first, then ``people`` (validated rows, one dict each). The event data is read off
    directly (PersonEventData's fields, in its order and JSON form) instead of validating
    a model per person, which cost a 100,000-row import more than writing its rows; a test
    checks that the result equals ``person_event_data`` of each stored person.
    """
    items = person_event_items(created) if created else []
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
        items.append((person_verb(person), str(data["id"]), json.dumps(data, separators=(",", ":"))))
    return outbox.encoded_rows("person", items)


# json.dumps(data, separators=(",", ":")) of PersonEventData's fields in order, one %s per value.
_EVENT_TEMPLATE = "{" + ",".join(f"{json.dumps(name)}:%s" for name in EVENT_DEFAULTS) + "}"


_SCALARS = {str, bool, int, type(None)}
_TEXT = {str}
_NONE = {type(None)}


def _json_value(value: object) -> str:
    """``json.dumps(value)``: the values a directory column holds without a call of it per value."""
    if value.__class__ is str:
        return encode_basestring_ascii(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value.__class__ is int:
        return int.__repr__(value)
    return json.dumps(value)


def person_event_items(columns: Mapping[str, Sequence[Any]]) -> list[tuple[str, str, str]]:
    """``(verb, subject, data JSON)`` per person given column by column: the bytes of ``json.dumps(data)``.

    Each field is encoded over its whole column and the documents put together by one
    template, instead of a dict and a ``json.dumps`` per person.
    """
    ids = [str(value) for value in columns["id"]]
    encoded: list[list[str]] = []
    for name in EVENT_DEFAULTS:
        column = columns[name]
        kinds = set(map(type, column))
        if name == "id":
            encoded.append(list(map(encode_basestring_ascii, ids)))
        elif name in UUID_FIELDS:
            encoded.append(["null" if value is None else encode_basestring_ascii(str(value)) for value in column])
        elif kinds == _TEXT:
            encoded.append(list(map(encode_basestring_ascii, column)))
        elif kinds <= _SCALARS and len(kinds - _NONE) <= 1:
            # One kind of value (a dict keeps 1 and True apart only then), or None: repeated
            # values (departments, time zones, active, version) are each encoded once.
            distinct = {value: _json_value(value) for value in set(column)}
            encoded.append(list(map(distinct.__getitem__, column)))
        else:
            encoded.append(list(map(_json_value, column)))
    documents = list(map(_EVENT_TEMPLATE.__mod__, zip(*encoded, strict=True)))
    verbs = ["upserted" if active else "deactivated" for active in columns["active"]]
    return list(zip(verbs, ids, documents, strict=True))


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
