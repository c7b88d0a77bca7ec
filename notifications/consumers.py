"""What the notifications component consumes: the directory, the reviews' task and gate events,
feedback requests and check-in reminders, and the pay approval steps."""

from __future__ import annotations

from notifications.kinds import subjects_of
from notifications.models import Person
from notifications.service import NotificationService
from shared.events import Subscription, stream_name
from shared.people import DIRECTORY_STREAM, PeopleProjection

people = PeopleProjection(Person)


def subscriptions(service: NotificationService) -> tuple[Subscription, ...]:
    return (
        people.subscription("notifications"),
        Subscription(
            durable="notifications-reviews",
            stream=DIRECTORY_STREAM,
            subjects=subjects_of("reviews"),
            handler=service.handle,
        ),
        # Each waits (retrying) until its stream exists: the component may start before its publisher.
        Subscription(
            durable="notifications-feedback",
            stream=stream_name("feedback"),
            subjects=subjects_of("feedback"),
            handler=service.handle,
        ),
        Subscription(
            durable="notifications-rewards",
            stream=stream_name("rewards"),
            subjects=subjects_of("rewards"),
            handler=service.handle,
        ),
    )
