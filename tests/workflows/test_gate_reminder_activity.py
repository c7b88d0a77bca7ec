"""The real ``reviews.remind_gate`` activity: one outbox event per idempotency key, ids only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from services.reviews.cycles.activities import ReviewsActivities
from services.reviews.models import OutboxEvent
from shared.database import create_engine, create_sessionmaker
from shared.migrations import upgrade_async
from shared.settings import ServiceName
from workflows.models import GateReminderInput, Step

pytestmark = pytest.mark.database

CYCLE = "8d0c1d2e-5b7a-4c1e-9f3a-0a1b2c3d4e5f"
HR = "1f2e3d4c-5b6a-4978-8a9b-c0d1e2f3a4b5"


@pytest.fixture
async def reviews(database_urls: dict[ServiceName, str]) -> AsyncIterator[ReviewsActivities]:
    url = database_urls["reviews"]
    await upgrade_async("reviews", url)
    engine = create_engine(url)
    yield ReviewsActivities(create_sessionmaker(engine))
    await engine.dispose()


def reminder(number: int) -> GateReminderInput:
    due = datetime(2030, 3, 1, 17, tzinfo=UTC)
    return GateReminderInput(
        idempotency_key=f"{CYCLE}:calibration:reminder:{number}:{due.isoformat()}",
        cycle_id=CYCLE,
        step=Step.calibration,
        number=number,
        due_at=due,
        hr_owner_id=HR,
        pending=["s1", "s2"],
    )


async def test_a_retried_gate_reminder_writes_one_outbox_event(reviews: ReviewsActivities) -> None:
    assert reviews.remind_gate in reviews.all()
    await reviews.remind_gate(reminder(1))
    await reviews.remind_gate(reminder(1))  # a retry of the same reminder: no second event
    async with reviews.sessionmaker() as session:
        rows = (await session.scalars(select(OutboxEvent))).all()
    assert len(rows) == 1
    event = json.loads(rows[0].payload)
    assert event["type"] == "meritloop.reviews.cycle.gate-reminder-due"
    assert event["subject"] == CYCLE
    assert event["data"] == {
        "cycle_id": CYCLE,
        "step": "calibration",
        "number": 1,
        "due_at": "2030-03-01T17:00:00+00:00",
        "notified_id": HR,
        "pending": ["s1", "s2"],
    }

    await reviews.remind_gate(reminder(2))  # the next reminder is an event of its own
    async with reviews.sessionmaker() as session:
        assert len((await session.scalars(select(OutboxEvent))).all()) == 2
