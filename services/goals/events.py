"""What the goals service publishes and consumes."""

from __future__ import annotations

import uuid
from datetime import date

from pydantic import BaseModel, ConfigDict

from services.goals.models import Goal, OutboxEvent, Person
from shared.events import Outbox, Subscription
from shared.people import PeopleProjection

outbox = Outbox("goals", OutboxEvent)
people = PeopleProjection(Person)

subscriptions: tuple[Subscription, ...] = (people.subscription("goals"),)


class GoalCreatedData(BaseModel):
    """What the bus may carry about a goal: ids, title and due date, never the description."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    due_date: date | None


def goal_event_data(goal: Goal) -> dict[str, object]:
    return GoalCreatedData.model_validate(goal).model_dump(mode="json")
