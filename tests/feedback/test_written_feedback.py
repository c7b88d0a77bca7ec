"""Written feedback over HTTP: giving, reading, sharing with the manager, and who may see what."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from services.feedback.models import ContentKey
from shared.settings import Settings
from tests.feedback.support import ROLES, Org
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

FEEDBACK_GIVEN = "meritloop.feedback.feedback.given"
FEEDBACK_SHARED = "meritloop.feedback.feedback.shared"
FEEDBACK_UNSHARED = "meritloop.feedback.feedback.unshared"


async def give(client: httpx.AsyncClient, org: Org, text: str, *receivers: str, **links: str) -> list[dict[str, Any]]:
    response = await client.post(
        "/feedback",
        json={"receiver_ids": [str(org.id(who)) for who in receivers], "text": text, **links},
        headers=org.headers("giver"),
    )
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_give_to_several_makes_one_private_item_each(client: httpx.AsyncClient, org: Org) -> None:
    goal = str(uuid.uuid4())
    items = await give(client, org, "  Clear design notes, thank you  ", "receiver", "colleague", goal_id=goal)
    assert sorted(item["receiver_id"] for item in items) == sorted([str(org.receiver.id), str(org.colleague.id)])
    assert {item["text"] for item in items} == {"Clear design notes, thank you"}
    assert {item["goal_id"] for item in items} == {goal}
    mine = next(item for item in items if item["receiver_id"] == str(org.receiver.id))

    received = (await client.get("/feedback/received", headers=org.headers("receiver"))).json()
    assert received["total"] == 1
    assert received["items"][0]["id"] == mine["id"]
    assert received["items"][0]["text"] == "Clear design notes, thank you"
    assert received["items"][0]["giver_id"] == str(org.giver.id)

    given = (await client.get("/feedback/given", headers=org.headers("giver"))).json()
    assert given["total"] == 2
    assert {item["text"] for item in given["items"]} == {"Clear design notes, thank you"}
    colleague = (await client.get("/feedback/received", headers=org.headers("colleague"))).json()
    assert [item["id"] for item in colleague["items"]] != [mine["id"]]


async def test_received_feedback_is_paginated_newest_first(client: httpx.AsyncClient, org: Org) -> None:
    ids = [(await give(client, org, f"Note {n}", "receiver"))[0]["id"] for n in range(5)]
    seen: list[str] = []
    for offset in (0, 2, 4):
        page = (
            await client.get(
                "/feedback/received", params={"limit": 2, "offset": offset}, headers=org.headers("receiver")
            )
        ).json()
        assert (page["total"], page["limit"], page["offset"]) == (5, 2, offset)
        seen += [item["id"] for item in page["items"]]
    assert seen == list(reversed(ids))


async def test_a_page_carries_each_items_share_flag_and_text_and_its_total_past_the_end(
    client: httpx.AsyncClient, org: Org
) -> None:
    # The page, the reader's keys, the share flags and the total come from one statement now.
    receiver = str(org.receiver.id)
    ids = [  # the receiver's copies, oldest first
        next(
            item["id"]
            for item in await give(client, org, f"Point {n}", "receiver", "colleague")
            if item["receiver_id"] == receiver
        )
        for n in range(4)
    ]
    assert (await client.post(f"/feedback/{ids[1]}/share", headers=org.headers("receiver"))).status_code == 201
    engine = client.app.state.engine  # type: ignore[attr-defined]
    async with engine.begin() as connection:
        # The receiver's key to one item gone (as after a revoked grant): that item alone reads null.
        await connection.execute(
            delete(ContentKey).where(ContentKey.object_id == uuid.UUID(ids[2]), ContentKey.reader_id == org.receiver.id)
        )
    headers = org.headers("receiver")
    first = (await client.get("/feedback/received", params={"limit": 3}, headers=headers)).json()
    assert first["total"] == 4
    assert [item["id"] for item in first["items"]] == [ids[3], ids[2], ids[1]]
    assert [item["text"] for item in first["items"]] == ["Point 3", None, "Point 1"]
    assert [item["shared_with_manager"] for item in first["items"]] == [False, False, True]
    last = (await client.get("/feedback/received", params={"limit": 3, "offset": 3}, headers=headers)).json()
    assert ([item["id"] for item in last["items"]], last["items"][0]["text"], last["total"]) == ([ids[0]], "Point 0", 4)
    past = (await client.get("/feedback/received", params={"offset": 10}, headers=headers)).json()
    assert (past["items"], past["total"]) == ([], 4)
    nothing = (await client.get("/feedback/received", headers=org.headers("manager"))).json()
    assert (nothing["items"], nothing["total"]) == ([], 0)

    given = (await client.get("/feedback/given", params={"limit": 2}, headers=org.headers("giver"))).json()
    assert given["total"] == 8
    assert [item["text"] for item in given["items"]] == ["Point 3", "Point 3"]
    assert {item["receiver_id"] for item in given["items"]} == {receiver, str(org.colleague.id)}


async def test_bad_input_names_the_field(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    headers = org.headers("giver")

    async def fields(body: dict[str, Any]) -> set[str]:
        return problem_fields(await client.post("/feedback", json=body, headers=headers))

    receiver = str(org.receiver.id)
    assert await fields({"receiver_ids": [], "text": "Hi"}) == {"receiver_ids"}
    assert await fields({"receiver_ids": [receiver], "text": "  "}) == {"text"}
    assert await fields({"receiver_ids": [receiver], "text": "x" * 5001}) == {"text"}
    assert await fields({"receiver_ids": [receiver], "text": "Hi", "goal_id": "nope"}) == {"goal_id"}
    # Unknown people and deactivated people are not receivers; the field names the position.
    assert await fields({"receiver_ids": [receiver, str(uuid.uuid4())], "text": "Hi"}) == {"receiver_ids.1"}
    assert await fields({"receiver_ids": [str(org.gone.id)], "text": "Hi"}) == {"receiver_ids.0"}
    assert await fields({"receiver_ids": [str(org.giver.id)], "text": "Hi"}) == {"receiver_ids"}
    unknown_value = {"receiver_ids": [receiver], "text": "Hi", "company_value_id": str(uuid.uuid4())}
    assert await fields(unknown_value) == {"company_value_id"}
    assert (await client.get("/feedback/given", headers=headers)).json()["total"] == 0
    assert_problem(await client.get("/feedback/received"), 401)


async def test_share_with_manager_is_recorded_revocable_and_reaches_only_the_manager(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    (item,) = await give(client, org, "Your incident write-up was exemplary", "receiver")
    path = f"/feedback/{item['id']}"
    assert_problem(await client.get(path, headers=org.headers("manager")), 404)

    # Only the receiver shares; the giver may not share on their behalf.
    assert_problem(await client.post(f"{path}/share", headers=org.headers("giver")), 403)
    for who in ("manager", "skip", "hr", "admin", "colleague"):
        assert_problem(await client.post(f"{path}/share", headers=org.headers(who)), 404)
    assert_problem(await client.post(f"{path}/share", headers=org.headers("gone")), 403)

    shared = await client.post(f"{path}/share", headers=org.headers("receiver"))
    assert shared.status_code == 201, shared.text
    assert shared.json()["manager_id"] == str(org.manager.id)
    assert shared.json()["revoked_at"] is None
    assert_problem(await client.post(f"{path}/share", headers=org.headers("receiver")), 409)

    as_manager = await client.get(path, headers=org.headers("manager"))
    assert as_manager.status_code == 200
    assert as_manager.json()["text"] == "Your incident write-up was exemplary"
    assert as_manager.json()["shared_with_manager"] is True
    listed = (await client.get("/feedback/shared-with-me", headers=org.headers("manager"))).json()
    assert [entry["id"] for entry in listed["items"]] == [item["id"]]
    # The manager's manager, HR and admins still read nothing.
    for who in ("skip", "hr", "admin", "colleague"):
        assert_problem(await client.get(path, headers=org.headers(who)), 404)
        assert (await client.get("/feedback/shared-with-me", headers=org.headers(who))).json()["total"] == 0

    event, raw, _ = await published(settings.nats_url, FEEDBACK_SHARED, shared.json()["id"])
    assert event.data == {
        "id": shared.json()["id"],
        "item_id": item["id"],
        "receiver_id": str(org.receiver.id),
        "manager_id": str(org.manager.id),
    }
    assert b"exemplary" not in raw

    assert_problem(await client.delete(f"{path}/share", headers=org.headers("giver")), 403)
    for who in ("manager", "skip", "hr", "admin", "colleague"):
        assert_problem(await client.delete(f"{path}/share", headers=org.headers(who)), 404)
    assert_problem(await client.delete(f"{path}/share", headers=org.headers("gone")), 403)
    assert (await client.get(path, headers=org.headers("manager"))).status_code == 200  # still shared
    assert (await client.delete(f"{path}/share", headers=org.headers("receiver"))).status_code == 204
    assert_problem(await client.delete(f"{path}/share", headers=org.headers("receiver")), 404)
    assert_problem(await client.get(path, headers=org.headers("manager")), 404)
    assert (await client.get("/feedback/shared-with-me", headers=org.headers("manager"))).json()["total"] == 0
    await published(settings.nats_url, FEEDBACK_UNSHARED, shared.json()["id"])
    # Sharing again is a new, separately recorded act.
    assert (await client.post(f"{path}/share", headers=org.headers("receiver"))).status_code == 201


async def test_who_can_call_each_route(client: httpx.AsyncClient, org: Org) -> None:
    """Every route, as every role: content reaches only its giver and receiver."""
    text = "Private note about the quarterly planning"
    (item,) = await give(client, org, text, "receiver")
    path = f"/feedback/{item['id']}"
    expected_read = {"giver": 200, "receiver": 200}
    for who in ROLES:
        headers = org.headers(who)
        single = await client.get(path, headers=headers)
        wanted = 403 if who == "gone" else expected_read.get(who, 404)
        assert single.status_code == wanted, (who, single.text)
        if wanted == 200:
            assert single.json()["text"] == text
        else:
            assert text not in single.text
        for listing in ("/feedback/received", "/feedback/given", "/feedback/shared-with-me"):
            response = await client.get(listing, headers=headers)
            if who == "gone":
                assert_problem(response, 403)
                continue
            assert response.status_code == 200, (who, listing)
            visible = listing == "/feedback/received" and who == "receiver"
            visible = visible or (listing == "/feedback/given" and who == "giver")
            assert (text in response.text) is visible, (who, listing)
        # Anyone active may give feedback; a deactivated person may not.
        target = "colleague" if who != "colleague" else "receiver"
        given = await client.post(
            "/feedback", json={"receiver_ids": [str(org.id(target))], "text": f"from {who}"}, headers=headers
        )
        assert given.status_code == (403 if who == "gone" else 201), (who, given.text)


async def test_given_event_carries_ids_only(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    (item,) = await give(client, org, "Thanks for pairing on the migration", "receiver")
    event, raw, _ = await published(settings.nats_url, FEEDBACK_GIVEN, item["id"])
    assert event.data == {"id": item["id"], "receiver_id": str(org.receiver.id), "request_id": None}
    assert b"pairing" not in raw
    assert str(org.giver.id).encode() not in raw


async def test_concurrent_first_feedback_shares_one_data_key(client: httpx.AsyncClient, org: Org) -> None:
    """Several people write to a newcomer at once: each request may make the newcomer's first
    data key, one wins, and every item stays readable."""
    givers = ("giver", "colleague", "manager", "skip", "hr")
    responses = await asyncio.gather(
        *(
            client.post(
                "/feedback",
                json={"receiver_ids": [str(org.receiver.id), str(org.admin.id)], "text": f"welcome from {who}"},
                headers=org.headers(who),
            )
            for who in givers
        )
    )
    assert [response.status_code for response in responses] == [201] * len(givers)
    for reader in ("receiver", "admin"):
        page = (await client.get("/feedback/received", headers=org.headers(reader))).json()
        assert sorted(entry["text"] for entry in page["items"]) == sorted(f"welcome from {who}" for who in givers)
