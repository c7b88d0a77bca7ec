"""HR's lists (company values, competencies): HR keeps each, everyone reads it, praise and
feedback name an entry by id."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from meritloop.demo import DEMO_LISTS, load_demo_lists
from shared.settings import Settings
from tests.feedback.support import ROLES, Org
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

LISTS = pytest.mark.parametrize("path", ["/company-values", "/competencies"])


@LISTS
async def test_hr_manages_a_list_and_everyone_reads_it(client: httpx.AsyncClient, org: Org, path: str) -> None:
    created = await client.post(
        path, json={"name": " Courage ", "description": "Say the hard thing"}, headers=org.headers("hr")
    )
    assert created.status_code == 201, created.text
    courage = created.json()
    assert (courage["name"], courage["description"], courage["archived"]) == ("Courage", "Say the hard thing", False)
    assert_problem(await client.post(path, json={"name": "courage"}, headers=org.headers("admin")), 409)
    assert problem_fields(await client.post(path, json={"name": ""}, headers=org.headers("hr"))) == {"name"}
    for name in ("Ownership", "Candour"):
        response = await client.post(path, json={"name": name}, headers=org.headers("admin"))
        assert response.status_code == 201

    renamed = await client.patch(
        f"{path}/{courage['id']}", json={"name": "Bravery", "description": None}, headers=org.headers("hr")
    )
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Bravery", None)
    assert_problem(
        await client.patch(f"{path}/{courage['id']}", json={"name": "Ownership"}, headers=org.headers("hr")),
        409,
    )
    assert_problem(await client.patch(f"{path}/{uuid.uuid4()}", json={}, headers=org.headers("hr")), 404)

    page = (await client.get(path, params={"limit": 2}, headers=org.headers("colleague"))).json()
    assert (page["total"], [entry["name"] for entry in page["items"]]) == (3, ["Bravery", "Candour"])

    assert (await client.delete(f"{path}/{courage['id']}", headers=org.headers("hr"))).status_code == 204
    current = (await client.get(path, headers=org.headers("giver"))).json()
    assert [entry["name"] for entry in current["items"]] == ["Candour", "Ownership"]
    everything = (await client.get(path, params={"include_archived": True}, headers=org.headers("giver"))).json()
    assert everything["total"] == 3
    archived = (await client.get(f"{path}/{courage['id']}", headers=org.headers("giver"))).json()
    assert archived["archived"] is True
    assert_problem(await client.delete(f"{path}/{uuid.uuid4()}", headers=org.headers("hr")), 404)


@LISTS
async def test_only_hr_and_admins_change_a_list(client: httpx.AsyncClient, org: Org, path: str) -> None:
    value = (await client.post(path, json={"name": "Focus"}, headers=org.headers("hr"))).json()
    for who in ROLES:
        headers = org.headers(who)
        read = await client.get(path, headers=headers)
        if who == "gone":  # a deactivated person's token opens nothing any more
            assert_problem(read, 403)
            continue
        assert read.status_code == 200, who
        assert (await client.get(f"{path}/{value['id']}", headers=headers)).status_code == 200
        if who in ("hr", "admin"):
            continue
        assert_problem(await client.post(path, json={"name": f"By {who}"}, headers=headers), 403)
        assert_problem(await client.patch(f"{path}/{value['id']}", json={"name": "Mine"}, headers=headers), 403)
        assert_problem(await client.delete(f"{path}/{value['id']}", headers=headers), 403)
    assert (await client.get(f"{path}/{value['id']}", headers=org.headers("hr"))).json()["name"] == "Focus"
    assert_problem(await client.get(path), 401)


async def test_praise_and_feedback_name_a_value(client: httpx.AsyncClient, org: Org) -> None:
    value = (await client.post("/company-values", json={"name": "Craft"}, headers=org.headers("hr"))).json()
    praise = await client.post(
        "/praise",
        json={"receiver_ids": [str(org.receiver.id)], "message": "Lovely code", "company_value_id": value["id"]},
        headers=org.headers("giver"),
    )
    assert praise.status_code == 201
    assert (praise.json()["company_value_id"], praise.json()["company_value"]) == (value["id"], "Craft")
    feedback = await client.post(
        "/feedback",
        json={"receiver_ids": [str(org.receiver.id)], "text": "Careful work", "company_value_id": value["id"]},
        headers=org.headers("giver"),
    )
    assert feedback.json()["items"][0]["company_value_id"] == value["id"]
    # A deactivated person gives no praise.
    refused = await client.post(
        "/praise", json={"receiver_ids": [str(org.receiver.id)], "message": "Hi"}, headers=org.headers("gone")
    )
    assert_problem(refused, 403)


async def test_feedback_about_a_competency_and_the_lists_filtered_by_it(client: httpx.AsyncClient, org: Org) -> None:
    hr = org.headers("hr")
    clarity = (await client.post("/competencies", json={"name": "Clarity"}, headers=hr)).json()
    craft = (await client.post("/competencies", json={"name": "Craft"}, headers=hr)).json()
    receiver = str(org.receiver.id)

    async def give(text: str, **links: str) -> dict[str, Any]:
        body = {"receiver_ids": [receiver], "text": text, **links}
        response = await client.post("/feedback", json=body, headers=org.headers("giver"))
        assert response.status_code == 201, response.text
        item: dict[str, Any] = response.json()["items"][0]
        return item

    clear = await give("Your plan read clearly", competency_id=clarity["id"])
    assert clear["competency_id"] == clarity["id"]
    neat = await give("Neat tests", competency_id=craft["id"])
    plain = await give("Thanks for Tuesday")

    def ids(page: httpx.Response) -> list[str]:
        assert page.status_code == 200, page.text
        return [item["id"] for item in page.json()["items"]]

    about = {"competency_id": clarity["id"]}
    received = await client.get("/feedback/received", params=about, headers=org.headers("receiver"))
    assert ids(received) == [clear["id"]]
    assert received.json()["total"] == 1
    assert ids(await client.get("/feedback/given", params=about, headers=org.headers("giver"))) == [clear["id"]]
    everything = await client.get("/feedback/received", headers=org.headers("receiver"))
    assert ids(everything) == [plain["id"], neat["id"], clear["id"]]
    # The manager sees only what is shared with them, filtered the same way.
    assert (await client.post(f"/feedback/{neat['id']}/share", headers=org.headers("receiver"))).status_code == 201
    shared = "/feedback/shared-with-me"
    assert ids(await client.get(shared, params={"competency_id": craft["id"]}, headers=org.headers("manager"))) == [
        neat["id"]
    ]
    assert ids(await client.get(shared, params=about, headers=org.headers("manager"))) == []
    # Nobody else learns of the feedback by filtering for it.
    assert ids(await client.get("/feedback/received", params=about, headers=org.headers("colleague"))) == []
    assert_problem(await client.get("/feedback/received", params=about, headers=org.headers("gone")), 403)
    assert problem_fields(
        await client.get("/feedback/received", params={"competency_id": "x"}, headers=org.headers("receiver"))
    ) == {"competency_id"}

    # Only a current competency may be chosen; nothing is stored when one is refused.
    assert (await client.delete(f"/competencies/{craft['id']}", headers=hr)).status_code == 204
    for stale in (craft["id"], str(uuid.uuid4())):
        body = {"receiver_ids": [receiver], "text": "More neat tests", "competency_id": stale}
        refused = await client.post("/feedback", json=body, headers=org.headers("giver"))
        assert problem_fields(refused) == {"competency_id"}
    assert (await client.get("/feedback/given", headers=org.headers("giver"))).json()["total"] == 3
    # An answer to a request may name one too.
    asked = await client.post(
        "/feedback-requests",
        json={"recipient_ids": [str(org.giver.id)], "due_on": (date.today() + timedelta(days=7)).isoformat()},
        headers=org.headers("receiver"),
    )
    assert asked.status_code == 201, asked.text
    answer = {"text": "Clear as ever", "competency_id": clarity["id"]}
    answered = await client.post(
        f"/feedback-requests/{asked.json()['id']}/answer", json=answer, headers=org.headers("giver")
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["competency_id"] == clarity["id"]
    assert len(ids(await client.get("/feedback/received", params=about, headers=org.headers("receiver")))) == 2


async def test_the_demo_lists_load_once(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    assert await load_demo_lists(client, settings) == sum(len(entries) for entries in DEMO_LISTS.values())
    assert await load_demo_lists(client, settings) == 0
    for path, entries in DEMO_LISTS.items():
        listed = (await client.get(path, headers=org.headers("colleague"))).json()
        assert [entry["name"] for entry in listed["items"]] == sorted(name for name, _ in entries)


@LISTS
@pytest.mark.parametrize("second", ["Curiosity", "curiosity"])
async def test_two_racing_adds_of_one_name_make_one_entry(
    client: httpx.AsyncClient, org: Org, path: str, second: str
) -> None:
    answers = await asyncio.gather(
        client.post(path, json={"name": "Curiosity"}, headers=org.headers("hr")),
        client.post(path, json={"name": second}, headers=org.headers("admin")),
    )
    assert sorted(response.status_code for response in answers) == [201, 409]
    assert (await client.get(path, headers=org.headers("hr"))).json()["total"] == 1
