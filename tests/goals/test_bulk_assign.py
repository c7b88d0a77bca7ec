"""Bulk assignment of a department goal to 200 people, and its roll-up."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.goals.schemas import CheckInCreate
from services.goals.service import GoalService
from shared.auth import Principal, Role
from tests.conftest import TokenFactory
from tests.goals.conftest import TODAY, Member, add_people, sessionmaker_of
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

PEOPLE = 200


async def test_a_department_goal_to_200_people_rolls_up(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    # R&D: a head, 4 managers under them, 195 engineers under the managers; one inactive
    # engineer and a Sales person who must not receive the goal.
    head = uuid.uuid4()
    managers = [uuid.uuid4() for _ in range(4)]
    engineers = [uuid.uuid4() for _ in range(PEOPLE - 5)]
    members = [Member(head, None, "R&D"), *(Member(m, head, "R&D") for m in managers)]
    members += [Member(e, managers[i % 4], "R&D") for i, e in enumerate(engineers)]
    members += [Member(uuid.uuid4(), managers[0], "R&D", active=False), Member(uuid.uuid4(), head, "Sales")]
    await add_people(goals, members)
    hr = auth(Role.hr)

    company = (await goals.post("/goals", json={"title": "Grow ARR to 20M EUR", "level": "company"}, headers=hr)).json()
    department = await goals.post(
        "/goals",
        json={
            "title": "Cut R&D cloud spend from 100k to 80k EUR a month",
            "level": "department",
            "department": "R&D",
            "period": "2026-Q2",
            "aligned_to_id": company["id"],
            "weight": 25,
            "key_results": [
                {
                    "title": "Monthly spend",
                    "unit": "currency",
                    "currency": "EUR",
                    "start_value": 100,
                    "target_value": 80,
                }
            ],
            "milestones": [{"title": "Rightsize databases", "due_date": "2026-05-15"}],
        },
        headers=hr,
    )
    assert department.status_code == 201, department.text
    source = department.json()

    body = {"source_goal_ids": [source["id"]], "scope": "department", "department": "R&D"}
    assigned = await goals.post("/goals/bulk-assign", json=body, headers=hr)
    assert assigned.status_code == 200, assigned.text
    result = assigned.json()
    assert (result["members"], result["created"], result["skipped"]) == (PEOPLE, PEOPLE, 0)

    again = (await goals.post("/goals/bulk-assign", json=body, headers=hr)).json()
    assert (again["created"], again["skipped"], again["goal_ids"]) == (0, PEOPLE, [])

    copies = (await goals.get("/goals", params={"aligned_to": source["id"], "limit": 500}, headers=hr)).json()
    assert copies["total"] == PEOPLE
    assert {item["owner_id"] for item in copies["items"]} == {str(m) for m in [head, *managers, *engineers]}
    copy = copies["items"][0]
    assert (copy["level"], copy["assigned_from_id"], copy["weight"], copy["period_kind"]) == (
        "individual",
        source["id"],
        25.0,
        "quarter",
    )
    assert [kr["current_value"] for kr in copy["key_results"]] == [100.0]
    assert [m["title"] for m in copy["milestones"]] == ["Rightsize databases"]

    # Each person reports their own spend: person i ends at 100 - (i % 5) * 5, so their
    # progress is (i % 5) * 25 %: 0, 25, 50, 75, 100 in equal numbers (mean 50).
    async with sessionmaker_of(goals)() as session, session.begin():
        service = GoalService(session, today=TODAY)
        for index, item in enumerate(copies["items"]):
            principal = Principal(uuid.UUID(item["owner_id"]), frozenset({Role.employee}))
            kr_id = uuid.UUID(item["key_results"][0]["id"])
            check_in = CheckInCreate(key_result_id=kr_id, value=100 - (index % 5) * 5)
            await service.check_in(uuid.UUID(item["id"]), check_in, principal)

    tree = await goals.get(f"/goals/{company['id']}/tree", headers=hr)
    assert tree.status_code == 200
    body = tree.json()
    assert body["size"] == PEOPLE + 2
    (dept_node,) = body["root"]["children"]
    assert len(dept_node["children"]) == PEOPLE
    assert sorted({child["progress"] for child in dept_node["children"]}) == [0.0, 25.0, 50.0, 75.0, 100.0]
    # The department goal measures itself (0 % so far) and counts once beside its 200 copies.
    assert dept_node["rollup_progress"] == pytest.approx((0 + 50 * PEOPLE) / (PEOPLE + 1), abs=1e-3)
    assert body["root"]["rollup_progress"] == dept_node["rollup_progress"]
    done = [child for child in dept_node["children"] if child["status"] == "done"]
    assert len(done) == PEOPLE // 5


async def test_managers_assign_to_their_team_or_subtree(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    boss, lead, other_lead = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    team = [uuid.uuid4() for _ in range(3)]
    below = [uuid.uuid4() for _ in range(2)]
    await add_people(
        goals,
        [
            Member(boss),
            Member(lead, boss),
            Member(other_lead, boss),
            *(Member(t, lead) for t in team),
            *(Member(b, team[0]) for b in below),
        ],
    )
    as_lead = auth(Role.manager, person_id=lead)
    template = [
        (await goals.post("/goals", json={"title": title, "level": "team"}, headers=as_lead)).json()["id"]
        for title in ("Release weekly this quarter", "Halve the bug backlog")
    ]
    body = {"source_goal_ids": template, "scope": "team", "manager_id": str(lead)}
    result = (await goals.post("/goals/bulk-assign", json=body, headers=as_lead)).json()
    assert (result["members"], result["created"]) == (3, 6)
    subtree = (await goals.post("/goals/bulk-assign", json={**body, "scope": "subtree"}, headers=as_lead)).json()
    assert (subtree["members"], subtree["created"], subtree["skipped"]) == (5, 4, 6)

    assert_problem(
        await goals.post("/goals/bulk-assign", json={**body, "manager_id": str(other_lead)}, headers=as_lead), 403
    )
    department = {"source_goal_ids": template, "scope": "department", "department": "R&D"}
    assert_problem(await goals.post("/goals/bulk-assign", json=department, headers=as_lead), 403)
    assert problem_fields(
        await goals.post("/goals/bulk-assign", json={"source_goal_ids": template, "scope": "team"}, headers=as_lead)
    ) == {"manager_id"}
    missing = {**body, "source_goal_ids": [str(uuid.uuid4())]}
    assert problem_fields(await goals.post("/goals/bulk-assign", json=missing, headers=as_lead)) == {
        "source_goal_ids.0"
    }
