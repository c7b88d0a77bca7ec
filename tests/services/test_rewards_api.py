"""The rewards service over HTTP: pay bands, HR-only access, problem details, outbox, people."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import httpx
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

PAY_BAND_CREATED = "meritloop.rewards.pay-band.created"


@pytest.fixture
async def client(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("rewards") as client:
        yield client


def band(grade: str, currency: str = "EUR", *amounts: str) -> dict[str, str]:
    minimum, midpoint, maximum = amounts or ("40000", "50000.50", "60000.00")
    return {
        "grade": grade,
        "currency": currency,
        "minimum": minimum,
        "midpoint": midpoint,
        "maximum": maximum,
    }


async def test_create_and_list_pay_bands(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    created = []
    for body in (band("L1"), band("L2", "EUR", "1", "2", "3"), band("L3"), band("L1", "USD")):
        response = await client.post("/pay-bands", json=body, headers=hr)
        assert response.status_code == 201, response.text
        created.append(response.json())

    first = created[0]
    assert (first["grade"], first["currency"]) == ("L1", "EUR")
    assert Decimal(first["minimum"]) == Decimal("40000")
    assert Decimal(first["midpoint"]) == Decimal("50000.50")
    assert Decimal(first["maximum"]) == Decimal("60000")

    seen: list[str] = []
    for offset in (0, 2):
        page = await client.get("/pay-bands", params={"currency": "EUR", "limit": 2, "offset": offset}, headers=hr)
        assert page.status_code == 200
        body = page.json()
        assert (body["total"], body["limit"], body["offset"]) == (3, 2, offset)
        seen += [item["grade"] for item in body["items"]]
    assert seen == ["L1", "L2", "L3"]

    usd = (await client.get("/pay-bands", params={"currency": "USD"}, headers=auth(Role.admin))).json()
    assert [item["id"] for item in usd["items"]] == [created[3]["id"]]
    everything = (await client.get("/pay-bands", headers=hr)).json()
    assert everything["total"] == 4


async def test_invalid_band_is_a_problem_naming_the_field(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)

    async def fields(body: dict[str, str]) -> set[str]:
        return problem_fields(await client.post("/pay-bands", json=body, headers=hr))

    assert await fields(band("L1", "EUR", "50", "40", "60")) == {"midpoint"}
    assert await fields(band("L1", "EUR", "40", "60", "50")) == {"maximum"}
    assert await fields(band("L1", "EUR", "40.123", "50", "60")) == {"minimum"}
    assert await fields(band("L1", "EUR", "-1", "50", "60")) == {"minimum"}
    assert await fields(band("L1", "eur")) == {"currency"}
    assert await fields(band("L1", "EURO")) == {"currency"}
    assert await fields(band("L1", "EUO")) == {"currency"}  # three capitals, but not an ISO 4217 code
    assert await fields(band("  ")) == {"grade"}
    assert await fields(band("x" * 51)) == {"grade"}
    assert problem_fields(await client.get("/pay-bands", params={"currency": "us"}, headers=hr)) == {"currency"}

    equal = await client.post("/pay-bands", json=band("Flat", "EUR", "100", "100", "100"), headers=hr)
    assert equal.status_code == 201
    assert (await client.get("/pay-bands", headers=hr)).json()["total"] == 1


async def test_a_duplicate_grade_in_a_currency_is_a_conflict(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    assert (await client.post("/pay-bands", json=band("L1"), headers=hr)).status_code == 201
    duplicate = await client.post("/pay-bands", json=band("L1", "EUR", "1", "2", "3"), headers=hr)
    body = assert_problem(duplicate, 409)
    assert body["type"].endswith("/conflict")
    assert "L1" in body["detail"]
    assert (await client.post("/pay-bands", json=band("L1", "GBP"), headers=hr)).status_code == 201
    assert (await client.get("/pay-bands", headers=hr)).json()["total"] == 2


async def test_pay_bands_are_for_hr_and_admins_only(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    for role in (Role.employee, Role.manager):
        assert_problem(await client.post("/pay-bands", json=band("L1"), headers=auth(role)), 403)
        assert_problem(await client.get("/pay-bands", headers=auth(role)), 403)
    for response in (await client.post("/pay-bands", json=band("L1")), await client.get("/pay-bands")):
        assert_problem(response, 401)
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/pay-bands", headers=auth(Role.admin))).json()["total"] == 0


async def test_unknown_person_is_a_404_problem(client: httpx.AsyncClient, auth: TokenFactory) -> None:
    missing = uuid.uuid4()
    body = assert_problem(await client.get(f"/people/{missing}", headers=auth()), 404)
    assert body["type"].endswith("/not-found")
    assert str(missing) in body["detail"]


async def test_pay_band_event_never_carries_amounts(
    client: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    response = await client.post(
        "/pay-bands", json=band("Staff", "CHF", "123457", "234568", "345679"), headers=auth(Role.hr)
    )
    assert response.status_code == 201
    created = response.json()

    event, raw, headers = await published(settings.nats_url, PAY_BAND_CREATED, created["id"])

    assert event.type == PAY_BAND_CREATED
    assert event.source == "/meritloop/rewards"
    assert event.subject == created["id"]
    assert event.data == {"id": created["id"], "grade": "Staff", "currency": "CHF"}
    for amount in (b"123457", b"234568", b"345679"):
        assert amount not in raw
    assert headers["Nats-Msg-Id"] == str(event.id)
