"""What the notifications component consumes: the directory and the reviews' task and gate events."""

from __future__ import annotations

from notifications.kinds import SOURCES
from notifications.models import Person
from notifications.service import NotificationService
from shared.events import Subscription
from shared.people import DIRECTORY_STREAM, PeopleProjection

people = PeopleProjection(Person)


def subscriptions(service: NotificationService) -> tuple[Subscription, ...]:
    return (
        people.subscription("notifications"),
        Subscription(
            durable="notifications-reviews",
            stream=DIRECTORY_STREAM,
            subjects=tuple(SOURCES),
            handler=service.handle,
        ),
    )
