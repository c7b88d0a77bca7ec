"""``GET /people?id=…``: a page of named people in one call (the web app's name lookups)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.reviews.directory.endpoints import MAX_IDS
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.support.http import problem_fields

pytestmark = pytest.mark.database


async def test_people_by_their_ids(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    ids = []
    for name in ("Ana", "Ben", "Cai", "Dee"):
        created = await reviews.post("/people", json={"email": f"{name}@example.com", "display_name": name}, headers=hr)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    gone = await reviews.patch(f"/people/{ids[3]}", json={"active": False}, headers=hr)
    assert gone.status_code == 200, gone.text
    stranger = str(uuid.uuid4())
    wanted = [("id", ids[0]), ("id", ids[3]), ("id", stranger), ("id", ids[0])]

    # Anyone signed in gets the basics, as GET /people/{id} gives them; a deactivated person too
    # (a page names whoever it shows); an unknown id is simply not there.
    found = (await reviews.get("/people", params=wanted, headers=auth())).json()
    assert (found["total"], [p["display_name"] for p in found["items"]]) == (2, ["Ana", "Dee"])
    assert "hire_date" not in found["items"][0]
    as_hr = (await reviews.get("/people", params=wanted, headers=hr)).json()
    assert "hire_date" in as_hr["items"][0]
    # It combines with the other filters.
    active = (await reviews.get("/people", params=[*wanted, ("active", "true")], headers=hr)).json()
    assert [p["display_name"] for p in active["items"]] == ["Ana"]

    # Not an id, or more than a page of them: 422 naming the parameter, nothing else read.
    Params = list[tuple[str, str | int | float | bool | None]]
    not_an_id: Params = [("id", "ana")]
    too_many: Params = [("id", str(uuid.uuid4())) for _ in range(MAX_IDS + 1)]
    for params in (not_an_id, too_many):
        refused = await reviews.get("/people", params=params, headers=hr)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert {field.split(".")[0] for field in problem_fields(refused)} == {"id"}, refused.text
    assert (await reviews.get("/people", params=[("id", ids[1])])).status_code == 401
