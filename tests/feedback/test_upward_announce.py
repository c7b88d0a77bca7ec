"""What feedback tells the bus about upward pulses (for the notifications component): who may now
answer, who is asked again when the closing time moves, which managers' results were released, and
which pulse was cancelled. Ids and times only; each person told once per change."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.feedback.models import OutboxEvent
from shared.database import utcnow
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED
from shared.settings import Settings
from shared.upward_feedback import DEADLINE_EXTENDED, FOLLOWED_STEP, UPWARD_SCOPED, cycle_pulse_id
from tests.feedback.support import Org
from tests.feedback.test_upward_cycles import BASE, handled, launched, publish, pulses_of, scoped
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

OPENED = "meritloop.feedback.upward-pulse.opened"
EXTENDED = "meritloop.feedback.upward-pulse.extended"
RELEASED = "meritloop.feedback.upward-pulse.released"
CANCELLED = "meritloop.feedback.upward-pulse.cancelled"


async def announced(client: httpx.AsyncClient, subject: str, pulse_id: str) -> list[dict[str, Any]]:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.subject == subject))
        payloads = [json.loads(row.payload) for row in rows]
    return [p["data"] for p in payloads if p["data"]["pulse_id"] == pulse_id]


async def test_a_standalone_pulse_names_everyone_with_a_manager_and_the_close_names_the_released(
    client: httpx.AsyncClient, org: Org
) -> None:
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat(), "min_raters": 3}
    pulse = (await client.post(BASE, json=body, headers=org.headers("hr"))).json()
    [opened] = await announced(client, OPENED, pulse["id"])
    # Active with a manager: giver, receiver, manager, colleague (not skip, HR, admin, or the deactivated).
    expected = {str(org.id(who)) for who in ("giver", "receiver", "manager", "colleague")}
    assert set(opened["person_ids"]) == expected
    assert set(opened) == {"pulse_id", "closes_at", "person_ids"}, "no title on the bus"

    # One answer about Manager: below k, so the close names nobody (tests/web/test_upward_pages.py
    # follows a manager at k to her results mail).
    answered = await client.post(f"{BASE}/{pulse['id']}/answers", json={"rating": 4}, headers=org.headers("receiver"))
    assert answered.status_code == 201, answered.text
    closed = await client.post(f"{BASE}/{pulse['id']}/close", headers=org.headers("hr"))
    assert closed.json()["status"] == "closed"
    assert await announced(client, RELEASED, pulse["id"]) == []


async def test_a_cycle_pulse_names_its_participants_once_whichever_event_comes_first(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    cycle = uuid.uuid4()
    pulse_id = str(cycle_pulse_id(cycle))
    closes_at = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver")))
    launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at))
    await wait_until(lambda: handled(client, launch), message="the launch handled")
    # Scoped before the launch: named when the pulse opens.
    [first] = await announced(client, OPENED, pulse_id)
    assert first["person_ids"] == [str(org.id("receiver"))]
    assert first["closes_at"] == closes_at.isoformat()

    # Scoped after it (one of them again): only the new one is named; a redelivered launch names nobody.
    await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at), event_id=launch.id)
    later = await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver"), org.id("giver")))
    await wait_until(lambda: handled(client, later), message="the later scope handled")
    opened = await announced(client, OPENED, pulse_id)
    assert [event["person_ids"] for event in opened] in (
        [[str(org.id("receiver"))], [str(org.id("giver"))]],
        [[str(org.id("giver"))], [str(org.id("receiver"))]],
    )


@pytest.mark.parametrize("tied_to_a_cycle", [False, True])
async def test_a_moved_closing_time_is_announced_to_everyone_asked_answered_or_not(
    client: httpx.AsyncClient, org: Org, tied_to_a_cycle: bool
) -> None:
    # HR's pulse tied to a cycle by ``cycle_id`` still asks everyone with a manager (it has no scope).
    cycle_id = str(uuid.uuid4()) if tied_to_a_cycle else None
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat(), "cycle_id": cycle_id}
    pulse = (await client.post(BASE, json=body, headers=org.headers("hr"))).json()
    answered = await client.post(f"{BASE}/{pulse['id']}/answers", json={"rating": 4}, headers=org.headers("receiver"))
    assert answered.status_code == 201, answered.text
    later = (utcnow() + timedelta(days=14)).replace(microsecond=0)
    moved = await client.post(
        f"{BASE}/{pulse['id']}/extend", json={"closes_at": later.isoformat()}, headers=org.headers("hr")
    )
    assert moved.status_code == 200, moved.text
    [extended] = await announced(client, EXTENDED, pulse["id"])
    # The receiver answered and is named all the same: a list without them would tell who answered.
    [opened] = await announced(client, OPENED, pulse["id"])
    assert set(extended["person_ids"]) == set(opened["person_ids"])
    assert str(org.id("receiver")) in extended["person_ids"]
    assert extended["closes_at"] == later.isoformat()
    assert set(extended) == {"pulse_id", "closes_at", "person_ids"}

    # The same time again moves nothing and tells nobody; a refused move tells nobody either.
    again = await client.post(
        f"{BASE}/{pulse['id']}/extend", json={"closes_at": later.isoformat()}, headers=org.headers("hr")
    )
    assert again.status_code == 200, again.text
    earlier = (utcnow() + timedelta(days=10)).isoformat()
    refused = await client.post(f"{BASE}/{pulse['id']}/extend", json={"closes_at": earlier}, headers=org.headers("hr"))
    assert refused.status_code == 422
    assert len(await announced(client, EXTENDED, pulse["id"])) == 1


async def test_a_cycle_pulse_moved_later_asks_its_scope_again(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    cycle = uuid.uuid4()
    pulse_id = str(cycle_pulse_id(cycle))
    closes_at = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at))
    scope = await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver"), org.id("giver")))
    await wait_until(lambda: handled(client, launch), message="the launch handled")
    await wait_until(lambda: handled(client, scope), message="the scope handled")
    later = closes_at + timedelta(days=3)
    moved = await client.post(
        f"{BASE}/{pulse_id}/extend", json={"closes_at": later.isoformat()}, headers=org.headers("hr")
    )
    assert moved.status_code == 200, moved.text
    [extended] = await announced(client, EXTENDED, pulse_id)
    assert sorted(extended["person_ids"]) == sorted([str(org.id("receiver")), str(org.id("giver"))])
    assert extended["closes_at"] == later.isoformat()


async def test_a_cycle_pulse_left_at_its_default_time_follows_the_self_assessment_deadline_later_only(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    following, chosen = uuid.uuid4(), uuid.uuid4()
    closes_at = (utcnow() + timedelta(days=5)).replace(microsecond=0)
    for cycle, follows in ((following, FOLLOWED_STEP), (chosen, None)):
        launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, closes_at, follows=follows))
        scope = await publish(settings, UPWARD_SCOPED, scoped(cycle, org.id("receiver"), org.id("giver")))
        await wait_until(partial(handled, client, launch), message="the launch handled")
        await wait_until(partial(handled, client, scope), message="the scope handled")

    async def extend(cycle: uuid.UUID, step: str, deadline: datetime, event_id: uuid.UUID | None = None) -> uuid.UUID:
        data = {"cycle_id": str(cycle), "step": step, "deadline": deadline.isoformat()}
        event = await publish(settings, DEADLINE_EXTENDED, data, event_id=event_id)
        await wait_until(lambda: handled(client, event), message=f"{step} extended to {deadline}")
        return event.id

    later = closes_at + timedelta(days=4)
    # Another step's deadline, or an earlier one: the pulse keeps its time, nobody is told.
    await extend(following, "manager_review", later)
    await extend(following, FOLLOWED_STEP, closes_at - timedelta(days=1))
    await extend(following, FOLLOWED_STEP, closes_at)
    # HR chose the other pulse's time: it does not follow.
    await extend(chosen, FOLLOWED_STEP, later)
    assert [(p.closes_at, p.follows_step) for p in await pulses_of(client, chosen)] == [(closes_at, None)]
    assert [p.closes_at for p in await pulses_of(client, following)] == [closes_at]
    for cycle in (following, chosen):
        assert await announced(client, EXTENDED, str(cycle_pulse_id(cycle))) == []

    moved = await extend(following, FOLLOWED_STEP, later)
    await extend(following, FOLLOWED_STEP, later, event_id=moved)  # redelivered: handled once
    assert [p.closes_at for p in await pulses_of(client, following)] == [later]
    [told] = await announced(client, EXTENDED, str(cycle_pulse_id(following)))
    assert sorted(told["person_ids"]) == sorted([str(org.id("receiver")), str(org.id("giver"))])
    assert told["closes_at"] == later.isoformat()
    # The participants' inbox shows the new time.
    read = (await client.get(f"{BASE}/{cycle_pulse_id(following)}", headers=org.headers("receiver"))).json()
    assert read["closes_at"].replace("Z", "+00:00") == later.isoformat()


async def test_a_cancelled_pulse_is_told_by_its_id_alone_once_whoever_cancels_it(
    client: httpx.AsyncClient, settings: Settings, org: Org
) -> None:
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()}
    pulse = (await client.post(BASE, json=body, headers=org.headers("hr"))).json()
    assert (await client.post(f"{BASE}/{pulse['id']}/cancel", headers=org.headers("hr"))).status_code == 200
    assert await announced(client, CANCELLED, pulse["id"]) == [{"pulse_id": pulse["id"]}]

    # A cycle's pulse cancelled with its cycle: told the same way, and a redelivery tells nobody again.
    cycle = uuid.uuid4()
    pulse_id = str(cycle_pulse_id(cycle))
    launch = await publish(settings, CYCLE_LAUNCHED, launched(cycle, utcnow() + timedelta(days=5)))
    await wait_until(lambda: handled(client, launch), message="the launch handled")
    cancel = await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(cycle)})
    await wait_until(lambda: handled(client, cancel), message="the cancellation handled")
    await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(cycle)}, event_id=cancel.id)
    # The consumer takes events in order: once a later one is handled, the redelivery was too.
    later = await publish(settings, CYCLE_CANCELLED, {"cycle_id": str(uuid.uuid4())})
    await wait_until(lambda: handled(client, later), message="the redelivery and a later event handled")
    assert await announced(client, CANCELLED, pulse_id) == [{"pulse_id": pulse_id}]
    assert await announced(client, RELEASED, pulse_id) == []
