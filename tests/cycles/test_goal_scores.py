"""The goal-score round trip across services: reviews asks at launch, goals scores, reviews stores.

Runs the reviews and goals services, a worker with the real activities, a real Temporal dev
server and NATS. Each participant has two goals in the cycle period (weights 60 and 40,
progress 50% and 100%), so every form must show a goal score of 0.6 * 50 + 0.4 * 100 = 70.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, add_goals
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def test_goal_scores_reach_every_review_form(
    service_client: ServiceClientFactory, auth: TokenFactory, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, service_client("goals") as goals, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=2)
        for person in org.people:

            async def projected(who: str = person) -> bool:
                return (await goals.get(f"/people/{who}", headers=org.hr)).status_code == 200

            await wait_until(projected, message="goals knows the participant")
            await add_goals(goals, org.hr, person, org.token(person))

        cycle = await org.launch()
        tasks = await org.wait_tasks(cycle, "self_assessment", len(org.people))

        async def form(task: dict[str, Any]) -> dict[str, Any]:
            response: httpx.Response = await reviews.get(f"/tasks/{task['id']}", headers=org.token(task["assignee_id"]))
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        for task in tasks:

            async def scored(current: dict[str, Any] = task) -> float | None:
                score: float | None = (await form(current))["goal_score"]
                return score

            assert await wait_until(scored, timeout=30, message="goal score in the form") == pytest.approx(70.0)
            listed = (await form(task))["goals"]
            assert sorted((goal["weight"], goal["progress"]) for goal in listed) == [(40.0, 100.0), (60.0, 50.0)]
            # The form names each goal by id; its title comes from the goals service.
            for goal in listed:
                shown = await goals.get(f"/goals/{goal['goal_id']}", headers=org.token(task["assignee_id"]))
                assert shown.status_code == 200, shown.text
                assert shown.json()["title"].startswith("Ship the")
