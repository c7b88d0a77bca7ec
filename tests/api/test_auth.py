"""Authentication and roles, through a real service (reviews) and a real NATS server."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import httpx
import jwt
import pytest

from shared.auth import Role, mint_token
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims(settings: Settings, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "roles": ["employee"],
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return base


async def assert_problem(response: httpx.Response, status: int, detail_fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert detail_fragment in body["detail"]


async def test_missing_token_is_401(reviews: httpx.AsyncClient) -> None:
    response = await reviews.get("/people")
    await assert_problem(response, 401, "bearer token is required")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "malformed"),
        ("Bearer ", "must be 'Bearer <token>'"),
    ],
)
async def test_malformed_authorization_is_401(reviews: httpx.AsyncClient, header: str, fragment: str) -> None:
    response = await reviews.get("/people", headers={"Authorization": header})
    await assert_problem(response, 401, fragment)


async def test_expired_token_is_401(reviews: httpx.AsyncClient, settings: Settings) -> None:
    past = int(time.time()) - 3600
    token = jwt.encode(claims(settings, iat=past - 60, exp=past), settings.jwt_secret, algorithm="HS256")
    await assert_problem(await reviews.get("/people", headers=bearer(token)), 401, "expired")


async def test_wrongly_signed_token_is_401(reviews: httpx.AsyncClient, settings: Settings) -> None:
    token = jwt.encode(claims(settings), "another-secret-entirely-of-enough-length", algorithm="HS256")
    await assert_problem(await reviews.get("/people", headers=bearer(token)), 401, "signature")


async def test_token_for_another_audience_is_401(reviews: httpx.AsyncClient, settings: Settings) -> None:
    token = jwt.encode(claims(settings, aud="someone-else"), settings.jwt_secret, algorithm="HS256")
    await assert_problem(await reviews.get("/people", headers=bearer(token)), 401, "not valid")


async def test_unsigned_token_is_401(reviews: httpx.AsyncClient, settings: Settings) -> None:
    token = jwt.encode(claims(settings), key="", algorithm="none")
    await assert_problem(await reviews.get("/people", headers=bearer(token)), 401, "not valid")


async def test_valid_token_is_accepted(reviews: httpx.AsyncClient, settings: Settings) -> None:
    token = mint_token(settings, uuid.uuid4(), [Role.employee])
    response = await reviews.get("/people", headers=bearer(token))
    assert response.status_code == 200, response.text


async def test_wrong_role_is_403(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await reviews.post(
        "/people",
        json={"email": "x@example.com", "display_name": "X"},
        headers=auth(Role.employee, Role.manager),
    )
    await assert_problem(response, 403, "hr, admin")


async def test_right_role_passes(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await reviews.post(
        "/people", json={"email": "y@example.com", "display_name": "Y"}, headers=auth(Role.hr)
    )
    assert response.status_code == 201, response.text
