"""Peer ratings in the feedback service, driven by the cycle's events on the real NATS.

The tests stand in for the reviews service on the bus (``person upserted``, ``cycle launched``,
``phase-opened``, ``cancelled``) and read what feedback publishes back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest

from shared.auth import Role
from shared.events import CloudEvent
from shared.peer_ratings import (
    AGGREGATES_STREAM,
    CYCLE_CANCELLED,
    CYCLE_LAUNCHED,
    CYCLE_PHASE_OPENED,
    MIN_PEER_RATERS,
    PEER_AGGREGATE_COMPUTED,
)
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.support import read_stream
from tests.support.bus import publish_person
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@pytest.fixture
async def client(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    # The reviews service runs only so that its stream, which these tests publish on, exists.
    async with service_client("reviews"), service_client("feedback") as client:
        yield client


async def publish_cycle_event(settings: Settings, event_type: str, cycle_id: uuid.UUID, **data: Any) -> None:
    """Stand in for the reviews service: a cycle event as its outbox would publish it."""
    event = CloudEvent(
        source="/meritloop/reviews", type=event_type, subject=str(cycle_id), data={"cycle_id": str(cycle_id), **data}
    )
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    finally:
        await nc.close()


async def people(settings: Settings, client: httpx.AsyncClient, auth: TokenFactory, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    nc = await nats.connect(settings.nats_url)
    try:
        for number, person in enumerate(ids):
            await publish_person(nc.jetstream(), person, 1, f"Peer {number}")
    finally:
        await nc.close()
    for person in ids:

        async def projected(who: uuid.UUID = person) -> bool:
            return (await client.get(f"/people/{who}", headers=auth())).status_code == 200

        await wait_until(projected, message="feedback knows the person")
    return ids


async def open_cycle(settings: Settings, client: httpx.AsyncClient, auth: TokenFactory) -> uuid.UUID:
    cycle = uuid.uuid4()
    await publish_cycle_event(settings, CYCLE_LAUNCHED, cycle, participants=5)

    async def opened() -> bool:
        return (await client.get(f"/review-cycles/{cycle}/peer-ratings", headers=auth())).status_code == 200

    await wait_until(opened, message="peer ratings open")
    return cycle


async def aggregates(settings: Settings, cycle: uuid.UUID) -> list[CloudEvent]:
    return [
        event
        for event in await read_stream(settings, AGGREGATES_STREAM)
        if event.type == PEER_AGGREGATE_COMPUTED and event.data["cycle_id"] == str(cycle)
    ]


async def test_ratings_close_into_anonymous_aggregates(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    ada, bo, cy, dee, eve = await people(settings, client, auth, 5)
    unknown_cycle = await client.put(
        f"/review-cycles/{uuid.uuid4()}/peer-ratings/{eve}", json={"rating": 3}, headers=auth(person_id=ada)
    )
    assert_problem(unknown_cycle, 404)
    cycle = await open_cycle(settings, client, auth)
    base = f"/review-cycles/{cycle}/peer-ratings"

    async def rate(giver: uuid.UUID, receiver: uuid.UUID, rating: int) -> httpx.Response:
        return await client.put(f"{base}/{receiver}", json={"rating": rating}, headers=auth(person_id=giver))

    first = await rate(ada, eve, 1)
    assert first.status_code == 201, first.text
    changed = await rate(ada, eve, 5)
    assert changed.status_code == 200, changed.text
    assert changed.json()["rating"] == 5
    for giver, receiver, rating in ((bo, eve, 4), (cy, eve, 3), (ada, dee, 2), (bo, dee, 2), (eve, ada, 4)):
        assert (await rate(giver, receiver, rating)).status_code == 201
    assert (await rate(cy, ada, 1)).status_code == 201
    assert (await client.delete(f"{base}/{ada}", headers=auth(person_id=cy))).status_code == 204
    assert_problem(await client.delete(f"{base}/{ada}", headers=auth(person_id=cy)), 404)

    # Bad input names the field and stores nothing.
    assert problem_fields(await rate(ada, ada, 3)) == {"receiver_id"}
    assert problem_fields(await rate(ada, uuid.uuid4(), 3)) == {"receiver_id"}
    assert problem_fields(await rate(ada, bo, 6)) == {"rating"}
    assert problem_fields(await rate(ada, bo, 0)) == {"rating"}

    # Each giver lists only what they gave; HR, who gave nothing, sees nothing of anyone's.
    mine = (await client.get(base, headers=auth(person_id=ada))).json()
    assert {(item["receiver_id"], item["rating"]) for item in mine["items"]} == {(str(eve), 5), (str(dee), 2)}
    assert mine["total"] == 2
    assert (await client.get(base, headers=auth(Role.hr))).json()["total"] == 0
    assert_problem(await client.get(f"{base}/aggregate/me", headers=auth(person_id=eve)), 404)

    # Manager review opens: ratings close; an aggregate only for whom k (3) or more rated.
    await publish_cycle_event(settings, CYCLE_PHASE_OPENED, cycle, phase="manager_review")
    events = await wait_until(lambda: _exactly(aggregates(settings, cycle), 1), timeout=10, message="one aggregate")
    found = {event.data["person_id"]: event.data for event in events}
    assert found[str(eve)]["score"] == 75.0  # mean 4 on 1-5
    assert found[str(eve)]["rater_count"] == 3
    # Below k nothing is published, not even the count (dee: two raters, ada: one).
    assert str(dee) not in found
    assert str(ada) not in found
    assert_problem(await client.get(f"{base}/aggregate/me", headers=auth(person_id=dee)), 404)
    assert all(event.data["min_raters"] == MIN_PEER_RATERS for event in events)
    keys = {"cycle_id", "person_id", "score", "rater_count", "min_raters", "revision", "computed_at"}
    assert all(set(event.data) == keys for event in events)  # who rated whom never travels

    closed = await rate(ada, bo, 3)
    assert_problem(closed, 409)
    mine_now = await client.get(f"{base}/aggregate/me", headers=auth(person_id=eve))
    assert mine_now.status_code == 200, mine_now.text
    assert (mine_now.json()["score"], mine_now.json()["rater_count"]) == (75.0, 3)

    # A later phase (or a redelivered event) computes nothing again.
    await publish_cycle_event(settings, CYCLE_PHASE_OPENED, cycle, phase="calibration")
    await publish_cycle_event(settings, CYCLE_PHASE_OPENED, cycle, phase="manager_review")
    marker = await open_cycle(settings, client, auth)  # processed after the two above: same consumer, in order
    assert marker != cycle
    assert len(await aggregates(settings, cycle)) == 1


async def test_cancelled_cycle_publishes_no_aggregate(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    ada, bo, cy = await people(settings, client, auth, 3)
    cycle = await open_cycle(settings, client, auth)
    for giver in (ada, bo, cy):
        if giver != cy:
            response = await client.put(
                f"/review-cycles/{cycle}/peer-ratings/{cy}", json={"rating": 4}, headers=auth(person_id=giver)
            )
            assert response.status_code == 201, response.text
    await publish_cycle_event(settings, CYCLE_CANCELLED, cycle, phase="closed")

    async def refused() -> bool:
        response = await client.put(
            f"/review-cycles/{cycle}/peer-ratings/{ada}", json={"rating": 4}, headers=auth(person_id=bo)
        )
        return response.status_code == 409

    await wait_until(refused, message="ratings closed by the cancellation")
    assert await aggregates(settings, cycle) == []
    assert_problem(
        await client.get(f"/review-cycles/{cycle}/peer-ratings/aggregate/me", headers=auth(person_id=cy)), 404
    )


async def _exactly(found: Any, count: int) -> list[CloudEvent] | None:
    events: list[CloudEvent] = await found
    return events if len(events) == count else None
