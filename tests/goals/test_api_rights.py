"""Who may see and change which goal, over HTTP (problem+json, private goals stay hidden)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.goals.conftest import Member, add_people
from tests.support.http import assert_problem

pytestmark = pytest.mark.database


class Org:
    """ceo -> mgr -> (ada, bob); ceo -> eve; hr and admin outside the tree."""

    def __init__(self) -> None:
        self.ceo, self.mgr, self.ada, self.bob, self.eve = (uuid.uuid4() for _ in range(5))
        self.hr, self.admin = uuid.uuid4(), uuid.uuid4()

    def members(self) -> list[Member]:
        return [
            Member(self.ceo),
            Member(self.mgr, self.ceo, "R&D"),
            Member(self.ada, self.mgr, "R&D"),
            Member(self.bob, self.mgr, "R&D"),
            Member(self.eve, self.ceo, "Sales"),
            Member(self.hr, None, "People"),
        ]


@pytest.fixture
async def org(goals: httpx.AsyncClient) -> Org:
    org = Org()
    await add_people(goals, org.members())
    return org


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/goals", json={"title": "Ship the billing service v2", **body}, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_private_goals_are_seen_by_owner_managers_and_hr_only(
    goals: httpx.AsyncClient, auth: TokenFactory, org: Org
) -> None:
    private = await create(goals, auth(person_id=org.ada), visibility="private", title="Private plan for Ada")
    public = await create(goals, auth(person_id=org.ada), title="Public plan for Ada")

    for viewer, roles in [
        (org.ada, ()),
        (org.mgr, (Role.manager,)),
        (org.ceo, (Role.manager,)),
        (org.hr, (Role.hr,)),
        (org.admin, (Role.admin,)),
    ]:
        response = await goals.get(f"/goals/{private['id']}", headers=auth(*roles, person_id=viewer))
        assert response.status_code == 200, (viewer, response.text)
    missing = assert_problem(await goals.get(f"/goals/{uuid.uuid4()}", headers=auth(person_id=org.bob)), 404)
    for viewer in (org.bob, org.eve):
        hidden = assert_problem(await goals.get(f"/goals/{private['id']}", headers=auth(person_id=viewer)), 404)
        # The same answer as for a goal that does not exist: existence does not leak.
        assert hidden["detail"].replace(private["id"], "X") == missing["detail"].split("id ")[0] + "id X."
        for path in ("/tree", "/smart", "/check-ins", "/suggestions"):
            assert_problem(await goals.get(f"/goals/{private['id']}{path}", headers=auth(person_id=viewer)), 404)
        patch = await goals.patch(f"/goals/{private['id']}", json={"title": "Mine now"}, headers=auth(person_id=viewer))
        assert_problem(patch, 404)
        assert (await goals.get(f"/goals/{public['id']}", headers=auth(person_id=viewer))).status_code == 200

    async def listed(viewer: uuid.UUID, *roles: Role) -> set[str]:
        body = (
            await goals.get("/goals", params={"owner_id": str(org.ada)}, headers=auth(*roles, person_id=viewer))
        ).json()
        return {item["id"] for item in body["items"]}

    both = {private["id"], public["id"]}
    assert await listed(org.ada) == both
    assert await listed(org.mgr) == both
    assert await listed(org.ceo) == both
    assert await listed(org.hr, Role.hr) == both
    assert await listed(org.bob) == {public["id"]}
    assert await listed(org.eve) == {public["id"]}


async def test_owners_and_their_managers_edit_individual_goals(
    goals: httpx.AsyncClient, auth: TokenFactory, org: Org
) -> None:
    goal = await create(goals, auth(person_id=org.ada))
    path = f"/goals/{goal['id']}"

    async def patch(viewer: uuid.UUID, *roles: Role, title: str) -> httpx.Response:
        return await goals.patch(path, json={"title": title}, headers=auth(*roles, person_id=viewer))

    assert (await patch(org.ada, title="Ship billing v2 by June")).status_code == 200
    assert (await patch(org.mgr, Role.manager, title="Ship billing v2 by mid-June")).status_code == 200
    assert (await patch(org.ceo, Role.manager, title="Ship billing v2 by end of May")).status_code == 200
    assert (await patch(org.admin, Role.admin, title="Ship billing v2 (admin)")).status_code == 200
    for viewer, roles in [(org.bob, ()), (org.eve, (Role.manager,)), (org.hr, (Role.hr,))]:
        body = assert_problem(await patch(viewer, *roles, title="Not mine"), 403)
        assert body["type"].endswith("/forbidden")
    check_in = await goals.post(f"{path}/check-ins", json={"value": 10}, headers=auth(person_id=org.bob))
    assert_problem(check_in, 403)
    audit = (await goals.get(f"{path}/audit", headers=auth(Role.hr, person_id=org.hr))).json()
    assert [entry["action"] for entry in audit["items"]].count("updated") == 4
    assert_problem(await goals.get(f"{path}/audit", headers=auth(person_id=org.bob)), 403)


async def test_managers_set_goals_for_their_reports_only(
    goals: httpx.AsyncClient, auth: TokenFactory, org: Org
) -> None:
    mgr = auth(Role.manager, person_id=org.mgr)
    assert (await create(goals, mgr, owner_id=str(org.ada)))["owner_id"] == str(org.ada)
    for someone in (org.eve, org.ceo):
        response = await goals.post("/goals", json={"title": "Theirs", "owner_id": str(someone)}, headers=mgr)
        assert_problem(response, 403)


async def test_company_goals_belong_to_hr_and_admins(goals: httpx.AsyncClient, auth: TokenFactory, org: Org) -> None:
    body = {"title": "Double annual recurring revenue to 20M EUR", "level": "company", "period": "2026"}
    for roles in ((Role.employee,), (Role.manager,)):
        assert_problem(await goals.post("/goals", json=body, headers=auth(*roles, person_id=org.ceo)), 403)
    company = await create(goals, auth(Role.hr, person_id=org.hr), **body)
    assert (company["level"], company["period_kind"], company["period_end"]) == ("company", "year", "2026-12-31")
    path = f"/goals/{company['id']}"
    assert_problem(await goals.patch(path, json={"weight": 10}, headers=auth(Role.manager, person_id=org.ceo)), 403)
    assert (await goals.patch(path, json={"weight": 10}, headers=auth(Role.hr))).status_code == 200
    assert (await goals.patch(path, json={"weight": 20}, headers=auth(Role.admin))).status_code == 200

    department = {"title": "Cut R&D cloud spend by 20%", "level": "department", "department": "R&D"}
    assert_problem(await goals.post("/goals", json=department, headers=auth(Role.manager, person_id=org.mgr)), 403)
    created = await create(goals, auth(Role.hr), **department, aligned_to_id=company["id"])
    assert created["department"] == "R&D"
    team = {"title": "Release every week this quarter", "level": "team", "aligned_to_id": created["id"]}
    assert_problem(await goals.post("/goals", json=team, headers=auth(person_id=org.mgr)), 403)
    team_goal = await create(goals, auth(Role.manager, person_id=org.mgr), **team)
    # The team lead edits their team goal; a member of the team does not.
    tpath = f"/goals/{team_goal['id']}"
    assert (await goals.patch(tpath, json={"weight": 50}, headers=auth(person_id=org.mgr))).status_code == 200
    assert_problem(await goals.patch(tpath, json={"weight": 40}, headers=auth(person_id=org.ada)), 403)


async def test_cycle_scores_are_for_hr_and_admins(goals: httpx.AsyncClient, auth: TokenFactory, org: Org) -> None:
    cycle = uuid.uuid4()
    body = {"period_start": "2026-01-01", "period_end": "2026-06-30", "participant_ids": [str(org.ada)]}
    for roles in ((Role.employee,), (Role.manager,)):
        assert_problem(await goals.post(f"/cycles/{cycle}/scores", json=body, headers=auth(*roles)), 403)
        assert_problem(await goals.get(f"/cycles/{cycle}/scores", headers=auth(*roles)), 403)
    assert (await goals.post(f"/cycles/{cycle}/scores", json=body, headers=auth(Role.hr))).status_code == 200
    assert (await goals.get(f"/cycles/{cycle}/scores", headers=auth(Role.admin))).json()["total"] == 1


async def test_weights_are_for_the_owner_managers_and_hr(
    goals: httpx.AsyncClient, auth: TokenFactory, org: Org
) -> None:
    params = {"owner_id": str(org.ada), "period": "2026-Q2"}
    for viewer, roles in [(org.ada, ()), (org.mgr, ()), (org.hr, (Role.hr,))]:
        assert (
            await goals.get("/goals/weights", params=params, headers=auth(*roles, person_id=viewer))
        ).status_code == 200
    assert_problem(await goals.get("/goals/weights", params=params, headers=auth(person_id=org.bob)), 403)


async def test_who_removes_key_results_and_milestones(goals: httpx.AsyncClient, auth: TokenFactory, org: Org) -> None:
    """The rule of every change: the owner, their managers at any level, admins; HR only non-individual goals."""
    gone = uuid.uuid4()
    await add_people(goals, [Member(gone, org.mgr, "R&D", active=False)])
    allowed = {
        "self": auth(person_id=org.ada),
        "manager": auth(Role.manager, person_id=org.mgr),
        "skip-level": auth(Role.manager, person_id=org.ceo),
        "admin": auth(Role.admin, person_id=org.admin),
    }
    refused = {
        "hr": auth(Role.hr, person_id=org.hr),
        "colleague": auth(person_id=org.bob),
        "other manager": auth(Role.manager, person_id=org.eve),
    }
    names = [*allowed, *refused]
    goal = await create(
        goals,
        allowed["self"],
        key_results=[{"title": f"KR of {name}", "target_value": 10} for name in names],
        milestones=[{"title": f"Milestone of {name}", "due_date": "2026-06-30"} for name in names],
    )
    path = f"/goals/{goal['id']}"
    kr_ids = {kr["title"].removeprefix("KR of "): kr["id"] for kr in goal["key_results"]}
    ms_ids = {m["title"].removeprefix("Milestone of "): m["id"] for m in goal["milestones"]}

    for name, headers in refused.items():
        for item in (f"key-results/{kr_ids[name]}", f"milestones/{ms_ids[name]}"):
            body = assert_problem(await goals.delete(f"{path}/{item}", headers=headers), 403)
            assert body["type"].endswith("/forbidden"), name
    for name, headers in allowed.items():
        assert (await goals.delete(f"{path}/key-results/{kr_ids[name]}", headers=headers)).status_code == 200, name
        assert (await goals.delete(f"{path}/milestones/{ms_ids[name]}", headers=headers)).status_code == 200, name
    left = (await goals.get(path, headers=allowed["self"])).json()
    assert [kr["title"] for kr in left["key_results"]] == [f"KR of {name}" for name in refused]
    assert sorted(m["title"] for m in left["milestones"]) == sorted(f"Milestone of {name}" for name in refused)
    audit = (await goals.get(f"{path}/audit", headers=refused["hr"])).json()["items"]
    actions = [entry["action"] for entry in audit]
    assert (actions.count("key_result_removed"), actions.count("milestone_removed")) == (4, 4)

    # A private goal is not found for those who may not read it, whatever the item.
    private = await create(goals, allowed["self"], visibility="private", key_results=[{"title": "Hidden"}])
    hidden = f"/goals/{private['id']}/key-results/{private['key_results'][0]['id']}"
    assert_problem(await goals.delete(hidden, headers=refused["colleague"]), 404)
    assert (await goals.delete(hidden, headers=refused["hr"])).status_code == 403

    # HR changes department goals, so removes from them.
    department = await create(
        goals, refused["hr"], level="department", department="R&D", key_results=[{"title": "Cloud spend"}]
    )
    removed = await goals.delete(
        f"/goals/{department['id']}/key-results/{department['key_results'][0]['id']}", headers=refused["hr"]
    )
    assert (removed.status_code, removed.json()["key_results"]) == (200, [])

    # A person who has left is refused even on their own goal; their manager still may.
    theirs = await create(goals, allowed["manager"], owner_id=str(gone), key_results=[{"title": "Handover"}])
    item = f"/goals/{theirs['id']}/key-results/{theirs['key_results'][0]['id']}"
    body = assert_problem(await goals.delete(item, headers=auth(person_id=gone)), 403)
    assert body["type"].endswith("/person-inactive")
    assert (await goals.delete(item, headers=allowed["manager"])).status_code == 200
