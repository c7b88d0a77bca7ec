"""``GET /people?q=…``: finding people by display name or e-mail address (the web app's people pickers).

``q`` is a filter like the others: it narrows what the caller could list without it and never widens
it. HR and admins, who see every address of a person, find people by any of them; everyone else by
the primary address, the one they see.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.reviews.directory.service import SEARCH_MAX, SEARCH_MIN
from shared.auth import Role
from tests.conftest import TEST_DATABASE_URL, TokenFactory
from tests.directory.scim_support import user
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

Params = list[tuple[str, str | int | float | bool | None]]


async def add(reviews: httpx.AsyncClient, hr: dict[str, str], name: str, email: str, **extra: Any) -> str:
    created = await reviews.post("/people", json={"email": email, "display_name": name, **extra}, headers=hr)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def names(reviews: httpx.AsyncClient, headers: dict[str, str], params: Params) -> list[str]:
    found = await reviews.get("/people", params=params, headers=headers)
    assert found.status_code == 200, found.text
    return [person["display_name"] for person in found.json()["items"]]


async def test_people_are_found_by_any_part_of_their_name_or_address(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    await add(reviews, hr, "Anna Müller", "anna.mueller@example.com", department="Sales")
    await add(reviews, hr, "Bernd Ammann", "b.ammann@example.com", department="Sales")
    await add(reviews, hr, "Carla Berg", "carla@example.com", department="Research")
    zoe = await add(reviews, hr, "Zoe Kamm", "zk@example.com", department="Sales")
    await add(reviews, hr, "Dora Dunst", "DORA.Dunst@Example.com", department="Sales")
    employee = auth()

    # The display name, anywhere in it and in any case; results in the directory's order (by name).
    assert await names(reviews, employee, [("q", "AMM")]) == ["Bernd Ammann", "Zoe Kamm"]
    assert await names(reviews, employee, [("q", "müller")]) == ["Anna Müller"]
    # The e-mail address, anywhere in it: "mueller" finds Anna Müller, the address the way it is stored.
    assert await names(reviews, employee, [("q", "mueller")]) == ["Anna Müller"]
    assert await names(reviews, employee, [("q", "dora.dunst@example")]) == ["Dora Dunst"]
    assert await names(reviews, employee, [("q", "carla@")]) == ["Carla Berg"]
    # Spaces at either end do not count; inside the text they do.
    assert await names(reviews, employee, [("q", "  berg ")]) == ["Carla Berg"]
    assert await names(reviews, employee, [("q", "a B")]) == ["Carla Berg"]
    assert await names(reviews, employee, [("q", "nobody")]) == []

    # It combines with the other filters and with paging: total counts every match.
    assert await names(reviews, employee, [("q", "example.com"), ("department", "Research")]) == ["Carla Berg"]
    page = await reviews.get("/people", params={"q": "example", "limit": 2, "offset": 1}, headers=employee)
    assert page.status_code == 200, page.text
    found = page.json()
    assert (found["total"], [p["display_name"] for p in found["items"]]) == (5, ["Bernd Ammann", "Carla Berg"])
    assert await names(reviews, employee, [("q", "kamm"), ("id", zoe)]) == ["Zoe Kamm"]
    assert await names(reviews, employee, [("q", "kamm"), ("id", str(uuid.uuid4()))]) == []
    gone = await reviews.patch(f"/people/{zoe}", json={"active": False}, headers=hr)
    assert gone.status_code == 200, gone.text
    assert await names(reviews, employee, [("q", "amm"), ("active", "true")]) == ["Bernd Ammann"]
    assert await names(reviews, employee, [("q", "amm"), ("active", "false")]) == ["Zoe Kamm"]
    assert await names(reviews, employee, [("q", "amm")]) == ["Bernd Ammann", "Zoe Kamm"]


async def test_percent_and_underscore_are_plain_characters(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    await add(reviews, hr, "Team 100% Ana", "ana@example.com")
    await add(reviews, hr, "Team 1000 Ben", "ben@example.com")
    await add(reviews, hr, "Cai Under", "cai_under@example.com")
    await add(reviews, hr, "Dee Other", "caixunder@example.com")
    await add(reviews, hr, "Fay 50/50", "fay@example.com")
    await add(reviews, hr, "Gus A\\B", "gus@example.com")
    employee = auth()
    assert await names(reviews, employee, [("q", "0%")]) == ["Team 100% Ana"]
    assert await names(reviews, employee, [("q", "i_u")]) == ["Cai Under"]
    assert await names(reviews, employee, [("q", "__")]) == []
    assert await names(reviews, employee, [("q", "%%")]) == []
    assert await names(reviews, employee, [("q", "\\%")]) == []
    assert await names(reviews, employee, [("q", "/%")]) == []
    # The escape characters themselves are plain too.
    assert await names(reviews, employee, [("q", "0/5")]) == ["Fay 50/50"]
    assert await names(reviews, employee, [("q", "a\\b")]) == ["Gus A\\B"]


@pytest.mark.parametrize(
    ("q", "why"),
    [
        ("a", "too short"),
        ("   ", "only spaces"),
        (" b ", "one character once trimmed"),
        ("x" * (SEARCH_MAX + 1), "too long"),
        ("a\x00b", "a NUL byte, which PostgreSQL cannot even compare"),
        ("a\nb", "a line break inside"),
        ("a\x7fb", "DEL"),
    ],
)
async def test_a_search_text_out_of_bounds_is_a_422_naming_q(
    reviews: httpx.AsyncClient, auth: TokenFactory, q: str, why: str
) -> None:
    for headers in (auth(), auth(Role.hr)):
        refused = await reviews.get("/people", params={"q": q, "active": "true"}, headers=headers)
        assert problem_fields(refused) == {"q"}, (why, refused.text)
        assert refused.json()["errors"][0]["in"] == "query"


async def test_a_search_text_within_bounds_is_answered(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    for q in ("x" * SEARCH_MAX, "xy"[:SEARCH_MIN], " xy ", "Zoë O'Brien-Ñ"):
        assert (await reviews.get("/people", params={"q": q}, headers=auth())).status_code == 200, q
    assert (await reviews.get("/people", params={"q": "xy"})).status_code == 401


async def test_the_openapi_document_declares_q_and_its_bounds(reviews: httpx.AsyncClient) -> None:
    document = (await reviews.get("/openapi.json")).json()
    route = document["paths"]["/people"]["get"]
    (q,) = [parameter for parameter in route["parameters"] if parameter["name"] == "q"]
    assert (q["in"], q.get("required", False)) == ("query", False)
    schema = next(option for option in q["schema"]["anyOf"] if option.get("type") == "string")
    assert (schema["minLength"], schema["maxLength"]) == (SEARCH_MIN, SEARCH_MAX)
    assert "e-mail" in q["description"]
    assert "422" in route["responses"]


async def test_q_never_widens_what_a_role_sees(
    reviews: httpx.AsyncClient, auth: TokenFactory, scim_headers: dict[str, str]
) -> None:
    """For every role, ``q`` answers what the role's unsearched answer holds whose visible name or
    addresses contain the text: the same people, the same fields. Only HR and admins, who see a
    person's other addresses, find the person by them. A deactivated person is refused as before."""
    hr = auth(Role.hr)
    boss = await add(reviews, hr, "Mara Boss", "mara@example.com")
    lead = await add(reviews, hr, "Lena Lead", "lena@example.com", manager_id=boss)
    # Walt has a second address (SCIM sets them all): HR and admins see it, others see the primary one.
    scim = user("walt@example.com", displayName="Walt Worker")
    scim["emails"].append({"value": "w.private@hidden.org", "type": "home"})
    created = await reviews.post("/scim/v2/Users", json=scim, headers=scim_headers)
    assert created.status_code == 201, created.text
    worker = str(created.json()["id"])
    placed = await reviews.patch(f"/people/{worker}", json={"manager_id": lead, "employee_number": "E-77"}, headers=hr)
    assert placed.status_code == 200, placed.text
    assert len(placed.json()["emails"]) == 2
    stranger = await add(reviews, hr, "Sam Stranger", "sam@example.com")
    left = await add(reviews, hr, "Liv Left", "liv@example.com")
    await add(reviews, hr, "Ina Inactive", "ina@example.com", active=False)

    callers = {
        "employee": auth(Role.employee, person_id=uuid.UUID(worker)),
        "manager": auth(Role.employee, Role.manager, person_id=uuid.UUID(lead)),
        "skip-level": auth(Role.employee, Role.manager, person_id=uuid.UUID(boss)),
        "colleague": auth(Role.employee, person_id=uuid.UUID(stranger)),
        "hr": auth(Role.employee, Role.hr),
        "admin": auth(Role.admin),
    }
    searches = ["walt", "hidden.org", "example", "inactive", "E-77", "lead"]
    for role, headers in callers.items():
        sees_every_address = role in ("hr", "admin")
        for active in (None, "true", "false"):
            base: Params = [("limit", 500)] + ([("active", active)] if active else [])
            everyone = await reviews.get("/people", params=base, headers=headers)
            assert everyone.status_code == 200, everyone.text
            for text in searches:
                searched = await reviews.get("/people", params=[*base, ("q", text)], headers=headers)
                assert searched.status_code == 200, searched.text
                expected = [p for p in everyone.json()["items"] if matches(p, text, every_address=sees_every_address)]
                assert searched.json()["items"] == expected, (role, active, text)
                assert searched.json()["total"] == len(expected)
                for person in searched.json()["items"]:
                    assert ("emails" in person) is sees_every_address, role
                    assert ("employee_number" in person) is sees_every_address, role
        # The other address finds Walt only for the roles that see it.
        found = await names(reviews, headers, [("q", "w.private")])
        assert found == (["Walt Worker"] if sees_every_address else []), role
        # Nobody finds a person by a field the search does not read (the employee number).
        assert await names(reviews, headers, [("q", "E-77")]) == [], role

    # A deactivated person is refused with or without q (their token is not used before: no cache).
    gone = await reviews.patch(f"/people/{left}", json={"active": False}, headers=hr)
    assert gone.status_code == 200, gone.text
    token = auth(Role.employee, person_id=uuid.UUID(left))
    for params in ({}, {"q": "walt"}, {"q": "walt", "active": "true"}):
        problem = assert_problem(await reviews.get("/people", params=params, headers=token), 403)
        assert problem["type"].endswith("/person-inactive")
    # Not signed in: 401, whatever q says.
    assert (await reviews.get("/people", params={"q": "walt"})).status_code == 401


def matches(person: dict[str, Any], text: str, *, every_address: bool) -> bool:
    """What ``q`` promises, in Python: the text in the display name or a visible address, ignoring case."""
    needle = text.strip().lower()
    addresses = [entry["value"] for entry in person["emails"]] if every_address else [person["email"]]
    return any(needle in value.lower() for value in [person["display_name"], *addresses])


@pytest.mark.skipif(TEST_DATABASE_URL is None, reason="SQLite folds the case of ASCII letters only")
async def test_on_postgresql_case_is_ignored_beyond_ascii(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    await add(reviews, hr, "Özlem Şahin", "oezlem@example.com")
    await add(reviews, hr, "ÅSA ÆRØ", "asa@example.com")
    employee = auth()
    assert await names(reviews, employee, [("q", "ÖZLEM")]) == ["Özlem Şahin"]
    assert await names(reviews, employee, [("q", "åsa æ")]) == ["ÅSA ÆRØ"]
