"""SCIM 2.0 provisioning through the real reviews service: every operation, filter and error."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import nats
import pytest

from services.reviews.scim.auth import configured_token
from shared.auth import Role
from shared.events import CloudEvent, stream_name
from shared.settings import Environment, Settings
from tests.conftest import TokenFactory
from tests.directory.scim_support import ENTERPRISE, MERITLOOP, SCIM_JSON, assert_scim_error, patch, user
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def provision(client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/scim/v2/Users", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_create_get_and_meta(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    body = user(
        "bjensen@example.com",
        externalId="okta-00u1",
        displayName="Barbara Jensen",
        title="Tour Guide",
        locale="en-US",
        timezone="America/Los_Angeles",
        password="never-stored",
        enterprise={
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
        },
    )
    response = await reviews.post("/scim/v2/Users", json=body, headers=scim_headers)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == SCIM_JSON
    created = response.json()
    assert response.headers["Location"] == created["meta"]["location"]
    assert response.headers["ETag"] == created["meta"]["version"] == 'W/"1"'
    assert created["meta"]["resourceType"] == "User"
    assert created["meta"]["location"].endswith(f"/scim/v2/Users/{created['id']}")
    assert created["meta"]["created"]
    assert created["meta"]["lastModified"]
    assert "password" not in created
    assert created["userName"] == "bjensen@example.com"
    assert created["externalId"] == "okta-00u1"
    assert created["name"] == {"givenName": "Bjensen", "familyName": "Tester"}
    assert (created["title"], created["locale"], created["timezone"]) == ("Tour Guide", "en-US", "America/Los_Angeles")
    assert created[ENTERPRISE] == body[ENTERPRISE]

    fetched = await reviews.get(f"/scim/v2/Users/{created['id']}", headers=scim_headers)
    assert fetched.status_code == 200
    assert fetched.json() == created
    only = await reviews.get(f"/scim/v2/Users/{created['id']}", params={"attributes": "userName"}, headers=scim_headers)
    assert set(only.json()) <= {"schemas", "id", "userName", "meta"}

    # The same person through the people API.
    person = await reviews.get(f"/people/{created['id']}", headers=_hr_headers(reviews))
    assert person.json()["employee_number"] == "701984"
    assert person.json()["display_name"] == "Barbara Jensen"


def _hr_headers(client: httpx.AsyncClient) -> dict[str, str]:
    from shared.auth import mint_token

    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {mint_token(settings, uuid.uuid4(), [Role.hr])}"}


async def test_uniqueness_errors(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    await provision(reviews, scim_headers, user("taken@example.com", externalId="ext-1"))
    same_user_name = user("TAKEN@example.com", emails=[{"value": "other@example.com", "primary": True}])
    assert_scim_error(
        await reviews.post("/scim/v2/Users", json=same_user_name, headers=scim_headers), 409, "uniqueness"
    )
    same_external = user("new@example.com", externalId="ext-1")
    assert_scim_error(await reviews.post("/scim/v2/Users", json=same_external, headers=scim_headers), 409, "uniqueness")
    same_email = user("new2@example.com", emails=[{"value": "Taken@Example.com", "type": "work", "primary": True}])
    assert_scim_error(await reviews.post("/scim/v2/Users", json=same_email, headers=scim_headers), 409, "uniqueness")
    listed = await reviews.get("/scim/v2/Users", headers=scim_headers)
    assert listed.json()["totalResults"] == 1


async def test_invalid_values(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    no_user_name = {"schemas": [user("x@example.com")["schemas"][0]], "emails": [{"value": "x@example.com"}]}
    response = await reviews.post("/scim/v2/Users", json=no_user_name, headers=scim_headers)
    assert response.status_code == 400
    assert response.json()["scimType"] in {"invalidValue", "invalidSyntax"}
    unknown_manager = user("m@example.com", enterprise={"manager": {"value": str(uuid.uuid4())}})
    body = assert_scim_error(
        await reviews.post("/scim/v2/Users", json=unknown_manager, headers=scim_headers), 400, "invalidValue"
    )
    assert "manager" in body["detail"]
    bad_email = user("y@example.com", emails=[{"value": "not-an-address", "primary": True}])
    assert_scim_error(await reviews.post("/scim/v2/Users", json=bad_email, headers=scim_headers), 400, "invalidValue")
    assert_scim_error(await reviews.post("/scim/v2/Users", content=b"{", headers=scim_headers), 400, "invalidSyntax")


async def test_replace_with_put_and_etags(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    created = await provision(reviews, scim_headers, user("put@example.com", title="Engineer", locale="de-DE"))
    url = f"/scim/v2/Users/{created['id']}"
    replacement = user("put@example.com", displayName="Put Person", enterprise={"department": "R&D"})
    replaced = await reviews.put(url, json=replacement, headers={**scim_headers, "If-Match": 'W/"1"'})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["meta"]["version"] == 'W/"2"'
    assert "title" not in body
    assert "locale" not in body
    assert body[ENTERPRISE]["department"] == "R&D"
    assert body["displayName"] == "Put Person"

    stale = await reviews.put(url, json=replacement, headers={**scim_headers, "If-Match": 'W/"1"'})
    assert_scim_error(stale, 412)
    stale_patch = await reviews.patch(
        url, json=patch({"op": "replace", "path": "title", "value": "X"}), headers={**scim_headers, "If-Match": 'W/"1"'}
    )
    assert_scim_error(stale_patch, 412)
    same = await reviews.put(url, json=replacement, headers=scim_headers)
    assert same.json()["meta"]["version"] == 'W/"2"'  # nothing changed, no new version

    other_id = {**replacement, "id": str(uuid.uuid4())}
    assert_scim_error(await reviews.put(url, json=other_id, headers=scim_headers), 400, "mutability")
    missing = f"/scim/v2/Users/{uuid.uuid4()}"
    assert_scim_error(await reviews.put(missing, json=replacement, headers=scim_headers), 404)


async def test_patch_operations(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    boss = await provision(reviews, scim_headers, user("boss@example.com"))
    worker = await provision(reviews, scim_headers, user("worker@example.com", title="Engineer"))
    url = f"/scim/v2/Users/{worker['id']}"

    async def apply(*operations: dict[str, Any]) -> dict[str, Any]:
        response = await reviews.patch(url, json=patch(*operations), headers=scim_headers)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    # Multi-valued: add an address, change the work one through a value filter, remove one.
    body = await apply({"op": "add", "path": "emails", "value": [{"value": "w@home.example", "type": "home"}]})
    assert {email["value"] for email in body["emails"]} == {"worker@example.com", "w@home.example"}
    body = await apply({"op": "replace", "path": 'emails[type eq "work"].value', "value": "worker@new.example"})
    assert {email["value"] for email in body["emails"]} == {"worker@new.example", "w@home.example"}
    body = await apply({"op": "remove", "path": 'emails[type eq "home"]'})
    assert [email["value"] for email in body["emails"]] == ["worker@new.example"]

    # Extension attributes, by path and as a value object without a path; Entra's bare manager id.
    body = await apply({"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": boss["id"]}})
    assert body[ENTERPRISE]["manager"]["value"] == boss["id"]
    body = await apply(
        {"op": "replace", "value": {"title": "Lead", f"{ENTERPRISE}:department": "Ops", "displayName": "W. Orker"}}
    )
    assert (body["title"], body[ENTERPRISE]["department"], body["displayName"]) == ("Lead", "Ops", "W. Orker")
    body = await apply({"op": "remove", "path": f"{ENTERPRISE}:manager"})
    assert "manager" not in body.get(ENTERPRISE, {})
    body = await apply({"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": boss["id"]})
    assert body[ENTERPRISE]["manager"]["value"] == boss["id"]
    body = await apply({"op": "replace", "path": "name.givenName", "value": "Wendy"})
    assert body["name"]["givenName"] == "Wendy"

    # active
    body = await apply({"op": "replace", "path": "active", "value": False})
    assert body["active"] is False
    body = await apply({"op": "replace", "value": {"active": True}})
    assert body["active"] is True
    assert body["meta"]["version"] == f'W/"{body["meta"]["version"][3:-1]}"'

    # Errors: each with its scimType, and nothing written.
    before = (await reviews.get(url, headers=scim_headers)).json()
    errors: list[tuple[dict[str, Any], int, str]] = [
        ({"op": "replace", "path": "id", "value": str(uuid.uuid4())}, 400, "mutability"),
        ({"op": "replace", "path": "meta", "value": {}}, 400, "mutability"),
        ({"op": "replace", "path": 'emails[type eq "pager"].value', "value": "p@x.example"}, 400, "noTarget"),
        ({"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": str(uuid.uuid4())}}, 400, "invalidValue"),
        ({"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": worker["id"]}}, 400, "invalidValue"),
        ({"op": "remove", "path": "userName"}, 400, "mutability"),
    ]
    for operation, status, scim_type in errors:
        response = await reviews.patch(url, json=patch(operation), headers=scim_headers)
        assert_scim_error(response, status, scim_type)
    # A cycle: the boss may not report to the worker who reports to the boss.
    cycle = patch({"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": worker["id"]}})
    response = await reviews.patch(f"/scim/v2/Users/{boss['id']}", json=cycle, headers=scim_headers)
    assert "cycle" in assert_scim_error(response, 400, "invalidValue")["detail"]
    assert (await reviews.get(url, headers=scim_headers)).json() == before

    unknown = await reviews.patch(
        f"/scim/v2/Users/{uuid.uuid4()}",
        json=patch({"op": "replace", "path": "title", "value": "x"}),
        headers=scim_headers,
    )
    assert_scim_error(unknown, 404)
    assert_scim_error(await reviews.patch("/scim/v2/Users/not-a-uuid", json=patch(), headers=scim_headers), 404)


async def test_delete_deactivates_and_keeps_history(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    created = await provision(reviews, scim_headers, user("leaver@example.com"))
    url = f"/scim/v2/Users/{created['id']}"
    response = await reviews.delete(url, headers=scim_headers)
    assert response.status_code == 204
    # Gone for SCIM (RFC 7644 3.6), kept in the directory as inactive.
    assert_scim_error(await reviews.get(url, headers=scim_headers), 404)
    record = (await reviews.get(f"/people/{created['id']}", headers=_hr_headers(reviews))).json()
    assert record["active"] is False
    assert record["deactivated_at"] is not None
    assert record["version"] == 2
    assert_scim_error(await reviews.delete(f"/scim/v2/Users/{uuid.uuid4()}", headers=scim_headers), 404)


async def test_reactivation_clears_the_deactivation_time(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str]
) -> None:
    created = await provision(reviews, scim_headers, user("paused@example.com"))
    url = f"/scim/v2/Users/{created['id']}"
    await reviews.patch(url, json=patch({"op": "replace", "path": "active", "value": False}), headers=scim_headers)
    record = (await reviews.get(f"/people/{created['id']}", headers=_hr_headers(reviews))).json()
    assert (record["active"], record["deactivated_at"] is not None) == (False, True)
    await reviews.patch(url, json=patch({"op": "replace", "path": "active", "value": True}), headers=scim_headers)
    record = (await reviews.get(f"/people/{created['id']}", headers=_hr_headers(reviews))).json()
    assert record["active"] is True
    assert record["deactivated_at"] is None


async def test_list_filters_and_pagination(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    people = [
        await provision(reviews, scim_headers, user(f"p{index}@example.com", externalId=f"ext-{index}"))
        for index in range(5)
    ]
    await reviews.patch(
        f"/scim/v2/Users/{people[4]['id']}",
        json=patch({"op": "replace", "path": "active", "value": False}),
        headers=scim_headers,
    )
    await reviews.patch(
        f"/scim/v2/Users/{people[3]['id']}",
        json=patch({"op": "add", "path": "emails", "value": [{"value": "alias@other.example", "type": "other"}]}),
        headers=scim_headers,
    )

    async def search(expression: str | None = None, **params: Any) -> dict[str, Any]:
        query = {**params, **({"filter": expression} if expression else {})}
        response = await reviews.get("/scim/v2/Users", params=query, headers=scim_headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == SCIM_JSON
        body: dict[str, Any] = response.json()
        assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
        return body

    def ids(body: dict[str, Any]) -> list[str]:
        return [resource["id"] for resource in body["Resources"]]

    assert ids(await search('userName eq "P1@EXAMPLE.COM"')) == [people[1]["id"]]
    assert ids(await search('externalId eq "ext-2"')) == [people[2]["id"]]
    assert ids(await search('externalId eq "EXT-2"')) == []  # externalId is case-exact
    assert ids(await search('emails.value eq "alias@other.example"')) == [people[3]["id"]]
    assert ids(await search('emails[type eq "other" and value co "alias"]')) == [people[3]["id"]]
    assert ids(await search("active eq false")) == [people[4]["id"]]
    assert len(ids(await search('active eq true and userName sw "p"'))) == 4
    assert ids(await search('userName eq "p0@example.com" or userName eq "p1@example.com"')) == ids(
        await search(startIndex=1, count=2)
    )

    page = await search(startIndex=2, count=2)
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (5, 2, 2)
    assert ids(page) == [people[1]["id"], people[2]["id"]]
    last = await search(startIndex=5, count=10)
    assert ids(last) == [people[4]["id"]]
    assert last["totalResults"] == 5
    counted = await search(count=0)
    assert (counted["totalResults"], counted["Resources"]) == (5, [])

    for bad in ("userName eq", 'userName zz "x"', 'nickName eq "x"', 'active eq "yes"', "(userName pr"):
        response = await reviews.get("/scim/v2/Users", params={"filter": bad}, headers=scim_headers)
        assert_scim_error(response, 400, "invalidFilter")


async def test_discovery_endpoints(reviews: httpx.AsyncClient, scim_headers: dict[str, str]) -> None:
    config = await reviews.get("/scim/v2/ServiceProviderConfig", headers=scim_headers)
    assert config.headers["content-type"] == SCIM_JSON
    body = config.json()
    assert body["patch"]["supported"] is True
    assert body["filter"]["supported"] is True
    assert body["etag"]["supported"] is True
    assert body["bulk"]["supported"] is False
    assert body["sort"]["supported"] is True
    assert body["authenticationSchemes"][0]["type"] == "oauthbearertoken"

    types = (await reviews.get("/scim/v2/ResourceTypes", headers=scim_headers)).json()
    assert types["totalResults"] == 1
    resource_type = types["Resources"][0]
    assert (resource_type["id"], resource_type["endpoint"]) == ("User", "/Users")
    assert resource_type["schemaExtensions"] == [
        {"schema": ENTERPRISE, "required": False},
        {"schema": MERITLOOP, "required": False},
    ]
    assert (await reviews.get("/scim/v2/ResourceTypes/User", headers=scim_headers)).json()["id"] == "User"
    assert_scim_error(await reviews.get("/scim/v2/ResourceTypes/Group", headers=scim_headers), 404)

    schemas = (await reviews.get("/scim/v2/Schemas", headers=scim_headers)).json()
    found = {schema["id"]: schema for schema in schemas["Resources"]}
    assert set(found) == {"urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE, MERITLOOP}
    assert "manager" in {attribute["name"] for attribute in found[ENTERPRISE]["attributes"]}
    one = await reviews.get(f"/scim/v2/Schemas/{ENTERPRISE}", headers=scim_headers)
    assert one.json()["name"] == "EnterpriseUser"


async def test_tokens_are_kept_apart(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str], auth: TokenFactory
) -> None:
    assert_scim_error(await reviews.get("/scim/v2/Users"), 401)
    wrong = {"Authorization": "Bearer not-the-token"}
    assert_scim_error(await reviews.get("/scim/v2/Users", headers=wrong), 401)
    # A person's token, even an admin's, does not open SCIM ...
    assert_scim_error(await reviews.get("/scim/v2/Users", headers=auth(Role.admin)), 401)
    # ... and the SCIM token does not open the people API.
    response = await reviews.get("/people", headers=scim_headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_scim_is_disabled_without_a_token(service_client: Any, settings: Settings) -> None:
    assert configured_token(settings.model_copy(update={"scim_token": None})) is None
    production = settings.model_copy(update={"environment": Environment.production, "scim_token": "short"})
    assert configured_token(production) is None
    long_token = "x" * 32
    assert configured_token(production.model_copy(update={"scim_token": long_token})) == long_token


async def test_scim_changes_are_published_without_sensitive_fields(
    reviews: httpx.AsyncClient, scim_headers: dict[str, str], settings: Settings
) -> None:
    created = await provision(
        reviews,
        scim_headers,
        user("pub@example.com", title="Chef", password="secret-pass", enterprise={"costCenter": "9"}),
    )
    await reviews.delete(f"/scim/v2/Users/{created['id']}", headers=scim_headers)
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()

        async def both() -> bool:
            return int((await js.stream_info(stream_name("reviews"))).state.messages) == 2

        await wait_until(both, message="two person events")
        upserted = await js.get_last_msg(stream_name("reviews"), "meritloop.reviews.person.upserted")
        deactivated = await js.get_last_msg(stream_name("reviews"), "meritloop.reviews.person.deactivated")
    finally:
        await nc.close()
    first = CloudEvent.from_bytes(upserted.data or b"")
    second = CloudEvent.from_bytes(deactivated.data or b"")
    assert first.data["title"] == "Chef"
    assert first.data["version"] == 1
    assert (second.data["version"], second.data["active"]) == (2, False)
    for data in (first.data, second.data):
        assert not {"password", "cost_center", "employee_number", "salary", "gender"} & set(data)
