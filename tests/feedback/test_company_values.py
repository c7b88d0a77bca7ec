"""Company values: HR keeps the list, everyone reads it, praise and feedback name one by id."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.feedback.support import ROLES, Org
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database


async def test_hr_manages_values_and_everyone_reads_them(client: httpx.AsyncClient, org: Org) -> None:
    created = await client.post(
        "/company-values", json={"name": " Courage ", "description": "Say the hard thing"}, headers=org.headers("hr")
    )
    assert created.status_code == 201, created.text
    courage = created.json()
    assert (courage["name"], courage["description"], courage["archived"]) == ("Courage", "Say the hard thing", False)
    assert_problem(await client.post("/company-values", json={"name": "courage"}, headers=org.headers("admin")), 409)
    assert problem_fields(await client.post("/company-values", json={"name": ""}, headers=org.headers("hr"))) == {
        "name"
    }
    for name in ("Ownership", "Candour"):
        response = await client.post("/company-values", json={"name": name}, headers=org.headers("admin"))
        assert response.status_code == 201

    renamed = await client.patch(
        f"/company-values/{courage['id']}", json={"name": "Bravery", "description": None}, headers=org.headers("hr")
    )
    assert (renamed.json()["name"], renamed.json()["description"]) == ("Bravery", None)
    assert_problem(
        await client.patch(f"/company-values/{courage['id']}", json={"name": "Ownership"}, headers=org.headers("hr")),
        409,
    )
    assert_problem(await client.patch(f"/company-values/{uuid.uuid4()}", json={}, headers=org.headers("hr")), 404)

    page = (await client.get("/company-values", params={"limit": 2}, headers=org.headers("colleague"))).json()
    assert (page["total"], [entry["name"] for entry in page["items"]]) == (3, ["Bravery", "Candour"])

    assert (await client.delete(f"/company-values/{courage['id']}", headers=org.headers("hr"))).status_code == 204
    current = (await client.get("/company-values", headers=org.headers("giver"))).json()
    assert [entry["name"] for entry in current["items"]] == ["Candour", "Ownership"]
    everything = (
        await client.get("/company-values", params={"include_archived": True}, headers=org.headers("giver"))
    ).json()
    assert everything["total"] == 3
    archived = (await client.get(f"/company-values/{courage['id']}", headers=org.headers("giver"))).json()
    assert archived["archived"] is True
    assert_problem(await client.delete(f"/company-values/{uuid.uuid4()}", headers=org.headers("hr")), 404)


async def test_only_hr_and_admins_change_values(client: httpx.AsyncClient, org: Org) -> None:
    value = (await client.post("/company-values", json={"name": "Focus"}, headers=org.headers("hr"))).json()
    for who in ROLES:
        headers = org.headers(who)
        read = await client.get("/company-values", headers=headers)
        if who == "gone":  # a deactivated person's token opens nothing any more
            assert_problem(read, 403)
            continue
        assert read.status_code == 200, who
        assert (await client.get(f"/company-values/{value['id']}", headers=headers)).status_code == 200
        if who in ("hr", "admin"):
            continue
        assert_problem(await client.post("/company-values", json={"name": f"By {who}"}, headers=headers), 403)
        assert_problem(
            await client.patch(f"/company-values/{value['id']}", json={"name": "Mine"}, headers=headers), 403
        )
        assert_problem(await client.delete(f"/company-values/{value['id']}", headers=headers), 403)
    assert (await client.get(f"/company-values/{value['id']}", headers=org.headers("hr"))).json()["name"] == "Focus"
    assert_problem(await client.get("/company-values"), 401)


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
