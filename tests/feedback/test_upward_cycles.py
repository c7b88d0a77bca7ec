"""Upward feedback opened by a review cycle's events, the inbox of open pulses, and the close at
the closing time; the reviews service's events are published here in its stead, through the
real bus (tests/cycles/test_upward_cycle.py runs the same with the reviews service itself)."""

from __future__ import annotations

import asyncio
import functools
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import func, select

from services.feedback.models import (
    ContentKey,
    InboxEvent,
    OutboxEvent,
    TallyKey,
    UpwardAnswer,
    UpwardEarlyChange,
    UpwardPulse,
)
from services.feedback.upward.cycles import CyclePulses
from shared.database import utcnow
from shared.events import CloudEvent
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED
from shared.settings import Settings
from shared.upward_feedback import DEADLINE_EXTENDED, UPWARD_SCOPED, UpwardFeedbackPlan, cycle_pulse_id
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.support import ROLES, Org, ensure_directory_stream, make_org, person, publish_people, wait_projected
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

BASE = "/upward-feedback"
DURABLE = "feedback-upward-cycles"


async def publish(
    settings: Settings, event_type: str, data: dict[str, Any], event_id: uuid.UUID | None = None
) -> CloudEvent:
    """A reviews event, as the reviews service's outbox relay would publish it; with ``event_id``,
    that event again past JetStream's duplicate window (as a redelivery reaches the consumer)."""
    event = CloudEvent(
        id=event_id or uuid.uuid4(),
        source="/meritloop/reviews",
        type=event_type,
        subject=str(data["cycle_id"]),
        data=data,
    )
    message_id = str(event.id) if event_id is None else f"{event.id}-again"
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": message_id})
    finally:
        await nc.close()
    return event


def launched(
    cycle: uuid.UUID, closes_at: datetime | None, min_raters: int = 3, follows: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"cycle_id": str(cycle), "participants": 2}
    if closes_at is not None:
        data["upward_feedback"] = {"closes_at": closes_at.isoformat(), "min_raters": min_raters, "follows": follows}
    return data


def scoped(cycle: uuid.UUID, *people: uuid.UUID) -> dict[str, Any]:
    return {"cycle_id": str(cycle), "person_ids": [str(p) for p in people], "chunk": 1, "chunks": 1}


async def inbox(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(f"{BASE}/inbox", headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


async def handled(client: httpx.AsyncClient, event: CloudEvent) -> bool:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        found = await session.get(InboxEvent, (DURABLE, event.id))
    return found is not None


async def pulses_of(client: httpx.AsyncClient, cycle: uuid.UUID) -> list[UpwardPulse]:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(await session.scalars(select(UpwardPulse).where(UpwardPulse.cycle_id == cycle)))


async def count(client: httpx.AsyncClient, model: Any, *where: Any) -> int:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_the_inbox_across_roles(client: httpx.AsyncClient, org: Org) -> None:
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()}
    pulse = (await client.post(BASE, json=body, headers=org.headers("hr"))).json()
    closed = (await client.post(BASE, json=body, headers=org.headers("hr"))).json()
    assert (await client.post(f"{BASE}/{closed['id']}/close", headers=org.headers("hr"))).status_code == 200
    seen = {}
    for who in ROLES:
        response = await client.get(f"{BASE}/inbox", headers=org.headers(who))
        seen[who] = response.status_code if response.status_code != 200 else [p["id"] for p in response.json()]
    # Everyone active with a manager is asked (a closed pulse is nobody's any more); no manager:
    # nothing to answer; a deactivated person's token opens nothing.
    assert seen == {
        "giver": [pulse["id"]],
        "receiver": [pulse["id"]],
        "manager": [pulse["id"]],
        "skip": [],
        "hr": [],
        "admin": [],
        "colleague": [pulse["id"]],
        "gone": 403,
    }
    answered = await client.post(f"{BASE}/{pulse['id']}/answers", json={"rating": 4}, headers=org.headers("giver"))
    assert answered.status_code == 201
    assert [p["answered"] for p in await inbox(client, org.headers("giver"))] == [True]
    assert [p["answered"] for p in await inbox(client, org.headers("colleague"))] == [False]


async def test_a_cycle_pulse_is_opened_once_answered_by_its_participants_and_cancelled_with_the_cycle(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    cycle = uuid.uuid4()
    pulse_id = str(cycle_pulse_id(cycle))
    closes_at = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    # The scope may arrive before the launch: it is kept for the pulse to come.
    await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver"), org.id("giver")))
    launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at))

    async def opened() -> list[dict[str, Any]] | None:
        found = [p for p in await inbox(client, org.headers("receiver")) if p["id"] == pulse_id]
        return found or None

    (item,) = await wait_until(opened, message="the cycle's pulse in the participant's inbox")
    assert (item["cycle_id"], item["status"], item["min_raters"], item["answered"]) == (str(cycle), "open", 3, False)
    assert datetime.fromisoformat(item["closes_at"]) == closes_at
    # Not a participant: not asked, and refused; a participant answers about their own manager.
    assert pulse_id not in [p["id"] for p in await inbox(client, org.headers("colleague"))]
    refused = await client.post(f"{BASE}/{pulse_id}/answers", json={"rating": 2}, headers=org.headers("colleague"))
    assert refused.status_code == 403, refused.text
    for who in ("receiver", "giver"):
        body = {"rating": 4, "comment": f"upward-cycle-comment-{who}-6120"}
        answered = await client.post(f"{BASE}/{pulse_id}/answers", json=body, headers=org.headers(who))
        assert answered.status_code == 201, answered.text
    assert await count(client, UpwardAnswer, UpwardAnswer.pulse_id == uuid.UUID(pulse_id)) == 2

    # The same launch redelivered, and a second launch event with other values: still one pulse,
    # as first opened. A later scope event shows when the consumer has passed them.
    await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at), event_id=launch.id)
    again = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at + timedelta(days=1), min_raters=9))
    await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("colleague")))

    async def colleague_asked() -> bool:
        return pulse_id in [p["id"] for p in await inbox(client, org.headers("colleague"))]

    await wait_until(colleague_asked, message="the colleague added to the scope")
    assert await handled(client, again)
    (pulse,) = await pulses_of(client, cycle)
    assert (pulse.closes_at, pulse.min_raters) == (closes_at, 3)

    # HR takes the colleague out of the cycle: no longer asked; a review closed otherwise (the
    # person left) changes no one's scope.
    review_closed = "meritloop.reviews.review.closed"
    left = {"cycle_id": str(cycle), "person_id": str(org.id("receiver")), "reason": "participant_left"}
    await publish(settings, review_closed, left)
    removed = {"cycle_id": str(cycle), "person_id": str(org.id("colleague")), "reason": "removed"}
    out = await publish(settings, review_closed, removed)
    await wait_until(lambda: handled(client, out), message="the removal handled")
    assert not await colleague_asked()
    refused = await client.post(f"{BASE}/{pulse_id}/answers", json={"rating": 2}, headers=org.headers("colleague"))
    assert refused.status_code == 403, refused.text
    assert pulse_id in [p["id"] for p in await inbox(client, org.headers("receiver"))]

    # A cycle without the option opens none.
    plain = uuid.uuid4()
    without = await publish(settings, CYCLE_LAUNCHED, launched(plain, None))
    await wait_until(lambda: handled(client, without), message="the plain launch handled")
    assert await pulses_of(client, plain) == []

    # Cancelled before it closes: nothing is released, the answers and their keys are gone.
    answer_ids = [uuid.UUID(str(a)) for a in await _answer_ids(client, pulse_id)]
    cancelled = await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(cycle)})
    await wait_until(lambda: handled(client, cancelled), message="the cancellation handled")
    read = (await client.get(f"{BASE}/{pulse_id}", headers=org.headers("receiver"))).json()
    assert read["status"] == "cancelled"
    assert await count(client, UpwardAnswer, UpwardAnswer.pulse_id == uuid.UUID(pulse_id)) == 0
    assert await count(client, ContentKey, ContentKey.object_id.in_(answer_ids)) == 0
    # The ratings' tally key is destroyed as at a release: no key to open anything left behind.
    tombstone = TallyKey.scope_id == uuid.UUID(pulse_id), TallyKey.wrapped_key.is_(None)
    assert await count(client, TallyKey, *tombstone) == 1
    assert (await client.get(f"{BASE}/{pulse_id}/results/me", headers=org.headers("manager"))).status_code == 404
    assert (await client.get(f"{BASE}/{pulse_id}/results/org-units", headers=org.headers("hr"))).status_code == 404
    late = await client.post(f"{BASE}/{pulse_id}/answers", json={"rating": 5}, headers=org.headers("giver"))
    assert late.status_code == 409
    assert pulse_id not in [p["id"] for p in await inbox(client, org.headers("receiver"))]
    # HR closing it afterwards computes nothing either.
    assert (await client.post(f"{BASE}/{pulse_id}/close", headers=org.headers("hr"))).json()["status"] == "cancelled"


async def test_a_cycles_extension_or_cancellation_handled_before_its_launch_applies_once_the_pulse_opens(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    """A launch whose handling failed is redelivered after the cycle's later events were handled."""
    closes_at = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    later = closes_at + timedelta(days=4)
    extended, cancelled = uuid.uuid4(), uuid.uuid4()
    step = "self_assessment"
    for deadline in (later, closes_at + timedelta(days=2)):  # an earlier one told after never shortens it
        data = {"cycle_id": str(extended), "step": step, "deadline": deadline.isoformat()}
        told = await publish(settings, DEADLINE_EXTENDED, data)
        await wait_until(functools.partial(handled, client, told), message="the extension handled")
    gone = await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(cancelled)})
    await wait_until(lambda: handled(client, gone), message="the cancellation handled")
    assert await count(client, UpwardEarlyChange) == 2

    for cycle in (extended, cancelled):
        await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver")))
        launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at, follows=step))
        await wait_until(functools.partial(handled, client, launch), message="the launch handled")
    (open_pulse,) = await pulses_of(client, extended)
    assert (open_pulse.status, open_pulse.closes_at) == ("open", later)
    (dropped,) = await pulses_of(client, cancelled)
    assert dropped.status == "cancelled"
    asked = [p["id"] for p in await inbox(client, org.headers("receiver"))]
    assert str(open_pulse.id) in asked
    assert str(dropped.id) not in asked
    # Read once: a second launch event changes nothing, and nothing is kept for them any more.
    assert await count(client, UpwardEarlyChange) == 0
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        opened = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.subject == str(dropped.id))
        )
    assert opened == 0  # nobody was invited to the cancelled cycle's pulse


async def _answer_ids(client: httpx.AsyncClient, pulse_id: str) -> list[uuid.UUID]:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(await session.scalars(select(UpwardAnswer.id).where(UpwardAnswer.pulse_id == uuid.UUID(pulse_id))))


async def test_pulses_close_and_release_at_their_closing_time(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory
) -> None:
    settings.feedback_reminder_interval = 0.2
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        org = await make_org(settings.nats_url, client, auth)
        extra = [person(f"Report{i}", manager=org.manager.id) for i in range(2)]
        await publish_people(settings.nats_url, extra)
        await wait_projected(client, auth, extra)
        cycle = uuid.uuid4()
        pulse_id = str(cycle_pulse_id(cycle))
        closes_at = utcnow() + timedelta(seconds=4)
        everyone = [org.id("receiver"), org.id("giver"), org.id("colleague"), *(p.id for p in extra)]
        await publish(settings, UPWARD_SCOPED, scoped(cycle, *everyone))
        await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at))
        standalone = await client.post(
            BASE, json={"title": "Pulse", "closes_at": closes_at.isoformat()}, headers=org.headers("hr")
        )
        assert standalone.status_code == 201

        async def opened() -> bool:
            return pulse_id in [p["id"] for p in await inbox(client, org.headers("receiver"))]

        await wait_until(opened, message="the cycle's pulse opened")
        # The manager's three reports answer (k = 3); other_lead's two reports stay below k.
        answers = [
            (org.headers("receiver"), 5),
            (auth(person_id=extra[0].id), 4),
            (auth(person_id=extra[1].id), 3),
            (org.headers("giver"), 1),
            (org.headers("colleague"), 2),
        ]
        for headers, rating in answers:
            response = await client.post(f"{BASE}/{pulse_id}/answers", json={"rating": rating}, headers=headers)
            assert response.status_code == 201, response.text
        # Nothing before the closing time.
        assert (await client.get(f"{BASE}/{pulse_id}/results/me", headers=org.headers("manager"))).status_code == 404

        async def closed(which: str) -> bool:
            read = await client.get(f"{BASE}/{which}", headers=org.headers("hr"))
            return bool(read.json()["status"] == "closed")

        await wait_until(lambda: closed(pulse_id), timeout=30, message="the sweep closed the cycle's pulse")
        await wait_until(lambda: closed(standalone.json()["id"]), timeout=30, message="and the standalone one")
        mine = (await client.get(f"{BASE}/{pulse_id}/results/me", headers=org.headers("manager"))).json()
        assert (mine["released"], mine["score"], mine["rater_count"]) == (True, 75.0, 3)
        assert org.giver.manager_id is not None
        below = (await client.get(f"{BASE}/{pulse_id}/results/me", headers=auth(person_id=org.giver.manager_id))).json()
        assert below == {"pulse_id": pulse_id, "released": False, "score": None, "rater_count": None, "comments": []}
        units = (await client.get(f"{BASE}/{pulse_id}/results/org-units", headers=org.headers("hr"))).json()
        assert units == [{"org_unit": None, "score": 75.0, "rater_count": 3, "managers": 1}]
        late = await client.post(f"{BASE}/{pulse_id}/answers", json={"rating": 1}, headers=auth(person_id=extra[0].id))
        assert late.status_code == 409
        # A cancellation after the close changes nothing: it was released.
        cancelled = await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(cycle)})
        await wait_until(lambda: handled(client, cancelled), message="the late cancellation handled")
        again = (await client.get(f"{BASE}/{pulse_id}/results/me", headers=org.headers("manager"))).json()
        assert (again["released"], again["score"]) == (True, 75.0)


async def test_a_cancellation_handled_beside_the_launch_waits_for_it_and_cancels_the_pulse(
    client: httpx.AsyncClient,
) -> None:
    """Two replicas handle the launch and the cancellation at once: the cancellation must not record
    itself as early while the launch's pulse is still uncommitted (an open pulse of a cancelled cycle)."""
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    cycle = uuid.uuid4()
    plan = UpwardFeedbackPlan(closes_at=utcnow() + timedelta(days=5))

    async def cancel() -> bool:
        async with sessionmaker() as session, session.begin():
            return await CyclePulses(session).cancel(cycle)

    async with sessionmaker() as launching:
        opened = await CyclePulses(launching).open(cycle, plan)
        assert opened.status == "open"
        cancelling = asyncio.create_task(cancel())
        await asyncio.sleep(0.5)
        assert not cancelling.done(), "the cancellation did not wait for the launch"
        await launching.commit()
    assert await asyncio.wait_for(cancelling, 10) is True
    (pulse,) = await pulses_of(client, cycle)
    assert pulse.status == "cancelled"
    assert await count(client, UpwardEarlyChange, UpwardEarlyChange.pulse_id == pulse.id) == 0
