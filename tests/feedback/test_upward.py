"""Upward feedback: reports rate and comment on their manager; the manager sees an aggregate and
comments without names only at k or more answers, HR an aggregate per org unit over the managers
released at k (a unit never includes a suppressed manager, which differencing would expose)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.feedback.models import ContentKey, OutboxEvent, TallyKey, UpwardAnswer
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.feedback.support import ROLES, Org, person, publish_people, wait_projected
from tests.support.http import assert_problem, problem_fields
from tests.support.stored import stored_bytes

pytestmark = pytest.mark.database

BASE = "/upward-feedback"


async def _reports(client: httpx.AsyncClient, settings: Settings, auth: TokenFactory, org: Org) -> list[uuid.UUID]:
    """Three more active reports of the manager (with the receiver: four)."""
    extra = [person(f"Report{i}", manager=org.manager.id) for i in range(3)]
    await publish_people(settings.nats_url, extra)
    await wait_projected(client, auth, extra)
    return [p.id for p in extra]


async def _pulse(client: httpx.AsyncClient, org: Org) -> str:
    body = {"title": "Spring pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()}
    created = await client.post(BASE, json=body, headers=org.headers("hr"))
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_every_route_across_roles(client: httpx.AsyncClient, settings: Settings, org: Org) -> None:
    body = {"title": "Pulse", "closes_at": (utcnow() + timedelta(days=7)).isoformat()}
    created = {who: (await client.post(BASE, json=body, headers=org.headers(who))).status_code for who in ROLES}
    assert created == {who: 201 if who in ("hr", "admin") else 403 for who in ROLES}
    pulse = await _pulse(client, org)
    read = {who: (await client.get(f"{BASE}/{pulse}", headers=org.headers(who))).status_code for who in ROLES}
    # The pulse itself, never an answer; a deactivated person's token opens nothing any more.
    assert read == {who: 403 if who == "gone" else 200 for who in ROLES}
    before = {
        who: (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers(who))).status_code for who in ROLES
    }
    assert before == {who: 403 if who == "gone" else 404 for who in ROLES}  # nothing before the close
    answered = {
        who: (await client.post(f"{BASE}/{pulse}/answers", json={"rating": 4}, headers=org.headers(who))).status_code
        for who in ROLES
    }
    # Everyone active with a manager answers about that manager; no manager: 409; deactivated: 403.
    assert answered == {
        "giver": 201,
        "receiver": 201,
        "manager": 201,
        "skip": 409,
        "hr": 409,
        "admin": 409,
        "colleague": 201,
        "gone": 403,
    }
    closed = {
        who: (await client.post(f"{BASE}/{pulse}/close", headers=org.headers(who))).status_code
        for who in ROLES
        if who not in ("hr", "admin")
    }
    assert closed == {who: 403 for who in ROLES if who not in ("hr", "admin")}
    assert (await client.post(f"{BASE}/{pulse}/close", headers=org.headers("admin"))).status_code == 200
    units = {
        who: (await client.get(f"{BASE}/{pulse}/results/org-units", headers=org.headers(who))).status_code
        for who in ROLES
    }
    assert units == {who: 200 if who in ("hr", "admin") else 403 for who in ROLES}
    # Below k for everyone here (one or two answers per manager): nobody learns anything.
    active = [who for who in ROLES if who != "gone"]
    after = {who: (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers(who))).json() for who in active}
    assert all(result["released"] is False and result["rater_count"] is None for result in after.values())
    assert (await client.get(f"{BASE}/{pulse}/results/org-units", headers=org.headers("hr"))).json() == []
    # Each person's own list of released results: nothing below k, nothing of anyone else.
    listed = {who: await client.get(f"{BASE}/results", headers=org.headers(who)) for who in ROLES}
    assert {who: response.status_code for who, response in listed.items()} == {
        who: 403 if who == "gone" else 200 for who in ROLES
    }
    assert all(listed[who].json()["items"] == [] and listed[who].json()["total"] == 0 for who in active)


async def test_hr_moves_an_open_pulses_closing_time_later_never_earlier(client: httpx.AsyncClient, org: Org) -> None:
    pulse = await _pulse(client, org)
    announced = (await client.get(f"{BASE}/{pulse}", headers=org.headers("hr"))).json()["closes_at"]
    later = (utcnow() + timedelta(days=14)).isoformat()
    moved = {
        who: (await client.post(f"{BASE}/{pulse}/extend", json={"closes_at": later}, headers=org.headers(who)))
        for who in ROLES
        if who not in ("hr", "admin")
    }
    assert {who: response.status_code for who, response in moved.items()} == {
        who: 403 for who in ROLES if who not in ("hr", "admin")
    }
    assert (await client.get(f"{BASE}/{pulse}", headers=org.headers("hr"))).json()["closes_at"] == announced
    for who, days in (("hr", 14), ("admin", 21)):
        body = {"closes_at": (utcnow() + timedelta(days=days)).isoformat()}
        response = await client.post(f"{BASE}/{pulse}/extend", json=body, headers=org.headers(who))
        assert response.status_code == 200, response.text
        assert response.json()["closes_at"][:16] == body["closes_at"][:16]
    stored = (await client.get(f"{BASE}/{pulse}", headers=org.headers("receiver"))).json()
    assert stored["closes_at"][:10] == (utcnow() + timedelta(days=21)).date().isoformat()
    bad = {
        "earlier": (utcnow() + timedelta(days=10)).isoformat(),
        "past": (utcnow() - timedelta(hours=1)).isoformat(),
        "naive": (utcnow() + timedelta(days=30)).replace(tzinfo=None).isoformat(),
        "not a time": "next tuesday",
    }
    for name, value in bad.items():
        refused = await client.post(f"{BASE}/{pulse}/extend", json={"closes_at": value}, headers=org.headers("hr"))
        assert_problem(refused, 422)
        assert "closes_at" in problem_fields(refused), (name, refused.text)
    assert (await client.get(f"{BASE}/{pulse}", headers=org.headers("hr"))).json()["closes_at"] == stored["closes_at"]
    assert (await client.post(f"{BASE}/{pulse}/close", headers=org.headers("hr"))).status_code == 200
    closed = await client.post(f"{BASE}/{pulse}/extend", json={"closes_at": later}, headers=org.headers("hr"))
    assert assert_problem(closed, 409)["reason"] == "pulse_closed"
    unknown = await client.post(f"{BASE}/{uuid.uuid4()}/extend", json={"closes_at": later}, headers=org.headers("hr"))
    assert_problem(unknown, 404)


async def test_released_at_k_suppressed_below_and_units_never_include_a_suppressed_manager(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    reports = await _reports(client, settings, auth, org)
    pulse = await _pulse(client, org)
    comments = ("upward-clear-goals-5521", "upward-listens-8812", "upward-shields-team-3390")
    givers = [
        (org.headers("receiver"), 5, comments[0]),
        (auth(person_id=reports[0]), 4, comments[1]),
        (auth(person_id=reports[1]), 3, comments[2]),
        (auth(person_id=reports[2]), 4, None),
        # other_lead's two reports: below k
        (org.headers("giver"), 1, "upward-below-k-7001"),
        (org.headers("colleague"), 1, None),
    ]
    for headers, rating, comment in givers:
        body = {"rating": rating} | ({"comment": comment} if comment else {})
        answered = await client.post(f"{BASE}/{pulse}/answers", json=body, headers=headers)
        assert answered.status_code == 201, answered.text
    twice = await client.post(f"{BASE}/{pulse}/answers", json={"rating": 1}, headers=org.headers("receiver"))
    assert twice.status_code == 409
    bad = await client.post(f"{BASE}/{pulse}/answers", json={"rating": 6}, headers=auth(person_id=reports[0]))
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "rating"
    assert (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers("manager"))).status_code == 404

    assert (await client.post(f"{BASE}/{pulse}/close", headers=org.headers("hr"))).status_code == 200
    mine = (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers("manager"))).json()
    assert (mine["released"], mine["score"], mine["rater_count"]) == (True, 75.0, 4)
    assert sorted(mine["comments"]) == sorted(comments)  # no names, no order of answering
    assert org.giver.manager_id is not None
    other_lead = auth(person_id=org.giver.manager_id)
    suppressed = (await client.get(f"{BASE}/{pulse}/results/me", headers=other_lead)).json()
    assert suppressed == {"pulse_id": pulse, "released": False, "score": None, "rater_count": None, "comments": []}
    # HR: the unit holds the released manager alone; other_lead's two ratings of 1 are left out,
    # so released aggregates can never be subtracted from the unit's to recover theirs.
    units = (await client.get(f"{BASE}/{pulse}/results/org-units", headers=org.headers("hr"))).json()
    assert units == [{"org_unit": None, "score": 75.0, "rater_count": 4, "managers": 1}]
    # The manager finds it again without the mail: in their own list, newest first, paged.
    listed = (await client.get(f"{BASE}/results", headers=org.headers("manager"))).json()
    assert [(r["pulse_id"], r["title"], r["score"], r["rater_count"]) for r in listed["items"]] == [
        (pulse, "Spring pulse", 75.0, 4)
    ]
    assert listed["total"] == 1
    beyond = (await client.get(f"{BASE}/results?limit=1&offset=1", headers=org.headers("manager"))).json()
    assert (beyond["items"], beyond["total"]) == ([], 1)
    for headers in (other_lead, org.headers("hr"), org.headers("skip"), org.headers("receiver")):
        assert (await client.get(f"{BASE}/results", headers=headers)).json()["items"] == []
    wrong = await client.get(f"{BASE}/results?limit=0", headers=org.headers("manager"))
    assert_problem(wrong, 422)
    assert "limit" in problem_fields(wrong)
    # Late answers never change a released aggregate.
    late = await client.post(f"{BASE}/{pulse}/answers", json={"rating": 1}, headers=auth(person_id=reports[2]))
    assert late.status_code == 409
    assert (await client.post(f"{BASE}/{pulse}/close", headers=org.headers("hr"))).status_code == 200
    again = (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers("manager"))).json()
    assert (again["score"], again["rater_count"]) == (75.0, 4)
    # A later release comes first in the list.
    second = await _pulse(client, org)
    for headers in (org.headers("receiver"), *(auth(person_id=report) for report in reports)):
        answered = await client.post(f"{BASE}/{second}/answers", json={"rating": 2}, headers=headers)
        assert answered.status_code == 201, answered.text
    assert (await client.post(f"{BASE}/{second}/close", headers=org.headers("hr"))).status_code == 200
    listed = (await client.get(f"{BASE}/results", headers=org.headers("manager"))).json()
    assert [(r["pulse_id"], r["score"]) for r in listed["items"]] == [(second, 25.0), (pulse, 75.0)]
    # No comment in clear in the database file.
    raw = await stored_bytes(settings.database_url("feedback"))
    for text in (*comments, "upward-below-k-7001"):
        assert text.encode() not in raw


async def test_hr_lists_every_pulse_newest_first_by_status_and_cycle_without_answers(
    client: httpx.AsyncClient, org: Org
) -> None:
    cycle = uuid.uuid4()
    closes_at = (utcnow() + timedelta(days=7)).isoformat()
    ids = []
    for title, cycle_id in (("First", None), ("Second", str(cycle)), ("Third", None)):
        body = {"title": title, "closes_at": closes_at, "cycle_id": cycle_id}
        created = await client.post(BASE, json=body, headers=org.headers("hr"))
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    first, second, third = ids
    answered = await client.post(f"{BASE}/{first}/answers", json={"rating": 4}, headers=org.headers("receiver"))
    assert answered.status_code == 201, answered.text
    assert (await client.post(f"{BASE}/{first}/close", headers=org.headers("hr"))).status_code == 200
    assert (await client.post(f"{BASE}/{third}/cancel", headers=org.headers("hr"))).status_code == 200

    listed = {who: await client.get(BASE, headers=org.headers(who)) for who in ROLES}
    assert {who: r.status_code for who, r in listed.items()} == {
        who: 200 if who in ("hr", "admin") else 403 for who in ROLES
    }
    for who in ROLES:
        if who not in ("hr", "admin"):
            assert_problem(listed[who], 403)
    everything = listed["hr"].json()
    assert [(p["id"], p["status"]) for p in everything["items"]] == [
        (third, "cancelled"),
        (second, "open"),
        (first, "closed"),
    ]
    assert everything["total"] == 3
    # The pulse as anyone reads it, nothing more: no answer, no count of answers below k or above.
    assert {frozenset(p) for p in everything["items"]} == {
        frozenset({"id", "title", "cycle_id", "closes_at", "min_raters", "status", "closed_at"})
    }

    async def ids_of(**params: str | int) -> tuple[list[str], int]:
        response = await client.get(BASE, params=params, headers=org.headers("admin"))
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["items"]], response.json()["total"]

    assert await ids_of(status="open") == ([second], 1)
    assert await ids_of(status="closed") == ([first], 1)
    assert await ids_of(status="cancelled") == ([third], 1)
    assert await ids_of(cycle_id=str(cycle)) == ([second], 1)
    assert await ids_of(cycle_id=str(cycle), status="closed") == ([], 0)
    assert await ids_of(cycle_id=str(uuid.uuid4())) == ([], 0)
    assert await ids_of(limit=1, offset=1) == ([second], 3)
    for params, field in (
        ({"status": "released"}, "status"),
        ({"cycle_id": "not-a-cycle"}, "cycle_id"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ):
        wrong = await client.get(BASE, params=params, headers=org.headers("hr"))
        assert field in problem_fields(wrong), (params, wrong.text)


async def test_hr_cancels_an_open_pulse_and_nothing_of_it_is_ever_released(
    client: httpx.AsyncClient, settings: Settings, org: Org, auth: TokenFactory
) -> None:
    reports = await _reports(client, settings, auth, org)
    pulse = await _pulse(client, org)
    # k reached for the manager, with comments: a close would release them.
    for headers in (org.headers("receiver"), *(auth(person_id=report) for report in reports)):
        body = {"rating": 5, "comment": "upward-cancelled-comment-4410"}
        answered = await client.post(f"{BASE}/{pulse}/answers", json=body, headers=headers)
        assert answered.status_code == 201, answered.text

    async def count(model: Any, *where: Any) -> int:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    async def told(verb: str) -> list[dict[str, Any]]:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            subject = f"meritloop.feedback.upward-pulse.{verb}"
            rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.subject == subject))
            return [json.loads(row.payload)["data"] for row in rows]

    answer_ids = list(await _answer_ids(client, pulse))
    assert len(answer_ids) == 4
    refused = {
        who: await client.post(f"{BASE}/{pulse}/cancel", headers=org.headers(who))
        for who in ROLES
        if who not in ("hr", "admin")
    }
    assert {who: r.status_code for who, r in refused.items()} == {who: 403 for who in refused}
    assert_problem(refused["manager"], 403)
    assert (await client.get(f"{BASE}/{pulse}", headers=org.headers("hr"))).json()["status"] == "open"
    assert await count(UpwardAnswer, UpwardAnswer.pulse_id == uuid.UUID(pulse)) == 4

    cancelled = await client.post(f"{BASE}/{pulse}/cancel", headers=org.headers("hr"))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["closed_at"] is not None
    # The answers are gone with their comments' keys, and the ratings' tally key is a tombstone.
    assert await count(UpwardAnswer, UpwardAnswer.pulse_id == uuid.UUID(pulse)) == 0
    assert await count(ContentKey, ContentKey.object_id.in_(answer_ids)) == 0
    tombstone = TallyKey.scope_id == uuid.UUID(pulse), TallyKey.wrapped_key.is_(None)
    assert await count(TallyKey, *tombstone) == 1
    # Nothing for the manager, for HR or in the manager's list; a close afterwards computes nothing.
    assert (await client.get(f"{BASE}/{pulse}/results/me", headers=org.headers("manager"))).status_code == 404
    assert (await client.get(f"{BASE}/{pulse}/results/org-units", headers=org.headers("hr"))).status_code == 404
    assert (await client.post(f"{BASE}/{pulse}/close", headers=org.headers("hr"))).json()["status"] == "cancelled"
    assert (await client.get(f"{BASE}/results", headers=org.headers("manager"))).json()["total"] == 0
    late = await client.post(f"{BASE}/{pulse}/answers", json={"rating": 1}, headers=org.headers("colleague"))
    assert assert_problem(late, 409)["reason"] == "too_late"
    assert pulse not in [p["id"] for p in (await client.get(f"{BASE}/inbox", headers=org.headers("giver"))).json()]
    # Told on the bus by its id alone; no release was ever announced.
    assert [event for event in await told("cancelled") if event["pulse_id"] == pulse] == [{"pulse_id": pulse}]
    assert [event for event in await told("released") if event["pulse_id"] == pulse] == []

    # Only an open pulse: cancelled already, or closed with its results out, is 409 with a reason.
    again = await client.post(f"{BASE}/{pulse}/cancel", headers=org.headers("admin"))
    assert assert_problem(again, 409)["reason"] == "pulse_cancelled"
    later = {"closes_at": (utcnow() + timedelta(days=30)).isoformat()}
    extended = await client.post(f"{BASE}/{pulse}/extend", json=later, headers=org.headers("hr"))
    assert assert_problem(extended, 409)["reason"] == "pulse_cancelled"
    closed = await _pulse(client, org)
    assert (await client.post(f"{BASE}/{closed}/close", headers=org.headers("hr"))).status_code == 200
    too_late = await client.post(f"{BASE}/{closed}/cancel", headers=org.headers("hr"))
    assert assert_problem(too_late, 409)["reason"] == "pulse_closed"
    assert (await client.get(f"{BASE}/{closed}", headers=org.headers("hr"))).json()["status"] == "closed"
    assert_problem(await client.post(f"{BASE}/{uuid.uuid4()}/cancel", headers=org.headers("hr")), 404)
    malformed = await client.post(f"{BASE}/not-a-pulse/cancel", headers=org.headers("hr"))
    assert "pulse_id" in problem_fields(malformed)
    # An admin cancels too.
    other = await _pulse(client, org)
    by_admin = await client.post(f"{BASE}/{other}/cancel", headers=org.headers("admin"))
    assert by_admin.status_code == 200, by_admin.text


async def _answer_ids(client: httpx.AsyncClient, pulse_id: str) -> list[uuid.UUID]:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return list(await session.scalars(select(UpwardAnswer.id).where(UpwardAnswer.pulse_id == uuid.UUID(pulse_id))))
