"""Hierarchy queries: direct and all reports, the manager chain, organisation units."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.http import assert_problem

pytestmark = pytest.mark.database


async def add(
    client: httpx.AsyncClient, headers: dict[str, str], name: str, manager: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body = {"email": f"{name.lower()}@example.com", "display_name": name, **extra}
    if manager is not None:
        body["manager_id"] = manager["id"]
    response = await client.post("/people", json=body, headers=headers)
    assert response.status_code == 201, response.text
    person: dict[str, Any] = response.json()
    return person


async def test_reports_managers_and_units(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr, employee = auth(Role.hr), auth()
    ceo = await add(reviews, hr, "Ceo", department="Exec", organization="Northwind", division="Exec")
    vp = await add(reviews, hr, "Vp", ceo, department="Eng", organization="Northwind", division="Tech")
    managers = [
        await add(reviews, hr, f"Mgr{i}", vp, department="Eng", organization="Northwind", division="Tech")
        for i in range(2)
    ]
    devs = [
        await add(reviews, hr, f"Dev{i}", managers[i % 2], department="Eng", organization="Northwind", division="Tech")
        for i in range(5)
    ]
    await reviews.patch(f"/people/{devs[4]['id']}", json={"active": False}, headers=hr)

    direct = (await reviews.get(f"/people/{vp['id']}/reports", headers=employee)).json()
    assert [item["display_name"] for item in direct["items"]] == ["Mgr0", "Mgr1"]
    assert {item["level"] for item in direct["items"]} == {1}

    everyone = await reviews.get(f"/people/{ceo['id']}/reports", params={"depth": "all"}, headers=employee)
    body = everyone.json()
    assert body["total"] == 8
    assert sorted(item["level"] for item in body["items"]) == [1, 2, 2, 3, 3, 3, 3, 3]
    # Org-chart order: every manager comes before their team.
    seen = {ceo["id"]}
    for item in body["items"]:
        assert item["manager_id"] in seen
        seen.add(item["id"])
    active_only = await reviews.get(
        f"/people/{ceo['id']}/reports", params={"depth": "all", "active": "true"}, headers=employee
    )
    assert active_only.json()["total"] == 7
    page = await reviews.get(
        f"/people/{ceo['id']}/reports", params={"depth": "all", "limit": 3, "offset": 6}, headers=employee
    )
    assert (page.json()["total"], len(page.json()["items"])) == (8, 2)
    past_end = await reviews.get(
        f"/people/{ceo['id']}/reports", params={"depth": "all", "offset": 50}, headers=employee
    )
    assert (past_end.json()["total"], past_end.json()["items"]) == (8, [])
    assert "employee_number" not in body["items"][0]  # directory basics only

    chain = (await reviews.get(f"/people/{devs[0]['id']}/managers", headers=employee)).json()
    assert [(item["display_name"], item["level"]) for item in chain] == [("Mgr0", 1), ("Vp", 2), ("Ceo", 3)]
    assert (await reviews.get(f"/people/{ceo['id']}/managers", headers=employee)).json() == []

    units = (await reviews.get("/org-units", headers=employee)).json()
    assert {(u["division"], u["department"], u["people"]) for u in units} == {("Exec", "Exec", 1), ("Tech", "Eng", 7)}
    with_inactive = (await reviews.get("/org-units", params={"include_inactive": "true"}, headers=employee)).json()
    assert sum(unit["people"] for unit in with_inactive) == 9
    in_division = await reviews.get("/people", params={"division": "Tech", "limit": 1}, headers=employee)
    assert in_division.json()["total"] == 8

    # Moving a manager moves their whole subtree, and a cycle is refused.
    await reviews.patch(f"/people/{managers[1]['id']}", json={"manager_id": ceo["id"]}, headers=hr)
    vp_all = (await reviews.get(f"/people/{vp['id']}/reports", params={"depth": "all"}, headers=employee)).json()
    assert vp_all["total"] == 4
    cycle = await reviews.patch(f"/people/{vp['id']}", json={"manager_id": devs[0]["id"]}, headers=hr)
    assert "cycle" in assert_problem(cycle, 422)["detail"]

    for path in ("reports", "managers"):
        assert_problem(await reviews.get(f"/people/{uuid.uuid4()}/{path}", headers=employee), 404)
    bad_depth = await reviews.get(f"/people/{vp['id']}/reports", params={"depth": "sideways"}, headers=employee)
    assert assert_problem(bad_depth, 422)["errors"][0]["field"] == "depth"


async def test_people_api_fields_and_if_match(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    person = await add(
        reviews,
        hr,
        "Full",
        user_name="full.person",
        external_id="w-1",
        employee_number="77",
        title="Analyst",
        locale="fr-FR",
        timezone="Europe/Paris",
        cost_center="CC1",
    )
    assert (person["user_name"], person["external_id"], person["emails"]) == (
        "full.person",
        "w-1",
        [{"value": "full@example.com", "type": "work", "primary": True}],
    )
    url = f"/people/{person['id']}"
    stale = await reviews.patch(url, json={"title": "Lead"}, headers={**hr, "If-Match": 'W/"7"'})
    assert_problem(stale, 412)
    changed = await reviews.patch(url, json={"email": "full@new.example"}, headers={**hr, "If-Match": 'W/"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.json()["emails"] == [{"value": "full@new.example", "type": "work", "primary": True}]
    assert changed.json()["version"] == 2
    clash = await reviews.post(
        "/people", json={"email": "x@example.com", "display_name": "X", "user_name": "FULL.person"}, headers=hr
    )
    assert assert_problem(clash, 409)["field"] == "user_name"
    nulled = await reviews.patch(url, json={"display_name": None}, headers=hr)
    assert assert_problem(nulled, 422)["errors"][0]["field"] == "display_name"
