"""A small demo organisation that ``meritloop up`` loads once, into an empty directory.

Twelve people in three departments under a CEO, posted to the reviews service's directory
API (``POST /people``) managers first, so every ``manager_id`` names someone who exists.
The other services learn about them from the directory's events, as they would in production.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import Role, mint_token
from shared.settings import Settings

DEMO_DOMAIN = "northwind.example"
# The identity the loader's admin token speaks for; it is not a person of the directory.
LOADER_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://meritloop.dev/demo-loader")


@dataclass(frozen=True, slots=True)
class DemoPerson:
    key: str
    display_name: str
    department: str
    title: str
    manager: str | None = None

    @property
    def email(self) -> str:
        local = self.display_name.lower().replace("á", "a").replace(" ", ".")
        return f"{local}@{DEMO_DOMAIN}"


DEMO_PEOPLE: tuple[DemoPerson, ...] = (
    DemoPerson("ceo", "Amara Okafor", "Executive", "Chief Executive Officer"),
    DemoPerson("head-engineering", "Lukas Brandt", "Engineering", "VP Engineering", "ceo"),
    DemoPerson("em-platform", "Priya Raman", "Engineering", "Engineering Manager, Platform", "head-engineering"),
    DemoPerson("staff-engineer", "Hannah Schmidt", "Engineering", "Staff Engineer", "head-engineering"),
    DemoPerson("engineer-1", "Diego Alvarez", "Engineering", "Senior Software Engineer", "em-platform"),
    DemoPerson("engineer-2", "Mei Chen", "Engineering", "Software Engineer", "em-platform"),
    DemoPerson("engineer-3", "Tomás Novak", "Engineering", "Site Reliability Engineer", "em-platform"),
    DemoPerson("head-people", "Sofia Lindqvist", "People", "Head of People", "ceo"),
    DemoPerson("hr-partner", "Jonah Weiss", "People", "HR Business Partner", "head-people"),
    DemoPerson("head-sales", "Grace Mensah", "Sales", "Head of Sales", "ceo"),
    DemoPerson("sales-1", "Ravi Patel", "Sales", "Account Executive", "head-sales"),
    DemoPerson("sales-2", "Elena Petrova", "Sales", "Account Executive", "head-sales"),
)
HR_KEY = "head-people"
# Where each demo person works and since when (YYYY-MM-DD): review-cycle filters select on both.
DEMO_LOCATIONS: dict[str, tuple[str, str]] = {
    "ceo": ("Berlin", "2018-04-03"),
    "head-engineering": ("Berlin", "2018-09-17"),
    "em-platform": ("Berlin", "2019-06-03"),
    "staff-engineer": ("Lisbon", "2020-01-13"),
    "engineer-1": ("Lisbon", "2021-03-01"),
    "engineer-2": ("Berlin", "2023-08-14"),
    "engineer-3": ("Lisbon", "2024-11-04"),
    "head-people": ("Berlin", "2019-02-11"),
    "hr-partner": ("Berlin", "2022-05-02"),
    "head-sales": ("London", "2019-10-01"),
    "sales-1": ("London", "2022-02-07"),
    "sales-2": ("London", "2025-01-06"),
}


class DemoError(Exception):
    """The reviews service refused the demo organisation; the message says how."""


@dataclass(frozen=True, slots=True)
class DemoResult:
    created: bool
    """False when the directory already had people (nothing was posted)."""
    people: int
    """People in the directory afterwards."""
    hr_person_id: uuid.UUID | None
    hr_person_name: str | None


def _headers(settings: Settings) -> dict[str, str]:
    token = mint_token(settings, LOADER_ID, [Role.admin], ttl=timedelta(minutes=10))
    return {"Authorization": f"Bearer {token}"}


def _detail(response: httpx.Response) -> str:
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])
    return str(body)[:200]


async def _find_hr_person(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[uuid.UUID, str] | None:
    """The demo's Head of People if present, else anyone in the People department."""
    response = await client.get("/people", params={"department": "People", "limit": 500}, headers=headers)
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json().get("items", [])
    hr_email = next(person.email for person in DEMO_PEOPLE if person.key == HR_KEY)
    items.sort(key=lambda item: item.get("email") != hr_email)
    if not items:
        return None
    return uuid.UUID(str(items[0]["id"])), str(items[0]["display_name"])


async def load_demo(client: httpx.AsyncClient, settings: Settings) -> DemoResult:
    """Post the demo organisation if the directory is empty.

    ``client`` has the reviews service's URL as its ``base_url``.
    """
    headers = _headers(settings)
    response = await client.get("/people", params={"limit": 1}, headers=headers)
    if response.status_code != 200:
        raise DemoError(f"GET /people answered {response.status_code}: {_detail(response)}")
    total = int(response.json()["total"])
    if total:
        found = await _find_hr_person(client, headers)
        return DemoResult(
            created=False,
            people=total,
            hr_person_id=found[0] if found else None,
            hr_person_name=found[1] if found else None,
        )

    ids: dict[str, uuid.UUID] = {}
    for person in DEMO_PEOPLE:
        body = {
            "email": person.email,
            "display_name": person.display_name,
            "department": person.department,
            "location": DEMO_LOCATIONS[person.key][0],
            "hire_date": DEMO_LOCATIONS[person.key][1],
            "manager_id": str(ids[person.manager]) if person.manager else None,
        }
        response = await client.post("/people", json=body, headers=headers)
        if response.status_code != 201:
            raise DemoError(
                f"POST /people for {person.display_name} answered {response.status_code}: {_detail(response)}"
            )
        ids[person.key] = uuid.UUID(str(response.json()["id"]))
    hr = next(person for person in DEMO_PEOPLE if person.key == HR_KEY)
    return DemoResult(created=True, people=len(DEMO_PEOPLE), hr_person_id=ids[HR_KEY], hr_person_name=hr.display_name)
