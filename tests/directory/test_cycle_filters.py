"""Review-cycle participant filters on the directory's location and hire date.

Only the reviews service and its database: the participants are counted and snapshotted by
the cycle service (what launch does before it starts the workflow), with no Temporal server.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.reviews.cycles.service import CycleService
from shared.auth import Role
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycles.support import phase_deadlines
from tests.reviews_config.builders import scale_body, template_body

pytestmark = pytest.mark.database

# name: (location, hire date, active)
PEOPLE: dict[str, tuple[str | None, str | None, bool]] = {
    "berlin-old": ("Berlin", "2020-01-15", True),
    "berlin-on-the-day": ("Berlin", "2024-01-01", True),  # hired on the date: not before it
    "berlin-new": ("Berlin", "2024-06-01", True),
    "berlin-no-date": ("Berlin", None, True),  # hire date unknown: never matches hired_before
    "lisbon-old": ("Lisbon", "2019-05-01", True),
    "berlin-lowercase": ("berlin", "2018-01-01", True),  # locations match exactly
    "nowhere-old": (None, "2017-01-01", True),
    "berlin-left": ("Berlin", "2016-01-01", False),  # inactive: never a participant
}


async def _org(reviews: httpx.AsyncClient, hr: dict[str, str]) -> tuple[dict[str, str], str]:
    ids: dict[str, str] = {}
    for name, (location, hired, active) in PEOPLE.items():
        body: dict[str, Any] = {"email": f"{name}@example.com", "display_name": name}
        body.update({"location": location, "hire_date": hired})
        created = await reviews.post("/people", json=body, headers=hr)
        assert created.status_code == 201, created.text
        ids[name] = created.json()["id"]
        if not active:
            assert (await reviews.patch(f"/people/{ids[name]}", json={"active": False}, headers=hr)).status_code == 200
    scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
    template = (await reviews.post("/templates", json=template_body(scale["id"]), headers=hr)).json()
    assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200
    return ids, str(template["id"])


async def _cycle(reviews: httpx.AsyncClient, hr: dict[str, str], template_id: str, filters: dict[str, Any]) -> str:
    body = {
        "name": "Filters",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "template_id": template_id,
        "filters": filters,
        "deadlines": phase_deadlines(utcnow()),
    }
    created = await reviews.post("/review-cycles", json=body, headers=hr)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def _count(reviews: httpx.AsyncClient, cycle_id: str) -> int:
    settings: Settings = reviews.app.state.settings  # type: ignore[attr-defined]
    async with reviews.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return await CycleService(session, settings).preview_count(uuid.UUID(cycle_id))


async def test_locations_and_hired_before_select_exactly(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    ids, template_id = await _org(reviews, hr)
    by_id = {person_id: name for name, person_id in ids.items()}

    cycle_id = await _cycle(reviews, hr, template_id, {"locations": ["Berlin", "Lisbon"], "hired_before": "2024-01-01"})
    draft = (await reviews.get(f"/review-cycles/{cycle_id}", headers=hr)).json()
    assert draft["filters"] == {
        "locations": ["Berlin", "Lisbon"],
        "hired_before": "2024-01-01",
        "include": [],
        "exclude": [],
    }
    assert await _count(reviews, cycle_id) == 2
    # HR reads how many the filters take before launching; it follows the directory.
    assert (draft["matching_now"], draft["participant_count"]) == (2, 0)
    moved = await reviews.patch(f"/people/{ids['berlin-no-date']}", json={"hire_date": "2021-03-01"}, headers=hr)
    assert moved.status_code == 200, moved.text
    assert (await reviews.get(f"/review-cycles/{cycle_id}", headers=hr)).json()["matching_now"] == 3
    back = await reviews.patch(f"/people/{ids['berlin-no-date']}", json={"hire_date": None}, headers=hr)
    assert back.status_code == 200, back.text

    # Launch's snapshot (the workflow is not started here: no Temporal in this test).
    settings: Settings = reviews.app.state.settings  # type: ignore[attr-defined]
    async with reviews.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        cycle, launched = await CycleService(session, settings).launch(uuid.UUID(cycle_id))
        assert launched
        assert cycle.participant_count == 2
    response = await reviews.get(f"/review-cycles/{cycle_id}/participants", headers=hr)
    assert response.status_code == 200, response.text
    assert {by_id[row["person_id"]] for row in response.json()["items"]} == {"berlin-old", "lisbon-old"}
    launched = (await reviews.get(f"/review-cycles/{cycle_id}", headers=hr)).json()
    assert (launched["matching_now"], launched["participant_count"]) == (None, 2)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"locations": ["Berlin"]}, {"berlin-old", "berlin-on-the-day", "berlin-new", "berlin-no-date"}),
        ({"locations": ["Lisbon", "Porto"]}, {"lisbon-old"}),
        ({"locations": []}, set()),
        ({"hired_before": "2024-01-01"}, {"berlin-old", "lisbon-old", "berlin-lowercase", "nowhere-old"}),
        (
            {"hired_before": "2024-01-02"},
            {"berlin-old", "berlin-on-the-day", "lisbon-old", "berlin-lowercase", "nowhere-old"},
        ),
        ({"hired_before": "1990-01-01"}, set()),
        # include adds a person whatever the criteria; exclude removes one.
        (
            {"locations": ["Lisbon"], "hired_before": "2024-01-01", "include": ["berlin-no-date"]},
            {"lisbon-old", "berlin-no-date"},
        ),
        (
            {"locations": ["Berlin"], "hired_before": "2030-01-01", "exclude": ["berlin-old"]},
            {"berlin-on-the-day", "berlin-new"},
        ),
    ],
)
async def test_each_filter_alone(
    reviews: httpx.AsyncClient, auth: TokenFactory, filters: dict[str, Any], expected: set[str]
) -> None:
    hr = auth(Role.hr)
    ids, template_id = await _org(reviews, hr)
    for key in ("include", "exclude"):
        if key in filters:
            filters = {**filters, key: [ids[name] for name in filters[key]]}
    cycle_id = await _cycle(reviews, hr, template_id, filters)
    assert await _count(reviews, cycle_id) == len(expected)
    if not expected:
        return
    settings: Settings = reviews.app.state.settings  # type: ignore[attr-defined]
    async with reviews.app.state.sessionmaker() as session, session.begin():  # type: ignore[attr-defined]
        await CycleService(session, settings).launch(uuid.UUID(cycle_id))
    rows = (await reviews.get(f"/review-cycles/{cycle_id}/participants", headers=hr)).json()["items"]
    by_id = {person_id: name for name, person_id in ids.items()}
    assert {by_id[row["person_id"]] for row in rows} == expected


async def test_filters_are_validated(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    _ids, template_id = await _org(reviews, hr)
    body = {
        "name": "Bad",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "template_id": template_id,
        "deadlines": phase_deadlines(utcnow()),
    }
    for filters in ({"hired_before": "01/01/2024"}, {"locations": "Berlin"}, {"locations": ["x"] * 501}):
        response = await reviews.post("/review-cycles", json={**body, "filters": filters}, headers=hr)
        assert response.status_code == 422, (filters, response.text)
    # A manager the directory does not know is named when the cycle is added, not at launch.
    stranger = str(uuid.uuid4())
    unknown = await reviews.post(
        "/review-cycles", json={**body, "filters": {"manager_subtrees": [stranger]}}, headers=hr
    )
    assert unknown.status_code == 422, unknown.text
    assert unknown.headers["content-type"].startswith("application/problem+json")
    [error] = unknown.json()["errors"]
    assert (error["field"], stranger in error["message"]) == ("filters.manager_subtrees", True)
    assert (await reviews.get("/review-cycles", headers=hr)).json()["total"] == 0
