"""Who may read and change whose notification settings and delivery log, and bad input."""

from __future__ import annotations

import uuid

import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.notifications.conftest import Notifier
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

ROUTES = (
    ("GET", "/notification-preferences/{id}"),
    ("PUT", "/notification-preferences/{id}"),
    ("GET", "/people/{id}/deliveries"),
)


@pytest.fixture
async def org(notifier: Notifier) -> dict[str, uuid.UUID]:
    """skip -> boss -> ada, a colleague of ada's, an HR person, an admin and a leaver."""
    skip = await notifier.person("Skip Level")
    boss = await notifier.person("Grace Hopper", manager_id=skip)
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    colleague = await notifier.person("Linus Colleague", manager_id=boss)
    hr = await notifier.person("Hannah Resources")
    admin = await notifier.person("Alan Admin")
    leaver = await notifier.person("Lea Leaver", manager_id=boss)
    await notifier.publish_person(leaver, "Lea Leaver", manager_id=boss, active=False)
    people = {
        "skip": skip,
        "boss": boss,
        "ada": ada,
        "colleague": colleague,
        "hr": hr,
        "admin": admin,
        "leaver": leaver,
    }
    await notifier.known(*people.values())
    return people


async def call(notifier: Notifier, method: str, path: str, headers: dict[str, str]) -> int:
    body = {"digest_hour": 9, "opted_out": ["task_created"]} if method == "PUT" else None
    response = await notifier.client.request(method, path, json=body, headers=headers)
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
    return response.status_code


@pytest.mark.parametrize(("method", "route"), ROUTES)
async def test_who_may_use_a_persons_settings(
    notifier: Notifier, auth: TokenFactory, org: dict[str, uuid.UUID], method: str, route: str
) -> None:
    path = route.format(id=org["ada"])
    expected = {
        "self": (auth(person_id=org["ada"]), 200),
        "manager": (auth(Role.manager, person_id=org["boss"]), 403),
        "skip-level": (auth(Role.manager, person_id=org["skip"]), 403),
        "HR": (auth(Role.hr, person_id=org["hr"]), 200),
        "admin": (auth(Role.admin, person_id=org["admin"]), 200),
        "colleague": (auth(person_id=org["colleague"]), 403),
        "deactivated HR person": (auth(Role.hr, person_id=org["leaver"]), 403),
        "no token": ({}, 401),
    }
    seen = {who: await call(notifier, method, path, headers) for who, (headers, _status) in expected.items()}
    assert seen == {who: status for who, (_headers, status) in expected.items()}


async def test_my_settings_are_mine_and_a_leaver_has_none(
    notifier: Notifier, auth: TokenFactory, org: dict[str, uuid.UUID]
) -> None:
    ada = auth(person_id=org["ada"])
    default = await notifier.client.get("/notification-preferences/me", headers=ada)
    assert default.status_code == 200
    assert default.json() == {
        "person_id": str(org["ada"]),
        "digest_hour": None,
        "effective_digest_hour": 8,
        "time_zone": "Europe/Berlin",
        "opted_out": [],
        "optional_kinds": [
            "task_created",
            "task_reminder",
            "gate_reminder",
            "feedback_request",
            "feedback_reminder",
            "checkin_reminder",
            "approval_step",
            "approval_reminder",
            "upward_feedback",
            "upward_results",
            "dispute_reminder",
            "pay_change",
        ],
        "at_once": [],
        # Escalations and 1:1 reminders are always mailed at once: not offered.
        "at_once_kinds": [
            "task_created",
            "task_reminder",
            "gate_reminder",
            "feedback_request",
            "feedback_reminder",
            "approval_step",
            "approval_reminder",
            "upward_feedback",
            "upward_results",
            "dispute_reminder",
            "pay_change",
        ],
        "quiet_hours": None,
    }
    changed = await notifier.client.put(
        f"/notification-preferences/{org['ada']}",
        json={"digest_hour": 6, "opted_out": ["task_reminder"]},
        headers=auth(Role.hr, person_id=org["hr"]),
    )
    assert changed.status_code == 200
    mine = (await notifier.client.get("/notification-preferences/me", headers=ada)).json()
    assert (mine["digest_hour"], mine["opted_out"]) == (6, ["task_reminder"])
    # A colleague's own settings are untouched by Ada's.
    theirs = (
        await notifier.client.get("/notification-preferences/me", headers=auth(person_id=org["colleague"]))
    ).json()
    assert (theirs["digest_hour"], theirs["opted_out"]) == (None, [])

    for method in ("GET", "PUT"):
        assert await call(notifier, method, "/notification-preferences/me", auth(person_id=org["leaver"])) == 403


async def test_bad_settings_are_problems_naming_the_field(notifier: Notifier, auth: TokenFactory) -> None:
    me = auth()
    for body, field in (
        ({"digest_hour": 24}, "digest_hour"),
        ({"digest_hour": "noon"}, "digest_hour"),
        ({"opted_out": "task_created"}, "opted_out"),
        ({"opted_out": ["escalation"]}, "opted_out.0"),
        ({"surprise": True}, "surprise"),
    ):
        response = await notifier.client.put("/notification-preferences/me", json=body, headers=me)
        assert_problem(response, 422)
        assert field in [error["field"] for error in response.json()["errors"]], (body, response.json())
    bad_id = await notifier.client.get("/notification-preferences/not-a-uuid", headers=me)
    assert_problem(bad_id, 422)
