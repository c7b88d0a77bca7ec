"""SCIM as RFC 7643/7644 say: the findings of the provisioning review, each a test.

404 after DELETE, ``/Schemas`` that match what is stored, PATCH removals that stick,
``POST .search``, SCIM error bodies on every SCIM path, and bounded input (filters, nesting,
``startIndex``) answered 400 rather than 500.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role, mint_token
from shared.settings import Settings
from tests.directory.scim_support import ENTERPRISE, MERITLOOP, SCIM_JSON, assert_scim_error, patch, user

pytestmark = pytest.mark.database

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"


async def provision(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/scim/v2/Users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _hr(client: httpx.AsyncClient) -> dict[str, str]:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {mint_token(settings, uuid.uuid4(), [Role.hr])}"}


async def test_a_deleted_user_is_gone_for_scim_but_kept_in_the_directory(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    kept = await provision(reviews, scim_headers, user("stays@example.com"))
    leaver = await provision(reviews, scim_headers, user("leaver@example.com", externalId="ext-leaver"))
    url = f"/scim/v2/Users/{leaver['id']}"
    assert (await reviews.delete(url, headers=scim_headers)).status_code == 204

    # RFC 7644 3.6: the resource MUST NOT be returned any more, for any operation.
    assert_scim_error(await reviews.get(url, headers=scim_headers), 404)
    assert_scim_error(await reviews.put(url, json=user("leaver@example.com"), headers=scim_headers), 404)
    replace = patch({"op": "replace", "path": "active", "value": True})
    assert_scim_error(await reviews.patch(url, json=replace, headers=scim_headers), 404)
    assert_scim_error(await reviews.delete(url, headers=scim_headers), 404)
    listed = (await reviews.get("/scim/v2/Users", headers=scim_headers)).json()
    assert [resource["id"] for resource in listed["Resources"]] == [kept["id"]]
    assert listed["totalResults"] == 1
    for expression in ('userName eq "leaver@example.com"', "active eq false", 'externalId eq "ext-leaver"'):
        found = await reviews.get("/scim/v2/Users", params={"filter": expression}, headers=scim_headers)
        assert found.json()["totalResults"] == 0, expression

    # Inside, the history stays: the person is in the directory, inactive.
    record = (await reviews.get(f"/people/{leaver['id']}", headers=_hr(reviews))).json()
    assert (record["active"], record["user_name"]) == (False, "leaver@example.com")
    assert record["deactivated_at"] is not None


async def test_a_deleted_user_provisioned_again_comes_back_with_their_history(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    leaver = await provision(reviews, scim_headers, user("rehire@example.com", title="Engineer"))
    await reviews.delete(f"/scim/v2/Users/{leaver['id']}", headers=scim_headers)
    again = await provision(reviews, scim_headers, user("rehire@example.com", title="Lead"))
    # The same directory person, so reviews and goals of before stay theirs.
    assert again["id"] == leaver["id"]
    assert (again["active"], again["title"]) == (True, "Lead")
    assert (await reviews.get(f"/scim/v2/Users/{again['id']}", headers=scim_headers)).status_code == 200
    # A live person's userName is still taken.
    assert_scim_error(
        await reviews.post("/scim/v2/Users", json=user("rehire@example.com"), headers=scim_headers), 409, "uniqueness"
    )


async def test_deactivating_is_not_deleting(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    person = await provision(reviews, scim_headers, user("paused@example.com"))
    url = f"/scim/v2/Users/{person['id']}"
    response = await reviews.patch(
        url, json=patch({"op": "replace", "path": "active", "value": False}), headers=scim_headers
    )
    assert response.status_code == 200
    fetched = await reviews.get(url, headers=scim_headers)
    assert (fetched.status_code, fetched.json()["active"]) == (200, False)


def _attributes(schema: dict[str, Any]) -> dict[str, set[str]]:
    """Each advertised attribute with its advertised sub-attributes."""
    return {
        attribute["name"]: {sub["name"] for sub in attribute.get("subAttributes", [])}
        for attribute in schema["attributes"]
    }


async def test_schemas_advertise_only_what_is_stored(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    schemas = (await reviews.get("/scim/v2/Schemas", headers=scim_headers)).json()
    found = {schema["id"]: _attributes(schema) for schema in schemas["Resources"]}
    assert found[CORE] == {
        "userName": set(),
        "name": {"givenName", "familyName"},
        "displayName": set(),
        "title": set(),
        "locale": set(),
        "timezone": set(),
        "active": set(),
        "emails": {"value", "type", "primary"},
        "addresses": {"type", "locality", "primary"},
    }
    assert found[ENTERPRISE] == {
        "employeeNumber": set(),
        "costCenter": set(),
        "organization": set(),
        "division": set(),
        "department": set(),
        "manager": {"value", "$ref"},
    }
    assert found[MERITLOOP] == {"hireDate": set()}
    one = (await reviews.get(f"/scim/v2/Schemas/{CORE}", headers=scim_headers)).json()
    assert _attributes(one) == found[CORE]


async def test_every_advertised_attribute_round_trips(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    """What /Schemas lists is stored: sent in a POST, every value comes back from a GET."""
    boss = await provision(reviews, scim_headers, user("roundtrip-boss@example.com"))
    body: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE, MERITLOOP],
        "userName": "roundtrip@example.com",
        "externalId": "ext-roundtrip",
        "name": {"givenName": "Round", "familyName": "Trip"},
        "displayName": "R. Trip",
        "title": "Tester",
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "active": True,
        "emails": [
            {"value": "roundtrip@example.com", "type": "work", "primary": True},
            {"value": "rt@home.example", "type": "home"},
        ],
        "addresses": [{"type": "work", "locality": "Berlin", "primary": True}],
        ENTERPRISE: {
            "employeeNumber": "42",
            "costCenter": "CC-1",
            "organization": "Org",
            "division": "Div",
            "department": "Dept",
            "manager": {"value": boss["id"]},
        },
        MERITLOOP: {"hireDate": "2024-02-01"},
    }
    created = await provision(reviews, scim_headers, body)
    fetched = (await reviews.get(f"/scim/v2/Users/{created['id']}", headers=scim_headers)).json()
    schemas = (await reviews.get("/scim/v2/Schemas", headers=scim_headers)).json()
    for schema in schemas["Resources"]:
        sent = body if schema["id"] == CORE else body[schema["id"]]
        got = fetched if schema["id"] == CORE else fetched[schema["id"]]
        for name, subs in _attributes(schema).items():
            assert name in got, (schema["id"], name)
            if not subs:
                assert got[name] == sent[name], name
                continue
            values = sent[name] if isinstance(sent[name], list) else [sent[name]]
            returned = got[name] if isinstance(got[name], list) else [got[name]]
            for value in values:
                assert set(value) <= subs, (name, value)
                assert any(all(item.get(key) == value[key] for key in value) for item in returned), (name, returned)


async def test_patch_removals_stick(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    person = await provision(
        reviews,
        scim_headers,
        user(
            "remover@example.com",
            displayName="Chosen Name",
            emails=[
                {"value": "remover@example.com", "type": "work", "primary": True},
                {"value": "remover@home.example", "type": "home"},
            ],
        ),
    )
    url = f"/scim/v2/Users/{person['id']}"

    async def apply(operation: dict[str, Any]) -> dict[str, Any]:
        response = await reviews.patch(url, json=patch(operation), headers=scim_headers)
        assert response.status_code == 200, response.text
        fetched = await reviews.get(url, headers=scim_headers)
        assert fetched.json() == response.json()
        body: dict[str, Any] = fetched.json()
        return body

    body = await apply({"op": "remove", "path": "displayName"})
    assert "displayName" not in body
    body = await apply({"op": "remove", "path": "emails"})
    assert "emails" not in body
    body = await apply({"op": "remove", "path": "active"})
    assert body["active"] is False
    # The directory still has a label and an address to reach the person (from userName).
    record = (await reviews.get(f"/people/{person['id']}", headers=_hr(reviews))).json()
    assert (record["active"], record["email"]) == (False, "remover@example.com")
    assert record["display_name"]

    # Set again, they show again.
    body = await apply({"op": "add", "value": {"displayName": "Back", "active": True}})
    assert (body["displayName"], body["active"]) == ("Back", True)
    body = await apply({"op": "add", "path": "emails", "value": [{"value": "new@example.com", "type": "work"}]})
    assert [email["value"] for email in body["emails"]] == ["new@example.com"]


async def test_post_search(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    people = [await provision(reviews, scim_headers, user(f"s{index}@example.com")) for index in range(3)]
    request = {
        "schemas": [SEARCH_REQUEST],
        "filter": 'userName sw "s"',
        "startIndex": 2,
        "count": 1,
        "attributes": ["userName"],
    }
    for path in ("/scim/v2/Users/.search", "/scim/v2/.search"):
        response = await reviews.post(path, json=request, headers=scim_headers)
        assert response.status_code == 200, (path, response.text)
        assert response.headers["content-type"] == SCIM_JSON
        body = response.json()
        assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (3, 2, 1)
        assert [resource["id"] for resource in body["Resources"]] == [people[1]["id"]]
        assert set(body["Resources"][0]) <= {"schemas", "id", "userName", "meta"}
    for bad in ({"schemas": [SEARCH_REQUEST], "filter": "userName eq"}, {"schemas": [SEARCH_REQUEST], "count": "x"}):
        response = await reviews.post("/scim/v2/Users/.search", json=bad, headers=scim_headers)
        assert response.status_code == 400, response.text
        assert response.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    no_schema = await reviews.post("/scim/v2/Users/.search", json={"filter": 'userName eq "x"'}, headers=scim_headers)
    assert_scim_error(no_schema, 400, "invalidValue")
    anonymous = await reviews.post("/scim/v2/.search", json=request)
    assert_scim_error(anonymous, 401)


async def test_sorting_by_a_stored_attribute_either_way_with_paging(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    # Created in another order than their family names; one without a department sorts last.
    for name, family, department in (("b", "berg", "Ops"), ("c", "Clark", None), ("a", "adams", "eng")):
        enterprise = {} if department is None else {"department": department}
        body = user(f"sort-{name}@example.com", enterprise=enterprise)
        body["name"]["familyName"] = family
        await provision(reviews, scim_headers, body)

    async def names(*, by: str, order: str | None = None, start: int = 1, count: int = 10) -> list[str]:
        params = {"sortBy": by, "startIndex": str(start), "count": str(count), "filter": 'userName sw "sort-"'}
        if order is not None:
            params["sortOrder"] = order
        response = await reviews.get("/scim/v2/Users", params=params, headers=scim_headers)
        assert response.status_code == 200, response.text
        return [resource["userName"][5] for resource in response.json()["Resources"]]

    # Case ignored, as in filters; ascending by default; paging follows the order.
    assert await names(by="name.familyName") == ["a", "b", "c"]
    assert await names(by="name.familyName", order="descending") == ["c", "b", "a"]
    assert await names(by="name.familyName", order="Descending", start=2, count=1) == ["b"]
    assert await names(by=f"{ENTERPRISE}:department") == ["a", "b", "c"]
    assert await names(by=f"{ENTERPRISE}:department", order="descending") == ["b", "a", "c"], "no value: last"
    assert await names(by=f"{CORE}:userName", order="descending") == ["c", "b", "a"]

    search = {"schemas": [SEARCH_REQUEST], "filter": 'userName sw "sort-"', "sortBy": "userName"}
    descending = {**search, "sortOrder": "descending"}
    response = await reviews.post("/scim/v2/Users/.search", json=descending, headers=scim_headers)
    assert [r["userName"][5] for r in response.json()["Resources"]] == ["c", "b", "a"]

    for params, scim_type in (
        ({"sortBy": "nickName"}, "invalidPath"),  # not stored
        ({"sortBy": "urn:example:schema:User:x"}, "invalidPath"),
        ({"sortBy": "userName", "sortOrder": "sideways"}, "invalidValue"),
    ):
        response = await reviews.get("/scim/v2/Users", params=params, headers=scim_headers)
        assert_scim_error(response, 400, scim_type)
    for bad in ({"sortBy": 3}, {"sortOrder": ["descending"]}):
        response = await reviews.post("/scim/v2/Users/.search", json={**search, **bad}, headers=scim_headers)
        assert_scim_error(response, 400, "invalidValue")
    anonymous = await reviews.get("/scim/v2/Users", params={"sortBy": "userName"})
    assert_scim_error(anonymous, 401)
    as_hr = await reviews.get("/scim/v2/Users", params={"sortBy": "userName"}, headers=_hr(reviews))
    assert as_hr.status_code == 401, "people's tokens are not the SCIM client's"


async def test_other_methods_on_users_search_answer_405_not_a_missing_user(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    # ``/Users/{id}`` took ``.search`` for an id and answered 404 (RFC 7644 3.4.3: 405).
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await reviews.request(method, "/scim/v2/Users/.search", headers=scim_headers)
        body = assert_scim_error(response, 405)
        assert response.headers["Allow"] == "POST", method
        assert ".search" in body["detail"]
    assert_scim_error(await reviews.get("/scim/v2/Users/.search"), 401)
    # POST still searches, and real ids are still looked up.
    found = await reviews.post("/scim/v2/Users/.search", json={"schemas": [SEARCH_REQUEST]}, headers=scim_headers)
    assert found.status_code == 200, found.text
    assert_scim_error(await reviews.get(f"/scim/v2/Users/{uuid.uuid4()}", headers=scim_headers), 404)


async def test_every_scim_path_answers_scim_errors(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    assert_scim_error(await reviews.get("/scim/v2/Groups", headers=scim_headers), 404)
    assert_scim_error(await reviews.get("/scim/v2/Users/x/y", headers=scim_headers), 404)
    assert_scim_error(await reviews.get("/scim/v2/Nothing", headers=scim_headers), 404)
    assert_scim_error(await reviews.get("/scim/v2", headers=scim_headers), 404)
    assert_scim_error(await reviews.get("/scim/v2/Groups"), 401)
    wrong_method = await reviews.delete("/scim/v2/Users", headers=scim_headers)
    assert_scim_error(wrong_method, 405)
    assert set(wrong_method.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}
    assert_scim_error(await reviews.put("/scim/v2/ServiceProviderConfig", headers=scim_headers), 405)
    assert_scim_error(await reviews.delete("/scim/v2/.search", headers=scim_headers), 405)
    # Outside /scim/v2 the problem+json of the other APIs stays.
    outside = await reviews.get("/scimx/v2/Users", headers=scim_headers)
    assert (outside.status_code, outside.headers["content-type"]) == (404, "application/problem+json")


async def test_bounded_input_is_refused_not_a_500(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    await provision(reviews, scim_headers, user("bounded@example.com"))
    many = " or ".join(f'userName eq "u{index}@example.com"' for index in range(1000))
    response = await reviews.get("/scim/v2/Users", params={"filter": many}, headers=scim_headers)
    assert_scim_error(response, 400, "invalidFilter")
    deep = "(" * 500 + 'userName eq "x"' + ")" * 500
    response = await reviews.get("/scim/v2/Users", params={"filter": deep}, headers=scim_headers)
    assert_scim_error(response, 400, "invalidFilter")
    search = {"schemas": [SEARCH_REQUEST], "filter": many}
    assert_scim_error(await reviews.post("/scim/v2/.search", json=search, headers=scim_headers), 400, "invalidFilter")
    # A filter just inside the limits still works.
    some = (
        " or ".join(f'userName eq "u{index}@example.com"' for index in range(50))
        + ' or userName eq "bounded@example.com"'
    )
    response = await reviews.get("/scim/v2/Users", params={"filter": some}, headers=scim_headers)
    assert (response.status_code, response.json()["totalResults"]) == (200, 1)

    nested = "[" * 1000 + "]" * 1000
    body = '{"schemas": ["' + CORE + '"], "userName": "deep@example.com", "title": ' + nested + "}"
    response = await reviews.post("/scim/v2/Users", content=body, headers=scim_headers)
    assert_scim_error(response, 400, "invalidSyntax")
    nested_object = '{"a":' * 1000 + "1" + "}" * 1000
    response = await reviews.post("/scim/v2/Users", content=nested_object, headers=scim_headers)
    assert_scim_error(response, 400, "invalidSyntax")
    # Sent as plain JSON, the services' body limits answer first, still in SCIM's format.
    as_json = {**scim_headers, "Content-Type": "application/json"}
    response = await reviews.post("/scim/v2/Users", content=nested_object, headers=as_json)
    assert_scim_error(response, 400, "invalidSyntax")
    huge = '{"schemas": ["' + CORE + '"], "userName": "' + "x" * (2 * 1024 * 1024) + '"}'
    response = await reviews.post("/scim/v2/Users", content=huge, headers=as_json)
    assert_scim_error(response, 413, None)

    for start in (2**64, 2**63, 10**30):
        response = await reviews.get("/scim/v2/Users", params={"startIndex": start}, headers=scim_headers)
        assert response.status_code == 200, (start, response.text)
        assert (response.json()["totalResults"], response.json()["Resources"]) == (1, [])
    for count in (2**64, -(2**64)):
        response = await reviews.get("/scim/v2/Users", params={"count": count}, headers=scim_headers)
        assert response.status_code == 200, (count, response.text)


async def test_a_deleted_user_cannot_become_a_manager(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    boss = await provision(reviews, scim_headers, user("gone-boss@example.com"))
    report = await provision(
        reviews, scim_headers, user("report@example.com", enterprise={"manager": {"value": boss["id"]}})
    )
    await reviews.delete(f"/scim/v2/Users/{boss['id']}", headers=scim_headers)
    newcomer = user("newcomer@example.com", enterprise={"manager": {"value": boss["id"]}})
    assert_scim_error(await reviews.post("/scim/v2/Users", json=newcomer, headers=scim_headers), 400, "invalidValue")
    # The report whose manager left can still be changed, the manager link as it is.
    url = f"/scim/v2/Users/{report['id']}"
    response = await reviews.patch(
        url, json=patch({"op": "replace", "path": "title", "value": "Lead"}), headers=scim_headers
    )
    assert response.status_code == 200, response.text
    assert response.json()[ENTERPRISE]["manager"]["value"] == boss["id"]


async def test_unset_attributes_show_again_once_the_directory_sets_them(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    person = await provision(reviews, scim_headers, user("unnamed@example.com"))
    assert "displayName" not in person
    changed = await reviews.patch(f"/people/{person['id']}", json={"display_name": "Set by HR"}, headers=_hr(reviews))
    assert changed.status_code == 200, changed.text
    fetched = (await reviews.get(f"/scim/v2/Users/{person['id']}", headers=scim_headers)).json()
    assert fetched["displayName"] == "Set by HR"
