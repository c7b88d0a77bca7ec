"""A whole cycle read the way issue 15 asks: forms with labels, score lineage, history, and a
signal to watch after each asynchronous step instead of polling lists.

Three participants (a manager and two reports) on the real Temporal dev server, NATS, the
reviews and rewards apps and the real activities. After launch, each phase change, calibration
and pay approval the test waits on ``GET /review-cycles/{id}``'s ``activity.settled`` (or the
rewards cycle's ``ratings_received``) and prints how long it took: the figures in
docs/review-cycles.md ("Waiting for the background work") come from this test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def test_a_cycle_read_through_the_api(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    waited: dict[str, float] = {}
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        org = await Org(reviews, rewards, auth).build(reports=2)
        participants = len(org.people)

        async def settled_in(cycle: str, phase: str, label: str) -> dict[str, Any]:
            started = time.monotonic()

            async def probe() -> dict[str, Any] | None:
                found: dict[str, Any] = await org.cycle(cycle)
                activity = found["activity"]
                return found if found["phase"] == phase and activity and activity["settled"] else None

            found: dict[str, Any] = await wait_until(probe, timeout=90, interval=0.05, message=f"{phase} settled")
            waited[label] = time.monotonic() - started
            return found

        cycle = await org.launch()
        launched = await settled_in(cycle, "self_assessment", "launch -> self-assessment tasks")
        assert launched["activity"]["tasks_created"] == {"self_assessment": participants}

        # Forms: scale labels and descriptions, behaviours, company values.
        selfs = (await reviews.get("/tasks", params={"scope": "all", "cycle_id": cycle}, headers=org.hr)).json()
        first = selfs["items"][0]
        form = (await reviews.get(f"/tasks/{first['id']}", headers=org.token(first["assignee_id"]))).json()
        craft = next(i for s in form["sections"] for i in s["items"] if i["key"] == "craft")
        assert [p["label"] for p in craft["scale"]] == [f"Level {v}" for v in range(1, 6)]
        assert craft["behaviours"][0]["description"] == "Needs help with routine work."

        for task in selfs["items"]:
            await org.submit_ok(task)
        reviewing = await settled_in(cycle, "manager_review", "last self-assessment -> manager-review phase")
        assert reviewing["activity"]["tasks_created"]["manager_review"] == participants
        managing = await reviews.get("/tasks", params={"scope": "all", "kind": "manager_review"}, headers=org.hr)
        for task in managing.json()["items"]:
            await org.submit_ok(task)
        calibrating = await settled_in(cycle, "calibration", "last manager review -> calibration sessions")
        assert calibrating["activity"]["scored"] == participants

        # Score lineage: HR and the manager read it, it replays, calibration rows link to it.
        report = next(person for person, manager in org.people.items() if manager == org.manager)
        path = f"/review-cycles/{cycle}/participants/{report}/score"
        for headers in (org.hr, org.token(org.manager), org.token(org.boss)):
            lineage = await reviews.get(path, headers=headers)
            assert lineage.status_code == 200, lineage.text
            assert lineage.json()["reproduces"] is True
        assert (await reviews.get(path, headers=org.token(report))).status_code == 404  # not shown yet
        sessions = (await reviews.get(f"/review-cycles/{cycle}/calibration-sessions", headers=org.hr)).json()
        detail = (await reviews.get(f"/calibration-sessions/{sessions[0]['id']}", headers=org.hr)).json()
        assert {row["score_url"] for row in detail["rows"]} >= {path}

        # Finalize: rewards counts the ratings as they arrive.
        started = time.monotonic()
        await org.calibrate(cycle)

        async def rewards_caught_up() -> dict[str, Any] | None:
            published = (await org.cycle(cycle))["activity"]["ratings_published"]
            response = await rewards.get(f"/cycles/{cycle}", headers=org.hr)
            found: dict[str, Any] = response.json()
            ok = response.status_code == 200 and published == participants == found["ratings_received"]
            return found if ok else None

        await wait_until(rewards_caught_up, timeout=60, interval=0.05, message="ratings in rewards")
        waited["finalize -> every proposal in rewards"] = time.monotonic() - started
        await settled_in(cycle, "pay_approval", "finalize -> pay-review tasks")
        await org.pay(cycle, participants)  # ends with HR's approval of the unit
        await settled_in(cycle, "acknowledgement", "approval -> acknowledgement tasks")
        acks = (await reviews.get("/tasks", params={"scope": "all", "kind": "acknowledgement"}, headers=org.hr)).json()
        own = next(task for task in acks["items"] if task["person_id"] == report)
        ack_form = (await reviews.get(f"/tasks/{own['id']}", headers=org.token(report))).json()
        assert ack_form["score_url"] == path
        assert isinstance(ack_form["final_rating"], float)
        assert (await reviews.get(path, headers=org.token(report))).status_code == 200  # shown now
        for task in acks["items"]:
            await org.submit_ok(task)
        await org.wait_cycle(cycle, "closed", timeout=90)

        # History after the close.
        history = await reviews.get(
            "/tasks", params={"scope": "all", "cycle_id": cycle, "status": "any", "limit": 100}, headers=org.hr
        )
        assert history.json()["total"] == 4 * participants
        team = await reviews.get(
            "/tasks",
            params={"scope": "reports", "status": "done", "kind": "manager_review"},
            headers=org.token(org.manager),
        )
        assert {t["person_id"] for t in team.json()["items"]} == {p for p, m in org.people.items() if m == org.manager}
        mine = await reviews.get("/tasks", params={"status": "any"}, headers=org.token(report))
        assert {t["step"] for t in mine.json()["items"]} == {"self_assessment", "acknowledgement"}
        outcome = (await reviews.get(f"/review-cycles/{cycle}/participants", headers=org.hr)).json()
        assert {p["closed_reason"] for p in outcome["items"]} == {"completed"}
        assert all(set(p["tasks"].values()) == {"done"} for p in outcome["items"])
    for what, seconds in waited.items():
        print(f"waited {seconds:5.2f} s: {what}")
