"""Events between services: envelope, outbox, relay, consumers (see docs/architecture.md)."""

from shared.events.bus import EventBus, dead_letter_stream, service_stream
from shared.events.consumer import BatchHandler, ConsumerPolicy, EventConsumer, Handler, Subscription
from shared.events.envelope import CloudEvent, event_type, stream_name
from shared.events.outbox import InboxMixin, Outbox, OutboxMixin
from shared.events.relay import OutboxRelay

__all__ = [
    "BatchHandler",
    "CloudEvent",
    "ConsumerPolicy",
    "EventBus",
    "EventConsumer",
    "Handler",
    "InboxMixin",
    "Outbox",
    "OutboxMixin",
    "OutboxRelay",
    "Subscription",
    "dead_letter_stream",
    "event_type",
    "service_stream",
    "stream_name",
]
