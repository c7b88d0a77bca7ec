"""The goals service over HTTP: its database, auth, problem details, outbox and people projection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

GOAL_CREATED = "meritloop.goals.goal.created"


@pytest.fixture
async def client(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("goals") as client:
        yield client


async def test_create_get_and_list_goals(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    ada, grace = uuid.uuid4(), uuid.uuid4()
    created = []
    for number in range(3):
        response = await client.post(
            "/goals",
            json={"title": f"  Goal {number}  ", "due_date": "2026-12-31"},
            headers=auth(person_id=ada),
        )
        assert response.status_code == 201, response.text
        created.append(response.json())
    hr_response = await client.post(
        "/goals",
        json={
            "title": "Mentor two juniors",
            "owner_id": str(ada),
            "period_start": "2026-01-01",
            "period_end": "2026-06-30",
        },
        headers=auth(Role.hr),
    )
    assert hr_response.status_code == 201, hr_response.text
    created.append(hr_response.json())
    other = await client.post("/goals", json={"title": "Not Ada's"}, headers=auth(person_id=grace))
    assert other.status_code == 201

    first = created[0]
    assert first["title"] == "Goal 0"
    assert first["owner_id"] == str(ada)
    assert first["status"] == "not_started"
    assert first["level"] == "individual"
    assert first["visibility"] == "public"
    assert first["due_date"] == "2026-12-31"
    assert first["description"] is None
    assert hr_response.json()["owner_id"] == str(ada)

    fetched = await client.get(f"/goals/{first['id']}", headers=auth())
    assert fetched.status_code == 200
    assert fetched.json() == first

    seen: list[str] = []
    for offset in (0, 2):
        page = await client.get("/goals", params={"owner_id": str(ada), "limit": 2, "offset": offset}, headers=auth())
        assert page.status_code == 200
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (4, 2, offset)
        assert len(body["items"]) == 2
        seen += [item["id"] for item in body["items"]]
    assert sorted(seen) == sorted(goal["id"] for goal in created)

    everything = (await client.get("/goals", headers=auth())).json()
    assert everything["total"] == 5


async def test_invalid_input_is_a_problem_naming_the_field(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    headers = auth()
    assert problem_fields(await client.post("/goals", json={"title": "   "}, headers=headers)) == {"title"}
    assert problem_fields(await client.post("/goals", json={"title": "x" * 201}, headers=headers)) == {"title"}
    assert problem_fields(await client.post("/goals", json={}, headers=headers)) == {"title"}
    reversed_period = {"title": "Ship it", "period_start": "2026-07-01", "period_end": "2026-06-30"}
    response = await client.post("/goals", json=reversed_period, headers=headers)
    assert problem_fields(response) == {"period_end"}
    assert assert_problem(response, 422)["type"].endswith("/validation-error")
    assert problem_fields(await client.get("/goals", params={"limit": 0}, headers=headers)) == {"limit"}
    assert (await client.get("/goals", headers=headers)).json()["total"] == 0


async def test_requires_a_token(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/goals", json={"title": "Anonymous"}),
        await client.get("/goals"),
        await client.get(f"/goals/{uuid.uuid4()}"),
    ):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_only_hr_and_admins_set_goals_for_others(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    someone_else = str(uuid.uuid4())
    for role in (Role.employee, Role.manager):
        response = await client.post(
            "/goals", json={"title": "Yours now", "owner_id": someone_else}, headers=auth(role)
        )
        assert_problem(response, 403)
    me = uuid.uuid4()
    own = await client.post("/goals", json={"title": "Mine", "owner_id": str(me)}, headers=auth(person_id=me))
    assert own.status_code == 201
    admin = await client.post("/goals", json={"title": "Theirs", "owner_id": someone_else}, headers=auth(Role.admin))
    assert admin.status_code == 201
    assert (await client.get("/goals", headers=auth())).json()["total"] == 2


async def test_unknown_goal_is_a_404_problem(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    missing = uuid.uuid4()
    body = assert_problem(await client.get(f"/goals/{missing}", headers=auth()), 404)
    assert body["type"].endswith("/not-found")
    assert str(missing) in body["detail"]


async def test_creating_a_goal_publishes_an_event_without_the_description(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    owner = uuid.uuid4()
    response = await client.post(
        "/goals",
        json={
            "title": "Learn Rust",
            "description": "private notes on my weak spots",
            "due_date": "2026-09-01",
        },
        headers=auth(person_id=owner),
    )
    assert response.status_code == 201
    goal = response.json()

    event, raw, headers = await published(settings.nats_url, GOAL_CREATED, goal["id"])

    assert event.type == GOAL_CREATED
    assert event.source == "/meritloop/goals"
    assert event.subject == goal["id"]
    assert event.data == {
        "id": goal["id"],
        "owner_id": str(owner),
        "level": "individual",
        "visibility": "public",
        "title": "Learn Rust",
        "due_date": "2026-09-01",
        "period_start": None,
        "period_end": None,
        "aligned_to_id": None,
        "assigned_from_id": None,
        "version": 1,
    }
    assert b"weak spots" not in raw
    assert headers["Nats-Msg-Id"] == str(event.id)
