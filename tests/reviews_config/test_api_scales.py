"""Rating scales over HTTP: CRUD, rights, validation paths, freezing while published, events."""

from __future__ import annotations

import httpx
import pytest

from services.reviews.templates.service import RATING_SCALE_CHANGED
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.reviews_config.builders import scale_body, template_body
from tests.reviews_config.support import create_scale, errors_by_field, events
from tests.support.http import assert_problem

pytestmark = pytest.mark.database


async def test_hr_manages_scales_and_everyone_reads_them(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr, employee = auth(Role.hr), auth(Role.employee)
    three = await create_scale(reviews, hr, (1, 2, 3), "Three")
    seven = await create_scale(reviews, auth(Role.admin), (1, 2, 3, 4, 5, 6, 7), "Seven")
    assert [p["value"] for p in three["points"]] == [1, 2, 3]
    assert three["revision"] == 1

    listed = (await reviews.get("/rating-scales", headers=employee, params={"limit": 1})).json()
    assert (listed["total"], [s["name"] for s in listed["items"]]) == (2, ["Seven"])
    searched = (await reviews.get("/rating-scales", headers=employee, params={"q": "THR"})).json()
    assert [s["id"] for s in searched["items"]] == [three["id"]]
    assert (await reviews.get(f"/rating-scales/{seven['id']}", headers=employee)).json() == seven

    changed = scale_body("Three, renamed", (0.5, 1.5, 2.5))
    response = await reviews.put(f"/rating-scales/{three['id']}", json=changed, headers=hr)
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["revision"]) == ("Three, renamed", 2)
    same = await reviews.put(f"/rating-scales/{three['id']}", json=changed, headers=hr)
    assert same.json()["revision"] == 2  # nothing changed, no new revision

    assert (await reviews.delete(f"/rating-scales/{seven['id']}", headers=hr)).status_code == 204
    assert_problem(await reviews.get(f"/rating-scales/{seven['id']}", headers=employee), 404)
    assert await events(reviews, RATING_SCALE_CHANGED) == [
        {"id": three["id"]},
        {"id": seven["id"]},
        {"id": three["id"]},
        {"id": seven["id"]},
    ]


async def test_employees_cannot_write_scales(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    scale = await create_scale(reviews, auth(Role.hr))
    for headers in (auth(Role.employee), auth(Role.manager)):
        assert_problem(await reviews.post("/rating-scales", json=scale_body(), headers=headers), 403)
        assert_problem(await reviews.put(f"/rating-scales/{scale['id']}", json=scale_body(), headers=headers), 403)
        assert_problem(await reviews.delete(f"/rating-scales/{scale['id']}", headers=headers), 403)
    assert_problem(await reviews.get("/rating-scales"), 401)


async def test_invalid_points_name_their_path(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    body = scale_body(values=(1, 2, 1.5, 4))
    body["points"][3]["label"] = "Level 1"
    errors = errors_by_field(await reviews.post("/rating-scales", json=body, headers=auth(Role.hr)))
    assert errors == {
        "points[2].value": "values must increase strictly from point to point",
        "points[3].label": "the same label as points[0]",
    }
    one = errors_by_field(await reviews.post("/rating-scales", json=scale_body(values=(1,)), headers=auth(Role.hr)))
    assert "2 to 10 points" in one["points"]
    body = scale_body()
    body["points"][0]["value"] = "high"
    assert "points.0.value" in errors_by_field(await reviews.post("/rating-scales", json=body, headers=auth(Role.hr)))


async def test_a_scale_in_use_keeps_its_points(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    scale = await create_scale(reviews, hr)
    draft = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()

    # A draft does not freeze the scale, but it cannot be deleted from under it.
    relabelled = scale_body("Five", (1, 2, 3, 4, 5))
    relabelled["points"][0]["label"] = "Starting"
    assert (await reviews.put(f"/rating-scales/{scale['id']}", json=relabelled, headers=hr)).status_code == 200
    refused = assert_problem(await reviews.delete(f"/rating-scales/{scale['id']}", headers=hr), 409)
    assert refused["templates"] == [draft["id"]]

    assert (await reviews.post(f"/templates/{draft['id']}/publish", headers=hr)).status_code == 200
    for values in ((1, 2, 3), (1, 2, 3, 4, 6)):
        conflict = await reviews.put(f"/rating-scales/{scale['id']}", json=scale_body("Five", values), headers=hr)
        assert assert_problem(conflict, 409)["templates"] == [draft["id"]]
    renamed = {**relabelled, "name": "Five (2026)", "description": "Renamed."}
    response = await reviews.put(f"/rating-scales/{scale['id']}", json=renamed, headers=hr)
    assert response.status_code == 200, response.text
    assert response.json()["revision"] == 3
    assert_problem(await reviews.delete(f"/rating-scales/{scale['id']}", headers=hr), 409)
