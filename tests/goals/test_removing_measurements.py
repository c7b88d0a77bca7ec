"""Removing a key result or a milestone: progress and status follow, the history stays."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.goals.models import KeyResult
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.goals.conftest import sessionmaker_of
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def test_removing_key_results_and_milestones(
    goals: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    ada = uuid.uuid4()
    me = auth(person_id=ada)
    created = await goals.post(
        "/goals",
        json={
            "title": "Win three pilot customers for billing v2",
            "period": "2026-Q2",
            "key_results": [
                {"title": "Deploys a week", "target_value": 10},
                {"title": "Customer calls", "target_value": 10},
                {"title": "Runbook published", "unit": "boolean"},
            ],
            "milestones": [{"title": "Pilot live", "due_date": "2026-06-15"}],
        },
        headers=me,
    )
    assert created.status_code == 201, created.text
    goal = created.json()
    path = f"/goals/{goal['id']}"
    deploys, calls, runbook = (kr["id"] for kr in goal["key_results"])
    pilot = goal["milestones"][0]["id"]
    tied = {"title": "Halfway calls", "due_date": "2026-05-31", "key_result_id": calls, "target_value": 5}
    halfway = next(
        m["id"]
        for m in (await goals.post(f"{path}/milestones", json=tied, headers=me)).json()["milestones"]
        if m["title"] == "Halfway calls"
    )
    for kr, value in ((calls, 10), (deploys, 5)):
        response = await goals.post(f"{path}/check-ins", json={"key_result_id": kr, "value": value}, headers=me)
        assert response.status_code == 201, response.text
    assert (await goals.get(path, headers=me)).json()["progress"] == 50.0  # (50 + 100 + 0) / 3

    async def remove(item: str) -> dict[str, Any]:
        response = await goals.delete(f"{path}/{item}", headers=me)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def update_event(version: int) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            event, _, _ = await published(settings.nats_url, "meritloop.goals.goal.updated", goal["id"])
            return event.data if event.data["version"] == version else None

        return await wait_until(probe, timeout=10, message=f"goal.updated of version {version}")

    # The key result goes; the milestone tied to it stays, tied to nothing; its check-in stays in the history.
    after = await remove(f"key-results/{calls}")
    assert (after["progress"], after["progress_source"]) == (25.0, "key_results")  # (50 + 0) / 2
    assert [kr["title"] for kr in after["key_results"]] == ["Deploys a week", "Runbook published"]
    detached = next(m for m in after["milestones"] if m["id"] == halfway)
    assert (detached["key_result_id"], detached["target_value"]) == (None, 5.0)
    async with sessionmaker_of(goals)() as session:
        positions = await session.scalars(
            select(KeyResult.position).where(KeyResult.goal_id == uuid.UUID(goal["id"])).order_by(KeyResult.position)
        )
        assert list(positions) == [0, 1]
    history = (await goals.get(f"{path}/check-ins", headers=me)).json()
    assert history["total"] == 2
    assert {item["value"]: item["key_result_id"] for item in history["items"]} == {10.0: None, 5.0: deploys}
    audit = (await goals.get(f"{path}/audit", headers=me)).json()["items"]
    assert (audit[0]["action"], audit[0]["changes"]) == (
        "key_result_removed",
        {"id": calls, "title": "Customer calls", "milestones_detached": [halfway]},
    )
    event = await update_event(after["version"])
    assert (event["changed"], event["status"]) == (["key_result_removed"], after["status"])

    # Gone is gone: removing it again, or reporting on it, names what is missing.
    assert_problem(await goals.delete(f"{path}/key-results/{calls}", headers=me), 404)
    assert_problem(await goals.delete(f"{path}/milestones/{uuid.uuid4()}", headers=me), 404)
    assert_problem(await goals.delete(f"/goals/{uuid.uuid4()}/key-results/{deploys}", headers=me), 404)
    late = await goals.post(f"{path}/check-ins", json={"key_result_id": calls, "value": 3}, headers=me)
    assert problem_fields(late) == {"key_result_id"}

    # Without key results the milestones measure the goal; removing the open one completes it.
    ticked = await goals.patch(f"{path}/milestones/{pilot}", json={"done": True}, headers=me)
    assert ticked.status_code == 200, ticked.text
    await remove(f"key-results/{deploys}")
    measured = await remove(f"key-results/{runbook}")
    assert (measured["progress"], measured["progress_source"], measured["key_results"]) == (50.0, "milestones", [])
    done = await remove(f"milestones/{halfway}")
    assert (done["progress"], done["status"], done["completed_at"] is not None) == (100.0, "done", True)
    assert [m["title"] for m in done["milestones"]] == ["Pilot live"]
    audit = (await goals.get(f"{path}/audit", headers=me)).json()["items"]
    latest = {entry["action"]: entry["changes"] for entry in audit[:2]}
    assert latest == {
        "milestone_removed": {"id": halfway, "title": "Halfway calls", "due_date": "2026-05-31", "done": False},
        "completed": {"progress": 100.0},
    }
    completed, _, _ = await published(settings.nats_url, "meritloop.goals.goal.completed", goal["id"])
    assert completed.data["progress"] == 100.0

    # The last milestone gone, the goal is measured by check-ins again (none with a value: 0).
    manual = await remove(f"milestones/{pilot}")
    assert (manual["progress"], manual["progress_source"], manual["completed_at"]) == (0.0, "manual", None)
    assert manual["status"] != "done"
    assert (await update_event(manual["version"]))["changed"] == ["milestone_removed"]
