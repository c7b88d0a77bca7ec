"""Each service's OpenAPI declares every status its routes answer, and their security.

Every operation of the document is driven through the real service (anonymous, as an
employee, as HR and admin, with unknown ids and with bodies of the wrong shape); each
(method, route, status) observed must be declared for that route, with the route's error
schema. 2xx answers are not compared: an unknown id or an empty body rarely reaches them.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header
from pydantic import BaseModel

from shared.auth import CurrentPrincipal, Role
from shared.errors import PROBLEM_JSON
from shared.openapi import install_openapi, problems, register_statuses
from shared.settings import ServiceName, Settings
from tests.conftest import ServiceClientFactory, TokenFactory

pytestmark = pytest.mark.database

SCIM_TOKEN = "scim-provisioning-token-for-openapi-tests-0123456789"
PUBLIC = {"/healthz", "/readyz", "/livez", "/metrics"}
SCIM_JSON = "application/scim+json"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"scim_token": SCIM_TOKEN})


def _value(parameter: dict[str, Any]) -> str:
    schema = parameter.get("schema", {})
    options = schema.get("anyOf", [schema])
    formats = {option.get("format") for option in options} | {option.get("type") for option in options}
    if "uuid" in formats:
        return str(uuid.uuid4())
    if "integer" in formats or "number" in formats:
        return "1"
    if "date" in formats:
        return "2026-01-01"
    return "x"


def _path(template: str, operation: dict[str, Any]) -> str:
    path = template
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", _value(parameter))
    return path


def _callers(path: str, auth: TokenFactory) -> list[dict[str, str]]:
    if path.startswith("/scim/"):
        return [{}, {"Authorization": f"Bearer {SCIM_TOKEN}"}, auth(Role.admin)]
    return [{}, auth(Role.employee), auth(Role.manager), auth(Role.hr, Role.admin), {"Authorization": "Bearer x"}]


def _bodies(operation: dict[str, Any]) -> list[Any]:
    if "requestBody" not in operation and operation.get("_method") not in ("post", "put", "patch"):
        return [None]
    return [{}, [], {"unexpected": 1}, "text"]


async def _observe(client: httpx.AsyncClient, document: dict[str, Any], auth: TokenFactory) -> list[str]:
    """Each undeclared answer, as "METHOD route: status (declared ...)"."""
    problems: list[str] = []
    for template, item in document["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            operation["_method"] = method
            for headers in _callers(template, auth):
                for body in _bodies(operation):
                    request = client.request(
                        method.upper(),
                        _path(template, operation),
                        headers=headers,
                        **({} if body is None else {"json": body}),
                    )
                    response = await asyncio.wait_for(request, 30)
                    status = str(response.status_code)
                    if response.status_code >= 300 and status not in declared:
                        problems.append(f"{method.upper()} {template}: {status} (declared {sorted(declared)})")
                    elif response.status_code >= 400:
                        media = SCIM_JSON if template.startswith("/scim/") else PROBLEM_JSON
                        content = operation["responses"].get(status, {}).get("content", {})
                        if media not in content or not response.headers["content-type"].startswith(media):
                            problems.append(f"{method.upper()} {template}: {status} is not {media}")
    return sorted(set(problems))


@pytest.mark.parametrize("service", ["reviews", "goals", "feedback", "rewards"])
async def test_every_observed_status_is_declared(
    service: ServiceName, service_client: ServiceClientFactory, auth: TokenFactory
) -> None:
    async with service_client(service) as client:
        document = (await client.get("/openapi.json")).json()
        undeclared = await _observe(client, document, auth)
        assert undeclared == [], "\n".join(undeclared)


@pytest.mark.parametrize("service", ["reviews", "goals", "feedback", "rewards"])
async def test_security_is_declared(service: ServiceName, service_client: ServiceClientFactory) -> None:
    async with service_client(service) as client:
        document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A person's access token (claims: sub = person id, roles).",
    }
    for template, item in document["paths"].items():
        for method, operation in item.items():
            if template in PUBLIC:
                assert "security" not in operation, (method, template)
                continue
            expected: list[dict[str, list[str]]] = (
                [{"scimToken": []}]
                if template.startswith("/scim/")
                # A calendar application's subscription: the address's secret, not a person's token.
                else [{"calendarToken": []}]
                if template == "/checkins/calendar-feed/calendar"
                else [{"bearerAuth": []}]
            )
            assert operation.get("security") == expected, (method, template)
            assert {"401"} <= set(operation["responses"]), (method, template)
    if service == "feedback":
        assert schemes["calendarToken"] == {
            "type": "apiKey",
            "in": "header",
            "name": "X-Calendar-Token",
            "description": "The secret of a person's calendar subscription address (POST /checkins/calendar-feed).",
        }
    if service == "reviews":
        assert schemes["scimToken"]["scheme"] == "bearer"
        users = document["paths"]["/scim/v2/Users"]
        # 413: the body limit every service applies before a route reads its body.
        assert set(users["post"]["responses"]) == {"201", "400", "401", "409", "413"}
        assert set(users["post"]["responses"]["201"]["content"]) == {SCIM_JSON}
        assert set(users["post"]["responses"]["413"]["content"]) == {SCIM_JSON}
        assert users["get"]["responses"]["400"]["content"] == {
            SCIM_JSON: {"schema": {"$ref": "#/components/schemas/ScimError"}}
        }
        assert document["components"]["schemas"]["ScimError"]["required"] == ["schemas", "status"]


async def test_errors_are_described_by_the_problem_schema(service_client: ServiceClientFactory) -> None:
    async with service_client("goals") as client:
        document = (await client.get("/openapi.json")).json()
    problem = document["components"]["schemas"]["Problem"]
    assert problem["required"] == ["type", "title", "status", "detail"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    listing = document["paths"]["/goals"]["get"]
    for status in ("401", "403", "422"):
        content = listing["responses"][status]["content"]
        assert content == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


async def test_the_period_format_is_in_the_schema_and_enforced(
    service_client: ServiceClientFactory, auth: TokenFactory
) -> None:
    async with service_client("goals") as client:
        document = (await client.get("/openapi.json")).json()
        parameters = {parameter["name"]: parameter for parameter in document["paths"]["/goals"]["get"]["parameters"]}
        pattern = parameters["period"]["schema"]["anyOf"][0]["pattern"]
        body_pattern = document["components"]["schemas"]["GoalCreate"]["properties"]["period"]["anyOf"][0]["pattern"]
        assert pattern == body_pattern
        for good in ("2026", "2026-H1", "2026-q3"):
            assert re.fullmatch(pattern, good)
            response = await client.get("/goals", params={"period": good}, headers=auth(Role.hr))
            assert response.status_code == 200, response.text
        for bad in ("2026-Q5", "2026-H3", "26", "2026-Q", "2026 "):
            assert not re.fullmatch(pattern, bad)
            response = await client.get("/goals", params={"period": bad}, headers=auth(Role.hr))
            assert response.status_code == 422, (bad, response.text)
            assert response.json()["errors"][0]["field"] == "period"


class Body(BaseModel):
    name: str


async def _key() -> str:
    return "a key, or a 503 while there is none"


register_statuses(_key, 503)


def test_statuses_are_derived_from_what_a_route_is_made_of() -> None:
    """The rules of shared/openapi.py on a small app: auth, path, input, If-Match, responses=."""
    app = FastAPI()
    install_openapi(app, body_statuses=(413,))

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {}

    @app.get("/things/{thing_id}")
    async def thing(thing_id: uuid.UUID, principal: CurrentPrincipal) -> dict[str, str]:
        return {}

    @app.put("/things/{thing_id}", responses=problems(409))
    async def put_thing(
        thing_id: uuid.UUID,
        body: Body,
        principal: CurrentPrincipal,
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
    ) -> dict[str, str]:
        return {}

    @app.get("/keyed")
    async def keyed(key: Annotated[str, Depends(_key)]) -> dict[str, str]:
        return {}

    paths = app.openapi()["paths"]
    assert set(paths["/public"]["get"]["responses"]) == {"200"}
    assert "security" not in paths["/public"]["get"]
    assert set(paths["/things/{thing_id}"]["get"]["responses"]) == {"200", "401", "403", "404", "422"}
    assert set(paths["/things/{thing_id}"]["put"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
        "409",
        "412",
        "413",
        "422",
    }
    assert paths["/things/{thing_id}"]["put"]["security"] == [{"bearerAuth": []}]
    assert set(paths["/keyed"]["get"]["responses"]) == {"200", "503"}
    conflict = paths["/things/{thing_id}"]["put"]["responses"]["409"]
    assert conflict["content"] == {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
