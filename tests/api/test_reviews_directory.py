"""The reviews service's directory endpoints: the real plumbing of a write path end to end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import nats
import pytest

from shared.auth import Role
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: object) -> httpx.Response:
    return await client.post("/people", json=body, headers=headers)


async def test_create_read_list_and_update(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    boss = (await create(reviews, hr, email="boss@example.com", display_name="Boss", department="Ops")).json()
    created = await create(
        reviews, hr, email="Dev@Example.com", display_name="Dev", manager_id=boss["id"], department="Ops"
    )
    assert created.status_code == 201, created.text
    person = created.json()
    assert person["manager_id"] == boss["id"]
    assert person["version"] == 1

    # An employee sees the directory basics of the record HR created; HR sees all of it.
    fetched = await reviews.get(f"/people/{person['id']}", headers=auth())
    assert fetched.json() == {key: person[key] for key in fetched.json()}
    assert "employee_number" not in fetched.json()
    assert (await reviews.get(f"/people/{person['id']}", headers=hr)).json() == person

    listed = await reviews.get("/people", params={"limit": 1, "department": "Ops"}, headers=auth())
    page = listed.json()
    assert page["total"] == 2
    assert [item["display_name"] for item in page["items"]] == ["Boss"]
    second = await reviews.get("/people", params={"limit": 1, "offset": 1}, headers=auth())
    assert [item["display_name"] for item in second.json()["items"]] == ["Dev"]

    updated = await reviews.patch(f"/people/{person['id']}", json={"active": False}, headers=hr)
    assert updated.status_code == 200, updated.text
    assert updated.json()["active"] is False
    assert updated.json()["version"] == 2
    inactive = await reviews.get("/people", params={"active": "false"}, headers=auth())
    assert [item["id"] for item in inactive.json()["items"]] == [person["id"]]


async def test_bad_input_is_a_problem_naming_the_field(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await create(reviews, auth(Role.hr), email="not-an-email", display_name="")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/validation-error")
    assert {error["field"] for error in body["errors"]} == {"email", "display_name"}
    assert "email" in body["detail"]


async def test_pagination_limits_are_enforced(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await reviews.get("/people", params={"limit": 0}, headers=auth())
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "field": "limit",
        "in": "query",
        "message": "Input should be greater than or equal to 1",
    }


async def test_duplicate_email_is_a_conflict_and_stores_nothing(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    assert (await create(reviews, hr, email="dup@example.com", display_name="One")).status_code == 201
    response = await create(reviews, hr, email="DUP@example.com", display_name="Two")
    assert response.status_code == 409
    assert response.json()["field"] == "email"
    assert (await reviews.get("/people", headers=hr)).json()["total"] == 1


async def test_manager_rules(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    top = (await create(reviews, hr, email="top@example.com", display_name="Top")).json()
    mid = (await create(reviews, hr, email="mid@example.com", display_name="Mid", manager_id=top["id"])).json()
    low = (await create(reviews, hr, email="low@example.com", display_name="Low", manager_id=mid["id"])).json()

    unknown = await create(reviews, hr, email="x@example.com", display_name="X", manager_id=str(uuid.uuid4()))
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "manager_id"

    own = await reviews.patch(f"/people/{top['id']}", json={"manager_id": top["id"]}, headers=hr)
    assert own.status_code == 422
    assert "own manager" in own.json()["detail"]

    cycle = await reviews.patch(f"/people/{top['id']}", json={"manager_id": low["id"]}, headers=hr)
    assert cycle.status_code == 422
    assert "cycle" in cycle.json()["detail"]
    assert (await reviews.get(f"/people/{top['id']}", headers=hr)).json()["manager_id"] is None


async def test_unknown_person_is_404_problem(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await reviews.get(f"/people/{uuid.uuid4()}", headers=auth())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")


async def test_changes_are_published_with_ids_and_basics_only(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    hr = auth(Role.hr)
    person = (await create(reviews, hr, email="pub@example.com", display_name="Pub")).json()
    await reviews.patch(f"/people/{person['id']}", json={"active": False}, headers=hr)

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()

        async def both_published() -> bool:
            return int((await js.stream_info(stream_name("reviews"))).state.messages) == 2

        await wait_until(both_published, message="two events published")
        upserted = await js.get_last_msg(stream_name("reviews"), "meritloop.reviews.person.upserted")
        deactivated = await js.get_last_msg(stream_name("reviews"), "meritloop.reviews.person.deactivated")
    finally:
        await nc.close()
    first = CloudEvent.from_bytes(upserted.data or b"")
    second = CloudEvent.from_bytes(deactivated.data or b"")
    assert first.subject == person["id"]
    assert set(first.data) == {
        "id",
        "version",
        "display_name",
        "email",
        "manager_id",
        "department",
        "active",
        "title",
        "organization",
        "division",
        "locale",
        "timezone",
    }
    assert (first.data["version"], second.data["version"]) == (1, 2)
    assert second.data["active"] is False
    assert (upserted.headers or {})["Nats-Msg-Id"] == str(first.id)
