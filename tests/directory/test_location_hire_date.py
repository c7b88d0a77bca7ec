"""A person's location and hire date through every way into the directory: API, import, SCIM."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.reviews.models import OutboxEvent
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.directory.scim_support import CORE, ENTERPRISE, MERITLOOP, assert_scim_error, patch, user
from tests.directory.test_import import csv_bytes, post_import
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database


async def person_events(client: httpx.AsyncClient, person_id: str) -> list[dict[str, Any]]:
    """``data`` of the outbox events about this person, oldest first (sent or not)."""
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        rows = await session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))
        events = [json.loads(row.payload) for row in rows]
    return [event["data"] for event in events if event.get("subject") == person_id]


# --- /people ---------------------------------------------------------------------------------


async def test_create_read_patch_and_list(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr, employee = auth(Role.hr), auth()
    body = {"email": "ana@example.com", "display_name": "Ana", "location": "Berlin", "hire_date": "2021-03-15"}
    created = await reviews.post("/people", json=body, headers=hr)
    assert created.status_code == 201, created.text
    ana = created.json()
    assert (ana["location"], ana["hire_date"]) == ("Berlin", "2021-03-15")
    other = await reviews.post("/people", json={"email": "bo@example.com", "display_name": "Bo"}, headers=hr)
    assert (other.json()["location"], other.json()["hire_date"]) == (None, None)

    # Everyone sees where a colleague works; the hire date is part of HR's whole record.
    seen = (await reviews.get(f"/people/{ana['id']}", headers=employee)).json()
    assert seen["location"] == "Berlin"
    assert "hire_date" not in seen
    assert (await reviews.get(f"/people/{ana['id']}", headers=hr)).json()["hire_date"] == "2021-03-15"

    url = f"/people/{ana['id']}"
    moved = await reviews.patch(url, json={"location": "Lisbon"}, headers={**hr, "If-Match": 'W/"1"'})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["location"], moved.json()["hire_date"], moved.json()["version"]) == ("Lisbon", "2021-03-15", 2)
    cleared = (await reviews.patch(url, json={"hire_date": None}, headers=hr)).json()
    assert (cleared["location"], cleared["hire_date"], cleared["version"]) == ("Lisbon", None, 3)
    same = (await reviews.patch(url, json={"location": "Lisbon"}, headers=hr)).json()
    assert same["version"] == 3  # nothing changed, no new version

    assert problem_fields(await reviews.patch(url, json={"hire_date": "15/03/2021"}, headers=hr)) == {"hire_date"}
    assert problem_fields(await reviews.patch(url, json={"location": "x" * 101}, headers=hr)) == {"location"}
    too_long = {"email": "cy@example.com", "display_name": "Cy", "location": "x" * 101}
    assert problem_fields(await reviews.post("/people", json=too_long, headers=hr)) == {"location"}

    in_lisbon = (await reviews.get("/people", params={"location": "Lisbon"}, headers=employee)).json()
    assert [person["id"] for person in in_lisbon["items"]] == [ana["id"]]
    assert (await reviews.get("/people", params={"location": "Berlin"}, headers=hr)).json()["total"] == 0

    # Neither attribute travels on the bus: other services do not use them.
    for data in await person_events(reviews, ana["id"]):
        assert not {"location", "hire_date"} & set(data)
    assert [data["version"] for data in await person_events(reviews, ana["id"])] == [1, 2, 3]


# --- import ----------------------------------------------------------------------------------

HEADER = ["email", "display_name", "location", "hire_date"]


async def test_import_columns_and_a_bad_hire_date(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    rows = [
        ["ana@example.com", "Ana", "Berlin", "2021-03-15"],
        ["bo@example.com", "Bo", "Lisbon", "15.03.2021"],  # not YYYY-MM-DD
        ["cy@example.com", "Cy", "", ""],  # empty cells: no location, no hire date
        ["di@example.com", "Di", "x" * 101, "2021-02-30"],  # too long, and no such day
    ]
    refused = assert_problem(await post_import(reviews, hr, csv_bytes(rows, HEADER)), 422)
    by_row = {row["row"]: row for row in refused["report"]["rows"]}
    assert by_row[2]["reasons"] == ["hire_date: '15.03.2021' is not a date (YYYY-MM-DD)"]
    assert by_row[4]["reasons"] == [
        "location: longer than 100 characters",
        "hire_date: '2021-02-30' is not a date (YYYY-MM-DD)",
    ]
    assert (by_row[1]["action"], by_row[3]["action"]) == ("create", "create")

    applied = await post_import(reviews, hr, csv_bytes(rows, HEADER), mode="valid_rows")
    assert applied.status_code == 200, applied.text
    people = {p["email"]: p for p in (await reviews.get("/people", headers=hr)).json()["items"]}
    assert set(people) == {"ana@example.com", "cy@example.com"}
    assert (people["ana@example.com"]["location"], people["ana@example.com"]["hire_date"]) == ("Berlin", "2021-03-15")
    assert (people["cy@example.com"]["location"], people["cy@example.com"]["hire_date"]) == (None, None)

    # JSON with camelCase keys; a change of either is an update naming it.
    data = [
        {"email": "ana@example.com", "displayName": "Ana", "location": "Berlin", "hireDate": "2020-01-06"},
        {"email": "cy@example.com", "displayName": "Cy", "location": "Lisbon"},
    ]
    report = (await post_import(reviews, hr, json.dumps(data).encode(), "application/json")).json()
    assert [(row["action"], row["changes"]) for row in report["rows"]] == [
        ("update", ["hire_date"]),
        ("update", ["location"]),
    ]
    # A file without the columns leaves both as they are.
    unchanged = await post_import(reviews, hr, csv_bytes([["ana@example.com", "Ana"]], ["email", "display_name"]))
    assert [row["action"] for row in unchanged.json()["rows"]] == ["unchanged"]
    ana = (await reviews.get(f"/people/{people['ana@example.com']['id']}", headers=hr)).json()
    assert (ana["location"], ana["hire_date"], ana["version"]) == ("Berlin", "2020-01-06", 2)
    # An empty cell clears.
    await post_import(reviews, hr, csv_bytes([["ana@example.com", "Ana", "", ""]], HEADER))
    ana = (await reviews.get(f"/people/{ana['id']}", headers=hr)).json()
    assert (ana["location"], ana["hire_date"]) == (None, None)


# --- SCIM ------------------------------------------------------------------------------------


async def test_scim_round_trip(reviews: httpx.AsyncClient, scim_headers: dict[str, str], auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    body = user(
        "ana@example.com",
        addresses=[
            {"type": "home", "locality": "Potsdam"},
            {"type": "work", "locality": "Berlin", "streetAddress": "Unter den Linden 1", "primary": True},
        ],
        enterprise={"department": "Eng"},
    )
    body["schemas"].append(MERITLOOP)
    body[MERITLOOP] = {"hireDate": "2021-03-15"}
    created = await reviews.post("/scim/v2/Users", json=body, headers=scim_headers)
    assert created.status_code == 201, created.text
    ana = created.json()
    # Only the work address's locality is kept; it comes back as the one work address.
    assert ana["addresses"] == [{"type": "work", "locality": "Berlin", "primary": True}]
    assert ana[MERITLOOP] == {"hireDate": "2021-03-15"}
    assert set(ana["schemas"]) == {CORE, ENTERPRISE, MERITLOOP}
    record = (await reviews.get(f"/people/{ana['id']}", headers=hr)).json()
    assert (record["location"], record["hire_date"]) == ("Berlin", "2021-03-15")
    url = f"/scim/v2/Users/{ana['id']}"
    assert (await reviews.get(url, headers=scim_headers)).json() == ana

    # A PUT replaces the location (cleared when left out), but an IdP that sends no Meritloop
    # extension at all does not clear a hire date an HRIS import set.
    replaced = await reviews.put(url, json=user("ana@example.com"), headers=scim_headers)
    assert replaced.status_code == 200, replaced.text
    assert "addresses" not in replaced.json()
    assert replaced.json()[MERITLOOP] == {"hireDate": "2021-03-15"}
    explicit = {**user("ana@example.com"), MERITLOOP: {}}
    explicit["schemas"] = [CORE, MERITLOOP]
    assert MERITLOOP not in (await reviews.put(url, json=explicit, headers=scim_headers)).json()

    async def apply(*operations: dict[str, Any]) -> dict[str, Any]:
        response = await reviews.patch(url, json=patch(*operations), headers=scim_headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    # Entra ID and Okta add the city by path, also to a person with no work address yet.
    body = await apply({"op": "add", "path": 'addresses[type eq "work"].locality', "value": "Lisbon"})
    assert body["addresses"] == [{"type": "work", "locality": "Lisbon", "primary": True}]
    body = await apply({"op": "replace", "path": 'addresses[type eq "work"].locality', "value": "Porto"})
    assert body["addresses"][0]["locality"] == "Porto"
    body = await apply({"op": "replace", "path": f"{MERITLOOP}:hireDate", "value": "2019-12-02"})
    assert body[MERITLOOP] == {"hireDate": "2019-12-02"}
    body = await apply({"op": "replace", "value": {f"{MERITLOOP}:hireDate": "2019-12-01", "title": "Lead"}})
    assert (body[MERITLOOP]["hireDate"], body["title"]) == ("2019-12-01", "Lead")
    record = (await reviews.get(f"/people/{ana['id']}", headers=hr)).json()
    assert (record["location"], record["hire_date"]) == ("Porto", "2019-12-01")

    searched = await reviews.get(
        "/scim/v2/Users", params={"filter": 'addresses.locality eq "porto"'}, headers=scim_headers
    )
    assert [found["id"] for found in searched.json()["Resources"]] == [ana["id"]]
    for expression, expected in (
        (f'{MERITLOOP}:hireDate lt "2019-12-01"', []),
        (f'{MERITLOOP}:hireDate le "2019-12-01"', [ana["id"]]),
        (f"{MERITLOOP}:hireDate pr", [ana["id"]]),
    ):
        found = await reviews.get("/scim/v2/Users", params={"filter": expression}, headers=scim_headers)
        assert [resource["id"] for resource in found.json()["Resources"]] == expected, expression
    for bad in (f'{MERITLOOP}:hireDate eq "soon"', f'{MERITLOOP}:hireDate co "2019"'):
        response = await reviews.get("/scim/v2/Users", params={"filter": bad}, headers=scim_headers)
        assert_scim_error(response, 400, "invalidFilter")

    body = await apply({"op": "remove", "path": f"{MERITLOOP}:hireDate"})
    assert MERITLOOP not in body
    body = await apply({"op": "remove", "path": 'addresses[type eq "work"]'})
    assert "addresses" not in body
    record = (await reviews.get(f"/people/{ana['id']}", headers=hr)).json()
    assert (record["location"], record["hire_date"]) == (None, None)

    bad_date = await reviews.patch(
        url, json=patch({"op": "add", "path": f"{MERITLOOP}:hireDate", "value": "03/15/2021"}), headers=scim_headers
    )
    assert "hireDate" in assert_scim_error(bad_date, 400, "invalidValue")["detail"]
    long_city = patch({"op": "add", "path": "addresses", "value": [{"type": "work", "locality": "x" * 101}]})
    assert_scim_error(await reviews.patch(url, json=long_city, headers=scim_headers), 400, "invalidValue")
    # An untyped address counts as the work address.
    untyped = user(f"{uuid.uuid4().hex[:8]}@example.com", addresses=[{"locality": "Oslo"}])
    assert (await reviews.post("/scim/v2/Users", json=untyped, headers=scim_headers)).json()["addresses"] == [
        {"type": "work", "locality": "Oslo", "primary": True}
    ]


async def test_scim_discovery_names_the_meritloop_extension(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    types = (await reviews.get("/scim/v2/ResourceTypes/User", headers=scim_headers)).json()
    assert {"schema": MERITLOOP, "required": False} in types["schemaExtensions"]
    schema = (await reviews.get(f"/scim/v2/Schemas/{MERITLOOP}", headers=scim_headers)).json()
    assert [(attribute["name"], attribute["type"]) for attribute in schema["attributes"]] == [("hireDate", "string")]
