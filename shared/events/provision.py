"""The bus provisioner: it defines every stream and durable consumer, so no component defines what it reads.

A durable consumer's filter decides which events its reader gets. If the reading component
could set that filter itself, its NATS user would let it read any subject of a stream it
already reads. So components connected as their own users may only look their consumers up
(``EventConsumer`` waits until they exist and read what the component handles), and the
``provisioner`` user (shared/events/trust.py) creates them from the components' own
subscriptions: `meritloop bus provision`, run by ``meritloop up`` and by the deployment's Job
before the services roll out. The provisioner may create and update streams and consumers,
and nothing else: it can neither publish an event nor pull a message.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, StreamConfig

from shared.events.bus import ensure_streams
from shared.events.consumer import ConsumerPolicy, Subscription, consumer_config, filters_of


@dataclass(frozen=True)
class ConsumerPlan:
    stream: str
    config: ConsumerConfig

    @classmethod
    def of(cls, subscription: Subscription, policy: ConsumerPolicy) -> ConsumerPlan:
        return cls(subscription.stream, consumer_config(subscription, policy))

    @property
    def durable(self) -> str:
        return self.config.durable_name or ""


@dataclass(frozen=True)
class BusPlan:
    """Every stream and durable consumer one version of the system reads and writes."""

    streams: Sequence[StreamConfig]
    consumers: Sequence[ConsumerPlan]


async def provision(js: JetStreamContext, plan: BusPlan, echo: Callable[[str], None] = lambda _line: None) -> None:
    """Create or update the plan's streams, then its consumers (create or update, so re-running is safe)."""
    await ensure_streams(js, plan.streams, provisioner=True)
    for stream in plan.streams:
        echo(f"stream {stream.name}: {', '.join(stream.subjects or [])}")
    for consumer in plan.consumers:
        await js.add_consumer(consumer.stream, consumer.config)
        echo(f"consumer {consumer.durable} on {consumer.stream}: {', '.join(filters_of(consumer.config)) or 'all'}")
