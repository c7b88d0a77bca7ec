"""A small demo organisation that ``meritloop up`` loads once, into an empty directory.

Twelve people in three departments under a CEO, posted to the reviews service's directory
API (``POST /people``) managers first, so every ``manager_id`` names someone who exists.
The other services learn about them from the directory's events, as they would in production.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from shared.auth import Role, mint_token
from shared.database import utcnow
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
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    """The demo keys' directory ids (empty when nothing was posted)."""


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
    return DemoResult(
        created=True, people=len(DEMO_PEOPLE), hr_person_id=ids[HR_KEY], hr_person_name=hr.display_name, ids=ids
    )


# --- demo company values and competencies (feedback) -------------------------------------------

# The values match the demo template's competencies section; the competencies are what people tag
# everyday feedback with.
DEMO_LISTS: dict[str, tuple[tuple[str, str], ...]] = {
    "/company-values": (
        ("Ownership", "Sees things through and says so when they slip."),
        ("Candour", "Says the hard thing kindly, early."),
    ),
    "/competencies": (
        ("Clarity", "Plans, docs and talks that others can act on."),
        ("Craft", "Work that is careful, tested and easy to change."),
        ("Collaboration", "Makes the people around them more effective."),
    ),
}


async def load_demo_lists(client: httpx.AsyncClient, settings: Settings) -> int:
    """HR's company values and competencies in the feedback service; those there already are kept.

    ``client`` has the feedback service's URL as its ``base_url``. Returns how many were added.
    """
    headers = _headers(settings)
    added = 0
    for path, entries in DEMO_LISTS.items():
        for name, description in entries:
            response = await client.post(path, json={"name": name, "description": description}, headers=headers)
            if response.status_code not in (201, 409):
                raise DemoError(f"POST {path} for {name} answered {response.status_code}: {_detail(response)}")
            added += response.status_code == 201
    return added


# --- demo pay data (rewards) ------------------------------------------------------------------

# Grade -> (minimum, midpoint, maximum) in EUR a year.
DEMO_BANDS: dict[str, tuple[int, int, int]] = {
    "IC2": (48_000, 58_000, 68_000),
    "IC3": (60_000, 72_000, 84_000),
    "IC4": (75_000, 90_000, 105_000),
    "M1": (80_000, 95_000, 110_000),
    "M2": (100_000, 120_000, 140_000),
    "E1": (150_000, 180_000, 210_000),
}
# key -> (grade, base salary, gender): spread around the midpoints, so the matrix's compa-ratio
# buckets all occur, and both genders in most units, so the equity figures have something to show.
DEMO_PAY: dict[str, tuple[str, int, str]] = {
    "ceo": ("E1", 185_000, "female"),
    "head-engineering": ("M2", 124_000, "male"),
    "em-platform": ("M1", 92_000, "female"),
    "staff-engineer": ("IC4", 96_000, "female"),
    "engineer-1": ("IC3", 74_000, "male"),
    "engineer-2": ("IC2", 52_000, "female"),
    "engineer-3": ("IC3", 63_000, "male"),
    "head-people": ("M2", 115_000, "female"),
    "hr-partner": ("IC3", 70_000, "male"),
    "head-sales": ("M2", 118_000, "female"),
    "sales-1": ("IC3", 71_000, "male"),
    "sales-2": ("IC2", 55_000, "female"),
}


def _pct(low: str, target: str, high: str) -> dict[str, str]:
    return {"min": low, "target": target, "max": high}


# The merit matrix on the demo's five-point scale: rating rows against the compa-ratio buckets.
DEMO_MATRIX: dict[str, Any] = {
    "scale_min": "1",
    "scale_max": "5",
    "buckets": [
        {"min": "0", "max": "0.9", "label": "below the midpoint"},
        {"min": "0.9", "max": "1.1", "label": "at the midpoint"},
        {"min": "1.1", "max": None, "label": "above the midpoint"},
    ],
    "rows": [
        {"min": "1", "max": "2", "label": "Well below"},
        {"min": "2", "max": "3", "label": "Below"},
        {"min": "3", "max": "4", "label": "Meets"},
        {"min": "4", "max": "5", "label": "Above and well above"},
    ],
    "cells": [
        [_pct("0", "0", "0"), _pct("0", "0", "0"), _pct("0", "0", "0")],
        [_pct("0", "1", "2"), _pct("0", "0.5", "1"), _pct("0", "0", "0.5")],
        [_pct("2", "3.5", "5"), _pct("1.5", "2.5", "3.5"), _pct("1", "2", "3")],
        [_pct("4", "6", "8"), _pct("3", "4.5", "6"), _pct("2", "3", "4")],
    ],
}


async def load_demo_pay(
    client: httpx.AsyncClient, settings: Settings, ids: dict[str, uuid.UUID], *, timeout: float = 60.0
) -> int:
    """Pay bands, every demo person's compensation record and the default merit matrix, in rewards.

    ``client`` has the rewards service's URL as its ``base_url``. Rewards knows people only from
    the directory's events, so the import is retried until its projection holds all of them.
    Returns the number of records imported.
    """
    headers = _headers(settings)
    for grade, (minimum, midpoint, maximum) in DEMO_BANDS.items():
        body = {"grade": grade, "currency": "EUR", "minimum": minimum, "midpoint": midpoint, "maximum": maximum}
        response = await client.post("/pay-bands", json=body, headers=headers)
        if response.status_code not in (200, 201, 409):
            raise DemoError(f"POST /pay-bands for {grade} answered {response.status_code}: {_detail(response)}")
    effective = (utcnow() - timedelta(days=365)).date().isoformat()
    records = [
        {
            "person_id": str(ids[key]),
            "currency": "EUR",
            "base_salary": str(salary),
            "grade": grade,
            "effective_date": effective,
            "gender": gender,
            "location": DEMO_LOCATIONS[key][0],
            "hire_date": DEMO_LOCATIONS[key][1],
        }
        for key, (grade, salary, gender) in DEMO_PAY.items()
        if key in ids
    ]
    deadline = time.monotonic() + timeout
    while True:
        response = await client.post("/compensation/import", json={"records": records}, headers=headers)
        if response.status_code == 200:
            break
        # 422 naming person_id while the people projection has not caught up with the directory's events.
        errors = response.json().get("errors", []) if response.status_code == 422 else []
        waiting = bool(errors) and all(error.get("field") == "person_id" for error in errors)
        if not waiting or time.monotonic() > deadline:
            raise DemoError(f"POST /compensation/import answered {response.status_code}: {_detail(response)}")
        await asyncio.sleep(0.5)
    response = await client.put("/merit-matrices/default", json=DEMO_MATRIX, headers=headers)
    if response.status_code not in (200, 201):
        raise DemoError(f"PUT /merit-matrices/default answered {response.status_code}: {_detail(response)}")
    return len(records)


# --- a demo review cycle -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoTask:
    task_id: str
    assignee_id: uuid.UUID
    assignee_name: str


@dataclass(frozen=True, slots=True)
class DemoCycle:
    cycle_id: uuid.UUID
    participants: int
    tasks: list[DemoTask]
    seconds: float


def demo_template(scale_id: str) -> dict[str, Any]:
    """Goals, two company-value competencies and one rated question; the formula weighs peers too."""
    return {
        "name": "Annual review (demo)",
        "description": "Loaded by meritloop demo-cycle.",
        "formula": "weighted(goals: 30, manager: 30, competencies: 25, peer: 15)",
        "sections": [
            {"key": "goals", "title": "Goals", "kind": "goals", "weight": 30, "answered_by": "manager"},
            {
                "key": "values",
                "title": "Company values",
                "kind": "competencies",
                "weight": 40,
                "answered_by": "both",
                "items": [
                    {
                        "key": key,
                        "kind": "competency",
                        "name": name,
                        "company_value": name,
                        "scale_id": scale_id,
                        "behaviours": [{"description": text}],
                    }
                    for key, name, text in (
                        ("ownership", "Ownership", "Sees things through and says so when they slip."),
                        ("candour", "Candour", "Says the hard thing kindly, early."),
                    )
                ],
            },
            {
                "key": "reflection",
                "title": "Reflection",
                "kind": "questions",
                "weight": 30,
                "answered_by": "both",
                "items": [
                    {"key": "impact", "kind": "rated", "text": "How big was the impact?", "scale_id": scale_id},
                    {"key": "next", "kind": "free_text", "text": "What next?", "required": False},
                ],
            },
        ],
    }


async def _created(client: httpx.AsyncClient, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await client.post(path, json=body, headers=headers)
    if response.status_code not in (200, 201):
        raise DemoError(f"POST {path} answered {response.status_code}: {_detail(response)}")
    return response.json()


async def launch_demo_cycle(
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    departments: list[str],
    days_per_phase: int = 7,
    timeout: float = 60.0,
) -> DemoCycle:
    """Create a scale, a template and a cycle over the reviews API as the demo's HR person, and launch it.

    Waits until every participant's self-assessment task is in the inbox. ``client`` has the
    reviews service's URL as its ``base_url``.
    """
    found = await _find_hr_person(client, _headers(settings))
    if found is None:
        raise DemoError("no HR person in the directory: run 'meritloop up' with the demo organisation first")
    hr = {"Authorization": f"Bearer {mint_token(settings, found[0], [Role.hr], ttl=timedelta(minutes=10))}"}
    started = time.monotonic()
    points = [
        {"value": value, "label": label, "description": f"{label}."}
        for value, label in enumerate(("Well below", "Below", "Meets", "Above", "Well above"), start=1)
    ]
    scale = await _created(
        client, "/rating-scales", {"name": "Five points (demo)", "description": "Demo scale.", "points": points}, hr
    )
    template = await _created(client, "/templates", demo_template(str(scale["id"])), hr)
    await _created(client, f"/templates/{template['id']}/publish", {}, hr)
    now = utcnow()
    phases = ("self_assessment", "manager_review", "calibration", "pay_approval", "acknowledgement")
    body = {
        "name": f"Demo review {now:%Y-%m-%d %H:%M}",
        "period_start": f"{now.year}-01-01",
        "period_end": f"{now.year}-12-31",
        "template_id": template["id"],
        "filters": {"departments": departments},
        "deadlines": {
            phase: (now + timedelta(days=days_per_phase * (index + 1))).isoformat()
            for index, phase in enumerate(phases)
        },
        "reminder_every_hours": 48,
        "escalation": [{"after_hours": 0, "notify": "manager"}, {"after_hours": 48, "notify": "hr"}],
    }
    cycle = await _created(client, "/review-cycles", body, hr)
    launched = await _created(client, f"/review-cycles/{cycle['id']}/launch", {}, hr)
    count = int(launched["participant_count"])
    names = {
        str(item["id"]): str(item["display_name"])
        for item in (await client.get("/people", params={"limit": 500}, headers=hr)).json()["items"]
    }
    deadline = time.monotonic() + timeout
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        response = await client.get(
            "/tasks",
            params={"scope": "all", "cycle_id": cycle["id"], "kind": "self_assessment", "limit": 500},
            headers=hr,
        )
        items = response.json().get("items", []) if response.status_code == 200 else []
        if len(items) >= count:
            break
        await asyncio.sleep(0.3)
    else:
        raise DemoError(f"only {len(items)} of {count} self-assessment tasks after {timeout:.0f}s: is the worker up?")
    tasks = [
        DemoTask(str(item["id"]), uuid.UUID(str(item["assignee_id"])), names.get(str(item["assignee_id"]), "?"))
        for item in items
    ]
    return DemoCycle(uuid.UUID(str(cycle["id"])), count, tasks, time.monotonic() - started)
