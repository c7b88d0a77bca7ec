"""Goals over HTTP: measurement, check-ins, status, alignment, SMART, suggestions, filters, events."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from services.goals.repository import GoalRepository
from services.goals.rules import Status
from services.goals.service import GoalService
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.goals.conftest import TODAY, Member, add_people, sessionmaker_of
from tests.support.bus import published
from tests.support.http import problem_fields

pytestmark = pytest.mark.database


async def create(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await client.post("/goals", json={"title": "Ship the billing service v2", **body}, headers=headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_key_results_check_ins_status_history_and_events(
    goals: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    ada = uuid.uuid4()
    me = auth(person_id=ada)
    goal = await create(
        goals,
        me,
        title="Cut checkout p95 latency from 800 to 300 ms",
        period="2026-Q2",
        key_results=[
            {"title": "p95 latency (ms)", "start_value": 800, "target_value": 300, "weight": 2},
            {"title": "Revenue from upsell", "unit": "currency", "currency": "eur", "target_value": 10000},
            {"title": "Runbook published", "unit": "boolean"},
        ],
    )
    latency, revenue, runbook = goal["key_results"]
    assert (latency["direction"], revenue["currency"], runbook["target_value"]) == ("decrease", "EUR", 1.0)
    assert (goal["progress"], goal["progress_source"], goal["status"]) == (0.0, "key_results", "behind")
    path = f"/goals/{goal['id']}"

    async def check_in(**body: Any) -> dict[str, Any]:
        response = await goals.post(f"{path}/check-ins", json=body, headers=me)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    first = await check_in(key_result_id=latency["id"], value=550, confidence=7, note="cache in front of pricing")
    assert (first["previous_value"], first["progress_before"], first["progress_after"]) == (800.0, 0.0, 25.0)
    await check_in(key_result_id=revenue["id"], value=5000)
    current = (await goals.get(path, headers=me)).json()
    # (2 * 50 + 1 * 50 + 1 * 0) / 4 = 37.5, halfway through the quarter: 12.5 points behind
    assert (current["progress"], current["status"]) == (37.5, "at_risk")
    assert [kr["progress"] for kr in current["key_results"]] == [50.0, 50.0, 0.0]

    event, _, _ = await published(settings.nats_url, "meritloop.goals.goal.progressed", goal["id"])
    assert event.data["progress"] == 37.5
    assert event.data["status"] == "at_risk"
    assert "note" not in event.data

    await check_in(key_result_id=latency["id"], value=300)
    await check_in(key_result_id=revenue["id"], value=12000)
    done = await check_in(key_result_id=runbook["id"], value=1)
    assert done["progress_after"] == 100.0
    finished = (await goals.get(path, headers=me)).json()
    assert (finished["status"], finished["completed_at"] is not None) == ("done", True)
    completed, _, _ = await published(settings.nats_url, "meritloop.goals.goal.completed", goal["id"])
    assert completed.data["progress"] == 100.0

    history = (await goals.get(f"{path}/check-ins", headers=me)).json()
    assert history["total"] == 5
    assert history["items"][-1]["note"] == "cache in front of pricing"
    assert {item["author_id"] for item in history["items"]} == {str(ada)}
    audit = (await goals.get(f"{path}/audit", headers=me)).json()
    actions = [entry["action"] for entry in audit["items"]]
    assert actions.count("check_in") == 5
    assert actions[-1] == "created"
    assert "completed" in actions

    bad = await goals.post(f"{path}/check-ins", json={"key_result_id": runbook["id"], "value": 0.5}, headers=me)
    assert problem_fields(bad) == {"value"}
    manual = await goals.post(f"{path}/check-ins", json={"value": 50}, headers=me)
    assert problem_fields(manual) == {"value"}
    other = await goals.post(f"{path}/check-ins", json={"key_result_id": str(uuid.uuid4()), "value": 1}, headers=me)
    assert problem_fields(other) == {"key_result_id"}


async def test_manual_progress_milestones_and_status_override(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    me = auth()
    goal = await create(goals, me, period="2026-Q2")
    path = f"/goals/{goal['id']}"
    response = await goals.post(f"{path}/check-ins", json={"value": 45, "confidence": 8}, headers=me)
    assert response.status_code == 201
    assert (await goals.get(path, headers=me)).json()["status"] == "on_track"
    assert problem_fields(await goals.post(f"{path}/check-ins", json={"value": 120}, headers=me)) == {"value"}
    assert problem_fields(await goals.post(f"{path}/check-ins", json={}, headers=me)) == {"value"}

    assert problem_fields(await goals.put(f"{path}/status", json={"status": "at_risk"}, headers=me)) == {"reason"}
    override = {"status": "at_risk", "reason": "the vendor slipped two weeks"}
    overridden = (await goals.put(f"{path}/status", json=override, headers=me)).json()
    assert (overridden["status"], overridden["status_override"], overridden["status_reason"]) == (
        "at_risk",
        "at_risk",
        "the vendor slipped two weeks",
    )
    cleared = (await goals.put(f"{path}/status", json={"status": None}, headers=me)).json()
    assert (cleared["status"], cleared["status_override"]) == ("on_track", None)
    done = (await goals.put(f"{path}/status", json={"status": "done", "reason": "shipped"}, headers=me)).json()
    assert (done["status"], done["progress"]) == ("done", 100.0)

    with_milestones = await create(goals, me, period="2026-Q2")
    mpath = f"/goals/{with_milestones['id']}"
    for due in ("2026-04-30", "2026-05-31", "2026-06-30"):
        added = await goals.post(f"{mpath}/milestones", json={"title": f"Step {due}", "due_date": due}, headers=me)
        assert added.status_code == 201, added.text
    milestones = added.json()["milestones"]
    assert [m["due_date"] for m in milestones] == ["2026-04-30", "2026-05-31", "2026-06-30"]
    ticked = await goals.patch(f"{mpath}/milestones/{milestones[0]['id']}", json={"done": True}, headers=me)
    assert (ticked.json()["progress"], ticked.json()["progress_source"]) == (33.3333, "milestones")


async def test_validation_names_the_field(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    me = auth()

    async def fields(body: dict[str, Any]) -> set[str]:
        return problem_fields(await goals.post("/goals", json={"title": "A goal title", **body}, headers=me))

    assert await fields({"key_results": [{"title": "ARR", "unit": "currency", "target_value": 5}]}) == {
        "key_results.0.currency"
    }
    increase = {"title": "Bugs", "start_value": 10, "target_value": 5, "direction": "increase"}
    assert await fields({"key_results": [increase]}) == {"key_results.0.target_value"}
    assert await fields({"period": "2026-Q9"}) == {"period"}
    assert await fields({"period": "2026-Q1", "period_start": "2026-01-01"}) == {"period"}
    assert await fields({"period_start": "2026-01-01"}) == {"period_end"}
    department = await goals.post(
        "/goals", json={"title": "A goal title", "level": "department"}, headers=auth(Role.hr)
    )
    assert problem_fields(department) == {"department"}
    assert await fields({"aligned_to_id": str(uuid.uuid4())}) == {"aligned_to_id"}
    assert await fields({"weight": 101}) == {"weight"}
    assert await fields({"level": "galaxy"}) == {"level"}
    assert problem_fields(await goals.get("/goals", params={"status": "sleeping"}, headers=me)) == {"status"}


async def test_alignment_rules_tree_and_contributions(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    ada, bob = uuid.uuid4(), uuid.uuid4()
    company = await create(goals, hr, title="Grow ARR to 20M EUR", level="company", period="2026")
    dept = await create(goals, hr, level="department", department="R&D", aligned_to_id=company["id"])
    mine = await create(goals, auth(person_id=ada), aligned_to_id=dept["id"], period="2026-Q2")
    theirs = await create(goals, auth(person_id=bob), aligned_to_id=dept["id"], period="2026-Q2")
    cascaded = await create(goals, auth(person_id=bob), aligned_to_id=mine["id"], title="Help Ada ship billing")
    await goals.post(f"/goals/{mine['id']}/check-ins", json={"value": 60}, headers=auth(person_id=ada))
    await goals.post(f"/goals/{theirs['id']}/check-ins", json={"value": 20}, headers=auth(person_id=bob))
    await goals.post(f"/goals/{cascaded['id']}/check-ins", json={"value": 100}, headers=auth(person_id=bob))

    # A company goal aligns to nothing; a goal never aligns below its level or to itself.
    response = await goals.patch(f"/goals/{company['id']}", json={"aligned_to_id": dept["id"]}, headers=hr)
    assert problem_fields(response) == {"aligned_to_id"}
    response = await goals.post(
        "/goals", json={"title": "Up", "level": "team", "aligned_to_id": mine["id"]}, headers=auth(Role.hr)
    )
    assert problem_fields(response) == {"aligned_to_id"}
    # mine -> dept; aligning mine under cascaded (which is under mine) would be a cycle.
    response = await goals.patch(
        f"/goals/{mine['id']}", json={"aligned_to_id": cascaded["id"]}, headers=auth(person_id=ada)
    )
    assert problem_fields(response) == {"aligned_to_id"}
    own = await create(goals, auth(person_id=ada), title="Another of mine")
    response = await goals.patch(f"/goals/{own['id']}", json={"aligned_to_id": mine["id"]}, headers=auth(person_id=ada))
    assert problem_fields(response) == {"aligned_to_id"}

    tree = (await goals.get(f"/goals/{company['id']}/tree", headers=auth())).json()
    assert tree["size"] == 5
    root = tree["root"]
    (dept_node,) = root["children"]
    by_id = {child["id"]: child for child in dept_node["children"]}
    # A goal without key results or milestones is an umbrella: its roll-up is its children's.
    assert by_id[mine["id"]]["rollup_progress"] == 100.0
    assert by_id[theirs["id"]]["rollup_progress"] == 20.0
    assert dept_node["rollup_progress"] == 60.0  # (100 + 20) / 2
    assert root["rollup_progress"] == 60.0
    assert root["progress"] == 0.0

    contributions = (await goals.get("/goals/contributions", params={"owner_id": str(bob)}, headers=auth())).json()
    chains = {item["goal"]["id"]: [ref["id"] for ref in item["contributes_to"]] for item in contributions}
    assert chains == {
        theirs["id"]: [dept["id"], company["id"]],
        cascaded["id"]: [mine["id"], dept["id"], company["id"]],
    }


async def test_private_goals_in_a_tree_stay_hidden_and_out_of_the_roll_up(
    goals: httpx.AsyncClient, auth: TokenFactory
) -> None:
    ada = uuid.uuid4()
    team = await create(goals, auth(Role.hr), level="team", title="Team goal everyone sees")
    measured = {"key_results": [{"title": "Customer calls", "target_value": 10}]}
    secret = await create(goals, auth(person_id=ada), aligned_to_id=team["id"], visibility="private", **measured)
    kr = secret["key_results"][0]["id"]
    body = {"key_result_id": kr, "value": 8}
    assert (await goals.post(f"/goals/{secret['id']}/check-ins", json=body, headers=auth(person_id=ada))).is_success
    # Under a private goal, a new goal is private too: its text would tell what the parent is about.
    below = await create(goals, auth(Role.hr), aligned_to_id=secret["id"], owner_id=str(uuid.uuid4()))
    assert below["visibility"] == "private"

    outsider = (await goals.get(f"/goals/{team['id']}/tree", headers=auth())).json()
    assert outsider["size"] == 1
    assert outsider["root"]["children"] == []
    # The hidden goal's progress must not show through the public goal above it.
    assert outsider["root"]["rollup_progress"] == 0.0
    assert outsider["root"]["rollup_rule"] == "own"
    owner = (await goals.get(f"/goals/{team['id']}/tree", headers=auth(person_id=ada))).json()
    assert [child["id"] for child in owner["root"]["children"]] == [secret["id"]]
    # Ada sees her goal (80) but not the private goal under it, which she may not read.
    assert owner["root"]["rollup_progress"] == 80.0
    everything = (await goals.get(f"/goals/{team['id']}/tree", headers=auth(Role.hr))).json()
    assert everything["root"]["rollup_progress"] == 40.0  # HR sees all: (own 80 + child 0) / 2, one level up


async def test_list_filters_and_the_sql_status_matches_the_rule(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    ada = uuid.uuid4()
    me = auth(person_id=ada)
    q2 = [await create(goals, me, period="2026-Q2") for _ in range(4)]
    q3 = await create(goals, me, period="2026-Q3")
    undated = await create(goals, me)
    overdue = await create(goals, me, due_date="2026-05-01")
    for goal, value in zip(q2, (0, 45, 30, 10), strict=True):
        if value:
            await goals.post(f"/goals/{goal['id']}/check-ins", json={"value": value}, headers=me)
    await goals.put(f"/goals/{q2[0]['id']}/status", json={"status": "cancelled", "reason": "dropped"}, headers=me)

    async def ids(**params: str) -> set[str]:
        body = (await goals.get("/goals", params={"owner_id": str(ada), **params}, headers=me)).json()
        return {item["id"] for item in body["items"]}

    assert await ids(period="2026-Q2") == {g["id"] for g in q2} | {overdue["id"]}
    assert await ids(period="2026-Q3") == {q3["id"]}
    assert await ids(status="cancelled") == {q2[0]["id"]}
    assert await ids(status="on_track") == {q2[1]["id"]}
    assert await ids(status="at_risk") == {q2[2]["id"]}
    assert await ids(status="behind") == {q2[3]["id"], overdue["id"]}
    assert await ids(status="not_started") == {q3["id"], undated["id"]}
    assert await ids(level="company") == set()

    # The derived status in SQL (for filters) and in Python (for responses) agree, day by day.
    all_ids = [uuid.UUID(g["id"]) for g in [*q2, q3, undated, overdue]]
    async with sessionmaker_of(goals)() as session:
        repo = GoalRepository.from_session(session)
        for offset in range(-40, 140, 3):
            day = TODAY + timedelta(days=offset)
            in_sql = await repo.statuses(all_ids, day)
            service = GoalService(session, today=day)
            for goal_id in all_ids:
                stored = await repo.get(goal_id)
                assert stored is not None
                assert in_sql[goal_id] == service.read_model(stored).status.value, (day, stored.progress)
    assert {s.value for s in Status} >= set(in_sql.values())


async def test_weights_report(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    ada = uuid.uuid4()
    me = auth(person_id=ada)
    params = {"owner_id": str(ada), "period": "2026-Q2"}
    first = await create(goals, me, period="2026-Q2", weight=60)
    report = (await goals.get("/goals/weights", params=params, headers=me)).json()
    assert (report["ok"], report["weight_total"], report["message"]) == (
        False,
        60.0,
        "The weights add up to 60, not 100.",
    )
    await create(goals, me, period="2026-Q2", weight=40)
    assert (await goals.get("/goals/weights", params=params, headers=me)).json()["ok"] is True
    await goals.put(f"/goals/{first['id']}/status", json={"status": "cancelled", "reason": "x"}, headers=me)
    assert (await goals.get("/goals/weights", params=params, headers=me)).json()["weight_total"] == 40.0
    missing = await goals.get("/goals/weights", params={"owner_id": str(ada)}, headers=me)
    assert problem_fields(missing) == {"period"}


async def test_smart_check_and_suggestions(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    me = auth()
    draft = {"title": "Improve onboarding", "period": "2026-Q2", "due_date": "2026-07-15"}
    report = (await goals.post("/goals/smart-check", json=draft, headers=me)).json()
    assert report["ok"] is False
    assert set(report["missing"]) == {"specific", "measurable", "relevant", "time_bound"}
    messages = {issue["code"]: issue["message"] for issue in report["issues"]}
    assert (
        messages["due_date_outside_period"] == "The due date 2026-07-15 is outside the period 2026-04-01 to 2026-06-30."
    )

    goal = await create(goals, me, title="Improve onboarding")
    assert goal["smart"]["ok"] is False
    assert (await goals.get(f"/goals/{goal['id']}/smart", headers=me)).json() == goal["smart"]

    for title in ("Reduce onboarding time for new engineers", "Reduce cloud costs by 20%", "Hire two designers"):
        for _ in range(2 if "cloud" in title else 1):
            await create(goals, auth(), title=title)
    await create(goals, auth(), title="Reduce onboarding time secretly", visibility="private")
    body = {
        "title": "Cut onboarding time for engineers",
        "period": "2026-Q2",
        "key_results": [{"title": "Days to first deploy", "start_value": 10, "target_value": 4}],
    }
    suggestions = (await goals.post("/goals/suggestions", json=body, headers=me)).json()
    assert suggestions["provider"] == "local"
    titles = [similar["title"] for similar in suggestions["similar_goals"]]
    assert titles[0] == "Reduce onboarding time for new engineers"
    assert "Reduce onboarding time secretly" not in titles  # private goals are never suggested
    assert "Hire two designers" not in titles
    assert [m["target_value"] for m in suggestions["milestones"]] == [8.0, 6.0, 4.0]
    assert suggestions["key_dates"][-1]["date"] == "2026-06-30"
    stored = (await goals.get(f"/goals/{goal['id']}/suggestions", headers=me)).json()
    assert stored["notes"] == ["Set a due date or a period to get milestones and key dates."]
    assert "Improve onboarding" not in [similar["title"] for similar in stored["similar_goals"]]


async def test_private_titles_stay_off_the_bus(
    goals: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    me = auth()
    goal = await create(goals, me, title="Find a new job by September", visibility="private")
    event, raw, _ = await published(settings.nats_url, "meritloop.goals.goal.created", goal["id"])
    assert event.data["title"] is None
    assert b"new job" not in raw
    await goals.patch(f"/goals/{goal['id']}", json={"title": "Find a new role by October"}, headers=me)
    updated, raw, _ = await published(settings.nats_url, "meritloop.goals.goal.updated", goal["id"])
    assert updated.data["changed"] == ["title"]
    assert b"new role" not in raw


async def test_employees_see_public_goals_of_people_in_the_projection(
    goals: httpx.AsyncClient, auth: TokenFactory
) -> None:
    boss, ada = uuid.uuid4(), uuid.uuid4()
    await add_people(goals, [Member(boss), Member(ada, boss)])
    await create(goals, auth(person_id=ada), title="Ada's private goal", visibility="private")
    seen = (await goals.get("/goals", params={"visibility": "private"}, headers=auth(person_id=boss))).json()
    assert seen["total"] == 1
    assert (await goals.get("/goals", params={"visibility": "private"}, headers=auth())).json()["total"] == 0
    assert date.fromisoformat("2026-05-16") == TODAY
