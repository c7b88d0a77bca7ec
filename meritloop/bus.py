"""The bus this version of the system needs, gathered from the components, and its provisioning.

Composition root: it reads every service's and the notifications component's subscriptions,
which the library (shared/events/provision.py) may not import.
"""

from __future__ import annotations

from collections.abc import Callable

import nats

from notifications.consumers import subscriptions as notification_subscriptions
from notifications.service import NotificationService
from notifications.settings import NotificationSettings
from services.feedback.app import DEFINITION as FEEDBACK
from services.goals.app import DEFINITION as GOALS
from services.reviews.app import DEFINITION as REVIEWS
from services.rewards.app import DEFINITION as REWARDS
from shared.database import utcnow
from shared.events import ConsumerPolicy, dead_letter_stream, service_stream
from shared.events.bus import BusCredentials, tls_context
from shared.events.consumer import Subscription
from shared.events.provision import BusPlan, ConsumerPlan, provision
from shared.events.trust import PROVISIONER as PROVISIONER
from shared.settings import SERVICES, Settings


def subscriptions(settings: Settings) -> list[Subscription]:
    """Every durable consumer of every component (handlers unbound: only what they read counts here)."""
    services = (GOALS, FEEDBACK, REVIEWS, REWARDS)
    found = [subscription for definition in services for subscription in definition.subscriptions]
    service = NotificationService(NotificationSettings(**settings.model_dump()), utcnow)
    return [*found, *notification_subscriptions(service)]


def bus_plan(settings: Settings) -> BusPlan:
    policy = ConsumerPolicy(
        max_deliver=settings.consumer_max_deliver,
        backoff=settings.consumer_backoff,
        ack_wait=settings.consumer_ack_wait,
    )
    return BusPlan(
        streams=[
            *(service_stream(name, settings.stream_replicas) for name in SERVICES),
            dead_letter_stream(settings.stream_replicas),
        ],
        consumers=[ConsumerPlan.of(subscription, policy) for subscription in subscriptions(settings)],
    )


async def provision_bus(
    settings: Settings, *, user: str | None, password: str | None, echo: Callable[[str], None] = lambda _line: None
) -> BusPlan:
    """Connect as ``user`` (the provisioner, behind users) and define every stream and consumer."""
    plan = bus_plan(settings)
    credentials = BusCredentials(user, password, tls_context(settings))
    client = await nats.connect(
        settings.nats_url, allow_reconnect=False, connect_timeout=5, **credentials.connect_options()
    )
    try:
        await provision(client.jetstream(timeout=10.0), plan, echo)
    finally:
        await client.close()
    return plan
