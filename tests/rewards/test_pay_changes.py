"""A finalized cycle's approved salaries written back as compensation records from a date HR names.

Runs the rewards service for real (database, NATS, outbox relay); the organisation and its
proposals come from tests/rewards/test_bonus_budgets.py's ``setup``.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import rewards_stream, today
from tests.rewards.test_bonus_budgets import proposals_by_name, setup
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

WRITTEN = "meritloop.rewards.pay-changes.written"
PERSON_WRITTEN = "meritloop.rewards.pay-change.written"


async def history(rewards: httpx.AsyncClient, person: uuid.UUID, hr: dict[str, str]) -> list[dict[str, Any]]:
    response = await rewards.get(f"/compensation/{person}/history", headers=hr)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return sorted(records, key=lambda record: str(record["effective_date"]))


async def test_approved_increases_become_records_from_the_date_once_and_only_for_hr(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr, admin = auth(Role.hr), auth(Role.admin)
    org, cycle = await setup(rewards, js, auth)
    as_mia, as_sam = auth(Role.manager, person_id=org.mia.id), auth(Role.manager, person_id=org.sam.id)
    path = f"/cycles/{cycle}/pay-changes"
    later = today() + timedelta(days=30)

    # Not before every unit is approved.
    early = await rewards.post(path, json={"effective_date": str(later)}, headers=hr)
    assert assert_problem(early, 409)["reason"] == "not_finalized"

    # Bob keeps his salary (0 %, justified); Ada and Cy get the matrix's increase.
    proposals = await proposals_by_name(rewards, cycle, hr)
    kept = {"proposed_pct": "0", "justification": "Moved to a new role in January."}
    edited = await rewards.patch(f"/proposals/{proposals['Bob']['id']}", json=kept, headers=as_mia)
    assert edited.status_code == 200, edited.text
    for manager in (as_mia, as_sam):
        submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=manager)
        assert submitted.status_code == 200, submitted.text
    approved = await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr)
    assert approved.json()["cycle_finalized"] is True, approved.text
    proposals = await proposals_by_name(rewards, cycle, hr)

    # Only HR and admins who are active; the others never learn whether the cycle exists.
    refused = {
        "self": auth(Role.employee, person_id=org.ada.id),
        "manager": as_mia,
        "skip-level": auth(Role.manager, person_id=org.boss.id),
        "unrelated colleague": auth(Role.employee, person_id=org.colleague.id),
        "deactivated HR": auth(Role.hr, person_id=org.gone.id),
    }
    for who, headers in refused.items():
        response = await rewards.post(path, json={"effective_date": str(later)}, headers=headers)
        assert response.status_code == 403, (who, response.text)
    assert_problem(await rewards.post(path, json={"effective_date": str(later)}), 401)

    # Bad input names its field; nothing is written.
    for body, field in (
        ({"effective_date": str(today() - timedelta(days=30))}, "effective_date"),  # the raised records' own date
        ({"effective_date": "soon"}, "effective_date"),
        ({}, "effective_date"),
        ({"effective_date": str(later), "salary": "1"}, "salary"),
    ):
        response = await rewards.post(path, json=body, headers=hr)
        assert field in problem_fields(response), (body, response.text)
    unknown = f"/cycles/{uuid.uuid4()}/pay-changes"
    assert_problem(await rewards.post(unknown, json={"effective_date": str(later)}, headers=hr), 404)
    assert [len(await history(rewards, person.id, hr)) for person in (org.ada, org.bob, org.cy)] == [1, 1, 1]

    written = await rewards.post(path, json={"effective_date": str(later)}, headers=hr)
    assert written.status_code == 200, written.text
    counts = {key: written.json()[key] for key in ("written", "already_written", "no_increase", "newer_record")}
    assert counts == {"written": 2, "already_written": 0, "no_increase": 1, "newer_record": 0}

    for person, name in ((org.ada, "Ada"), (org.cy, "Cy")):
        before, after = await history(rewards, person.id, hr)
        assert after["effective_date"] == str(later)
        assert Decimal(after["base_salary"]) == Decimal(proposals[name]["proposed_salary"])
        assert Decimal(after["base_salary"]) > Decimal(before["base_salary"])
        # Everything but the salary and the date is the raised record's.
        same = ("currency", "grade", "pay_band_id", "job_level", "hire_date", "fte", "variable_pay", "gender")
        assert {key: after.get(key) for key in same} == {key: before.get(key) for key in same}
        # Not before its date: the current pay is still the old one.
        current = (await rewards.get(f"/compensation/{person.id}", headers=hr)).json()
        assert Decimal(current["base_salary"]) == Decimal(before["base_salary"])
    assert len(await history(rewards, org.bob.id, hr)) == 1

    # Repeated (a retry, or another HR person): nobody is raised twice, on that date or another.
    again = (await rewards.post(path, json={"effective_date": str(later)}, headers=admin)).json()
    assert (again["written"], again["already_written"], again["no_increase"]) == (0, 2, 1)
    other = (await rewards.post(path, json={"effective_date": str(later + timedelta(days=1))}, headers=hr)).json()
    assert (other["written"], other["newer_record"]) == (0, 2)
    assert [len(await history(rewards, person.id, hr)) for person in (org.ada, org.bob, org.cy)] == [2, 1, 2]

    # On the bus: ids, the date and a count once; no amount.
    async def told() -> list[tuple[Any, bytes]] | None:
        found = [(event, raw) for event, raw in await rewards_stream(js) if event.type == WRITTEN]
        return found or None

    [(event, raw)] = await wait_until(told, message="pay-changes.written")
    assert event.data == {"cycle_id": str(cycle), "effective_date": str(later), "written": 2}
    for name in ("Ada", "Cy"):
        assert proposals[name]["proposed_salary"] not in raw.decode()
    assert "salary" not in json.dumps(event.data)
    # And each person raised once, by id, with the day (the repeats wrote nothing, so told nobody again).

    async def each() -> list[tuple[Any, bytes]] | None:
        found = [(event, raw) for event, raw in await rewards_stream(js) if event.type == PERSON_WRITTEN]
        return found if len(found) >= 2 else None

    per_person = await wait_until(each, message="pay-change.written per person")
    assert sorted((e.data["person_id"], e.data["effective_date"]) for e, _raw in per_person) == sorted(
        (str(person.id), str(later)) for person in (org.ada, org.cy)
    )
    for e, raw in per_person:
        assert set(e.data) == {"cycle_id", "person_id", "effective_date"}
        assert e.data["cycle_id"] == str(cycle)
        for name in ("Ada", "Cy"):
            assert proposals[name]["proposed_salary"] not in raw.decode()
