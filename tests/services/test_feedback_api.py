"""The feedback service over HTTP: praise, auth, problem details, outbox and people projection."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.feedback.support import ensure_directory_stream, person, publish_people, wait_projected
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

PRAISE_GIVEN = "meritloop.feedback.praise.given"


@pytest.fixture
async def client(service_client: ServiceClientFactory, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        yield client


async def active_people(
    settings: Settings, client: httpx.AsyncClient, auth: TokenFactory, count: int
) -> list[uuid.UUID]:
    """Praise goes to active people of the directory: put ``count`` into feedback's projection."""
    people = [person(f"Person{number}") for number in range(count)]
    await publish_people(settings.nats_url, people)
    await wait_projected(client, auth, people)
    return [entry.id for entry in people]


async def company_value(client: httpx.AsyncClient, auth: TokenFactory, name: str) -> str:
    response = await client.post("/company-values", json={"name": name}, headers=auth(Role.hr))
    assert response.status_code == 201, response.text
    value_id: str = response.json()["id"]
    return value_id


async def give(
    client: httpx.AsyncClient, headers: dict[str, str], receivers: list[uuid.UUID], message: str, **extra: str
) -> dict[str, Any]:
    response = await client.post(
        "/praise",
        json={"receiver_ids": [str(receiver) for receiver in receivers], "message": message, **extra},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_give_and_list_praise(client: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> None:
    ada, grace, linus = await active_people(settings, client, auth, 3)
    ownership = await company_value(client, auth, "Ownership")
    first = await give(
        client, auth(person_id=ada), [linus, grace, grace], "  Great launch!  ", company_value_id=ownership
    )
    second = await give(client, auth(person_id=linus), [grace], "Thanks for the review")
    third = await give(client, auth(person_id=grace), [ada, grace], "Team effort")

    assert first["giver_id"] == str(ada)
    # Duplicates collapse and the order is stable, so every read returns the same list.
    assert first["receiver_ids"] == sorted([str(grace), str(linus)], key=uuid.UUID)
    assert first["message"] == "Great launch!"
    assert (first["company_value_id"], first["company_value"]) == (ownership, "Ownership")
    assert (second["company_value_id"], second["company_value"]) == (None, None)

    headers = auth()
    everything = (await client.get("/praise", headers=headers)).json()
    assert everything["total"] == 3
    assert [item["id"] for item in everything["items"]] == [third["id"], second["id"], first["id"]]
    assert everything["items"][2] == first

    seen: list[str] = []
    for offset in (0, 2):
        page = await client.get(
            "/praise", params={"receiver_id": str(grace), "limit": 2, "offset": offset}, headers=headers
        )
        assert page.status_code == 200
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 2, offset)
        seen += [item["id"] for item in body["items"]]
    assert seen == [third["id"], second["id"], first["id"]]

    for_ada = (await client.get("/praise", params={"receiver_id": str(ada)}, headers=headers)).json()
    assert [item["id"] for item in for_ada["items"]] == [third["id"]]
    nobody = (await client.get("/praise", params={"receiver_id": str(uuid.uuid4())}, headers=headers)).json()
    assert nobody == {"items": [], "total": 0, "limit": 50, "offset": 0}


async def test_invalid_praise_is_a_problem_naming_the_field(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    me = uuid.uuid4()
    headers = auth(person_id=me)
    twenty = [str(entry) for entry in await active_people(settings, client, auth, 20)]
    someone = twenty[0]
    gone = person("Gone", active=False)
    await publish_people(settings.nats_url, [gone])
    await wait_projected(client, auth, [gone])

    async def fields(body: dict[str, Any]) -> set[str]:
        return problem_fields(await client.post("/praise", json=body, headers=headers))

    assert await fields({"receiver_ids": [], "message": "Hi"}) == {"receiver_ids"}
    too_many = [str(uuid.uuid4()) for _ in range(21)]
    assert await fields({"receiver_ids": too_many, "message": "Hi"}) == {"receiver_ids"}
    assert await fields({"receiver_ids": ["not-a-uuid"], "message": "Hi"}) == {"receiver_ids.0"}
    assert await fields({"receiver_ids": [someone], "message": "   "}) == {"message"}
    assert await fields({"receiver_ids": [someone], "message": "x" * 1001}) == {"message"}
    assert await fields({"receiver_ids": [someone], "message": "Hi", "company_value_id": "x"}) == {"company_value_id"}
    unknown_value = {"receiver_ids": [someone], "message": "Hi", "company_value_id": str(uuid.uuid4())}
    assert await fields(unknown_value) == {"company_value_id"}
    # Receivers are active people of the directory: the error names the position.
    assert await fields({"receiver_ids": [someone, str(uuid.uuid4())], "message": "Hi"}) == {"receiver_ids.1"}
    assert await fields({"receiver_ids": [str(gone.id)], "message": "Hi"}) == {"receiver_ids.0"}
    archived = await company_value(client, auth, "Old value")
    assert (await client.delete(f"/company-values/{archived}", headers=auth(Role.hr))).status_code == 204
    old_value = {"receiver_ids": [someone], "message": "Hi", "company_value_id": archived}
    assert await fields(old_value) == {"company_value_id"}

    only_me = await client.post("/praise", json={"receiver_ids": [str(me), str(me)], "message": "Me!"}, headers=headers)
    body = assert_problem(only_me, 422)
    assert body["type"].endswith("/validation-error")
    assert [error["field"] for error in body["errors"]] == ["receiver_ids"]

    assert (
        await client.post("/praise", json={"receiver_ids": twenty, "message": "All of you"}, headers=headers)
    ).status_code == 201
    assert (await client.get("/praise", headers=headers)).json()["total"] == 1


async def test_requires_a_token(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/praise", json={"receiver_ids": [str(uuid.uuid4())], "message": "Hi"}),
        await client.get("/praise"),
        await client.get("/people"),
    ):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_unknown_person_is_a_404_problem(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    missing = uuid.uuid4()
    body = assert_problem(await client.get(f"/people/{missing}", headers=auth()), 404)
    assert body["type"].endswith("/not-found")
    assert_problem(await client.get(f"/praise/{missing}", headers=auth()), 404)


async def test_praise_event_carries_ids_and_value_but_never_the_message(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    giver, receivers = uuid.uuid4(), sorted(await active_people(settings, client, auth, 2))
    courage = await company_value(client, auth, "Courage")
    praise = await give(
        client,
        auth(person_id=giver),
        receivers,
        "You rescued the release, thank you",
        company_value_id=courage,
    )

    event, raw, headers = await published(settings.nats_url, PRAISE_GIVEN, praise["id"])

    assert event.type == PRAISE_GIVEN
    assert event.source == "/meritloop/feedback"
    assert event.subject == praise["id"]
    assert event.data == {
        "id": praise["id"],
        "giver_id": str(giver),
        "receiver_ids": [str(receiver) for receiver in receivers],
        "company_value_id": courage,
    }
    assert b"rescued" not in raw
    assert headers["Nats-Msg-Id"] == str(event.id)
