"""``GET /metrics`` of the notifications component: its HTTP traffic, its consumers and its mails."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifications.kinds import GATE_ESCALATED
from tests.conftest import TokenFactory
from tests.notifications.conftest import Notifier

pytestmark = pytest.mark.database


async def scrape(notifier: Notifier) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await notifier.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_requests_consumed_events_and_mails_without_an_outbox(
    notifier: Notifier, auth: TokenFactory
) -> None:
    before = await scrape(notifier)
    boss = await notifier.person("Grace Hopper")
    await notifier.known(boss)
    notifier.inbox.refuse = 1
    gate = {"cycle_id": str(uuid.uuid4()), "step": "calibration", "escalation_index": 0, "target": "hr"}
    await notifier.publish(GATE_ESCALATED, {**gate, "notified_id": str(boss), "pending": []})
    await notifier.settle(rounds=5)
    notifier.clock.advance_to(notifier.clock.now + timedelta(seconds=10))
    await notifier.mails(1)
    mine = await notifier.client.get("/notification-preferences/me", headers=auth(person_id=boss))
    assert mine.status_code == 200

    after = await scrape(notifier)
    mails = "meritloop_notification_mails_total"
    assert (
        value(after, mails, kind="escalation", outcome="retried")
        - value(before, mails, kind="escalation", outcome="retried")
        == 1
    )
    assert (
        value(after, mails, kind="escalation", outcome="sent") - value(before, mails, kind="escalation", outcome="sent")
        == 1
    )
    requests = "meritloop_http_requests_total"
    route = {"service": "notifications", "method": "GET", "route": "/notification-preferences/me", "status": "200"}
    assert value(after, requests, **route) - value(before, requests, **route) == 1
    handled = [
        key
        for key in after
        if key[0] == "meritloop_consumer_handled_events_total" and ("consumer", "notifications-reviews") in key[1]
    ]
    assert handled, "the consumers report what they handled"
    # It publishes nothing: no outbox gauge for it (an always-zero backlog would be a lie of omission).
    assert not [
        key for key in after if key[0].startswith("meritloop_outbox_") and ("service", "notifications") in key[1]
    ]
