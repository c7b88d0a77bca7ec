"""Prometheus counters of the event pipeline, kept in the process's default registry.

Labels are bounded on purpose: a consumer's durable name and a subject (an event type, never
an id: see envelope.py) take a few dozen values in all. The outbox gauges are computed when
/metrics is scraped (shared/metrics.py), not here.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Collection, Iterable
from typing import Any, Protocol

from prometheus_client import Counter, Gauge

PUBLISHED = Counter(
    "meritloop_outbox_published_events",
    "Outbox events the relay published and JetStream acknowledged.",
    ["subject"],
)
HANDLED = Counter(
    "meritloop_consumer_handled_events",
    "Events a consumer handled (or found already handled) and acknowledged.",
    ["consumer", "subject"],
)
REDELIVERIES = Counter(
    "meritloop_consumer_redeliveries",
    "Deliveries of an event to a consumer after its first (a nak'd retry or an ack that came too late).",
    ["consumer", "subject"],
)
DEAD_LETTERS = Counter(
    "meritloop_consumer_dead_letters",
    "Events a consumer gave up on and moved to the dead-letter stream.",
    ["consumer", "subject"],
)

WAITING_FOR_PROVISIONING = Gauge(
    "meritloop_consumer_waiting_for_provisioning",
    "1 while a consumer finds its durable consumer missing, or reading less than it handles: it reads nothing"
    " until `meritloop bus provision` runs.",
    ["consumer"],
)


class _PublishedRow(Protocol):
    @property
    def id(self) -> Any: ...
    @property
    def subject(self) -> str: ...


def count_published(rows: Iterable[_PublishedRow], failed: Collection[Any]) -> None:
    """Count a relay batch once per subject: a labelled inc per row would cost more than the batch's bookkeeping."""
    # Without failures no id is looked up: hashing a UUID is Python code, paid per row.
    subjects = (row.subject for row in rows if row.id not in failed) if failed else (row.subject for row in rows)
    for subject, count in Tally(subjects).items():
        PUBLISHED.labels(subject).inc(count)


def declare_consumer(consumer: str, subjects: Iterable[str]) -> None:
    """Zero series from the start: ``increase()`` cannot see the first dead letter of a series that begins at 1."""
    WAITING_FOR_PROVISIONING.labels(consumer).set(0)
    for subject in subjects:
        if "*" not in subject and ">" not in subject:
            for counter in (HANDLED, REDELIVERIES, DEAD_LETTERS):
                counter.labels(consumer, subject)
