"""What HR does to a running cycle, over HTTP, through the workflows on the real dev server.

Deadlines (one person, everyone), adding and removing participants, opening the next phase
early, reassigning a task, cancelling; and a person who leaves the company mid-cycle.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.reviews.cycles import activities as cycle_activities
from services.reviews.cycles import review_starts
from shared.database import utcnow
from shared.events import CloudEvent
from shared.settings import Settings
from shared.upward_feedback import DEADLINE_EXTENDED
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, add_person, list_tasks, reviews_events
from tests.support.http import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def _task(org: Org, task_id: str) -> dict[str, Any]:
    response = await org.reviews.get(f"/tasks/{task_id}", headers=org.hr)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()["task"]
    return found


async def _wait_task(org: Org, task_id: str, **expected: Any) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        task = await _task(org, task_id)
        return task if all(task[key] == value for key, value in expected.items()) else None

    found: dict[str, Any] = await wait_until(probe, timeout=20, message=f"{task_id} with {expected}")
    return found


async def _wait_due(org: Org, task_id: str, due: datetime) -> None:
    seen: list[str] = []

    async def probe() -> bool:
        task = await _task(org, task_id)
        seen.append(f"{task['due_at']} r{task['revision']} {task['status']}")
        return _at(task["due_at"]) == due

    try:
        await wait_until(probe, timeout=20, message=f"{task_id} due at {due}")
    except AssertionError as error:
        raise AssertionError(f"{error}; last seen {seen[-1:]}") from None


async def test_hr_actions_over_http(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=5)
        hr = org.hr
        newcomer = await add_person(reviews, hr, "newcomer", "Sales", org.manager)  # not selected by the filter
        emp = [person for person in org.people if person != org.manager]
        cycle = await org.launch()
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 6)}

        # --- deadlines: everyone's, then one person's -----------------------------------------
        everyone = (utcnow() + timedelta(days=12)).replace(microsecond=0)
        extended = await reviews.post(
            f"/review-cycles/{cycle}/deadlines",
            json={"step": "self_assessment", "new_deadline": everyone.isoformat()},
            headers=hr,
        )
        assert extended.status_code == 200, extended.text
        assert _at(extended.json()["deadline"]) == everyone
        # The cycle hands a cycle-wide extension to its reviews in the background: let it land.
        for task in selfs.values():
            await _wait_due(org, task["id"], everyone)
        one = everyone + timedelta(days=3)
        personal = await reviews.post(
            f"/review-cycles/{cycle}/deadlines",
            json={"step": "self_assessment", "new_deadline": one.isoformat(), "person_id": emp[0]},
            headers=hr,
        )
        assert personal.status_code == 200, personal.text
        await _wait_due(org, selfs[emp[0]]["id"], one)
        for person, task in selfs.items():
            if person != emp[0]:
                await _wait_due(org, task["id"], everyone)
        past = await reviews.post(
            f"/review-cycles/{cycle}/deadlines",
            json={"step": "self_assessment", "new_deadline": (utcnow() - timedelta(days=1)).isoformat()},
            headers=hr,
        )
        assert assert_problem(past, 422)["reason"] == "invalid_deadline"

        # The cycle-wide extension is told on the bus (feedback's upward pulse may follow it); the
        # personal one and the refused one are not.
        async def extensions() -> list[CloudEvent]:
            return [e for e in await reviews_events(settings) if e.type == DEADLINE_EXTENDED and e.subject == cycle]

        [told] = await wait_until(extensions, message="the cycle-wide extension on the bus")
        assert set(told.data) == {"cycle_id", "step", "deadline"}
        assert (told.data["cycle_id"], told.data["step"]) == (cycle, "self_assessment")
        assert _at(told.data["deadline"]) == everyone

        # --- add a participant, remove another --------------------------------------------------
        added = await reviews.post(f"/review-cycles/{cycle}/participants", json={"person_id": newcomer}, headers=hr)
        assert added.status_code == 200, added.text
        assert added.json()["phase"] == "self_assessment"
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 7)}
        assert selfs[newcomer]["assignee_id"] == newcomer
        again = await reviews.post(f"/review-cycles/{cycle}/participants", json={"person_id": newcomer}, headers=hr)
        assert 400 <= again.status_code < 500, again.text
        removed = await reviews.delete(f"/review-cycles/{cycle}/participants/{emp[1]}", headers=hr)
        assert removed.status_code == 200, removed.text
        await _wait_task(org, selfs[emp[1]]["id"], status="closed")
        refused = await org.submit(selfs[emp[1]])
        assert refused.status_code == 409, refused.text

        # --- two submit, then HR opens manager review early: the rest expire -------------------
        for person in (emp[2], emp[3]):
            await org.submit_ok(selfs[person])
        advanced = await reviews.post(f"/review-cycles/{cycle}/advance", json={"to": "manager_review"}, headers=hr)
        assert advanced.status_code == 200, advanced.text
        assert advanced.json()["phase"] == "manager_review"

        async def in_manager_review() -> bool:
            return bool((await org.cycle(cycle))["phase"] == "manager_review")

        await wait_until(in_manager_review, timeout=20, message="manager review opened")
        for person in (org.manager, emp[0], emp[4], newcomer):
            await _wait_task(org, selfs[person]["id"], status="expired")
        too_late = await org.submit(selfs[emp[0]])
        assert assert_problem(too_late, 409)["reason"] in ("too_late", "task_done"), too_late.text
        manager_reviews = {t["person_id"]: t for t in await org.wait_tasks(cycle, "manager_review", 6)}
        assert emp[1] not in manager_reviews

        # --- reassign a manager review: the old assignee is refused, the new one submits --------
        task = manager_reviews[emp[2]]
        assert task["assignee_id"] == org.manager
        moved = await reviews.post(f"/tasks/{task['id']}/reassign", json={"new_assignee_id": org.boss}, headers=hr)
        assert moved.status_code == 200, moved.text
        assert moved.json()["assignee_id"] == org.boss
        old = await org.submit(task)  # still addressed as the manager's
        problem = assert_problem(old, old.status_code)
        assert 400 <= old.status_code < 500, problem
        boss_inbox = await reviews.get("/tasks", params={"kind": "manager_review"}, headers=org.token(org.boss))
        ids = [t["id"] for t in boss_inbox.json()["items"]]
        assert task["id"] in ids
        await org.submit_ok({**task, "assignee_id": org.boss})
        await org.submit_ok(manager_reviews[emp[3]])

        # --- cancel: open tasks closed, a submit afterwards is refused -------------------------
        cancelled = await reviews.post(f"/review-cycles/{cycle}/cancel", json={"reason": "reorganisation"}, headers=hr)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["cancelled"] is True
        final = await org.wait_cycle(cycle, "cancelled", timeout=30)
        assert final["phase"] == "closed"

        async def nothing_open() -> bool:
            return not await list_tasks(reviews, hr, cycle, "manager_review")

        await wait_until(nothing_open, timeout=20, message="open manager reviews closed")
        leftover = manager_reviews[emp[4]]
        assert (await _task(org, leftover["id"]))["status"] == "closed"
        after = await org.submit(leftover)
        assert assert_problem(after, 409)["reason"] == "cycle_cancelled"

        async def relayed() -> list[CloudEvent] | None:
            events = await reviews_events(settings)
            return events if any(e.type == "meritloop.reviews.cycle.cancelled" for e in events) else None

        events = await wait_until(relayed, timeout=20, message="cycle.cancelled relayed")
        kinds = Counter(e.type for e in events)
        assert kinds["meritloop.reviews.task.reassigned"] == 1
        assert kinds["meritloop.reviews.cycle.cancelled"] == 1
        created = [e.data["task_id"] for e in events if e.type == "meritloop.reviews.task.created"]
        assert len(created) == len(set(created)) == 7 + 6
        closed_reviews = {e.data["person_id"]: e.data["reason"] for e in events if e.type.endswith("review.closed")}
        assert closed_reviews[emp[1]] == "removed"


async def test_person_deactivated_mid_cycle(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        org = await Org(reviews, rewards, auth).build(reports=5)
        leaver = next(person for person in org.people if person != org.manager)
        cycle = await org.launch()
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 6)}

        patched = await reviews.patch(f"/people/{leaver}", json={"active": False}, headers=org.hr)
        assert patched.status_code == 200, patched.text
        await _wait_task(org, selfs[leaver]["id"], status="closed")
        # The leaver's own token no longer works at all: access ends with employment (issue 12).
        refused = await org.submit(selfs[leaver])
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("/person-inactive")

        for person, task in selfs.items():
            if person != leaver:
                await org.submit_ok(task)
        await org.finish_from_manager_review(cycle, 5)

        async def relayed() -> list[CloudEvent] | None:
            events = await reviews_events(settings)
            kinds = Counter(e.type for e in events)
            return events if kinds["meritloop.reviews.task.completed"] >= 5 * 4 else None

        events = await wait_until(relayed, timeout=30, message="events relayed")
        closed = [e.data for e in events if e.type == "meritloop.reviews.review.closed"]
        assert [(c["person_id"], c["reason"], c["tasks_closed"]) for c in closed] == [(leaver, "participant_left", 1)]
        rated = {e.data["person_id"] for e in events if e.type == "meritloop.reviews.rating.finalized"}
        assert rated == set(org.people) - {leaver}
        created = Counter(e.data["person_id"] for e in events if e.type == "meritloop.reviews.task.created")
        assert created == {**{p: 4 for p in org.people if p != leaver}, leaver: 1}


async def test_person_deactivated_before_their_review_started(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    cycle_worker: WorkerFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bulk launch writes every first task, then starts the reviews: a leaver in between still leaves.

    The reviews' start is held until the leaver's task is closed, so the deactivation meets a
    review that does not exist yet (on a large cycle that lasts minutes).
    """
    release = asyncio.Event()
    started_reviews = review_starts.start_reviews

    async def held(*args: Any, **kwargs: Any) -> list[str]:
        await release.wait()
        return await started_reviews(*args, **kwargs)

    # The activity calls the module's name: held there, the reviews service starts none until released.
    monkeypatch.setattr(cycle_activities, "start_reviews", held)
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        org = await Org(reviews, rewards, auth).build(reports=2)
        leaver = next(person for person in org.people if person != org.manager)
        cycle = await org.launch()
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 3)}

        patched = await reviews.patch(f"/people/{leaver}", json={"active": False}, headers=org.hr)
        assert patched.status_code == 200, patched.text
        try:
            await _wait_task(org, selfs[leaver]["id"], status="closed")
        finally:
            release.set()
        for person, task in selfs.items():
            if person != leaver:
                await org.submit_ok(task)
        await org.finish_from_manager_review(cycle, 2)

        events = await reviews_events(settings)
        closed = [e.data for e in events if e.type == "meritloop.reviews.review.closed"]
        assert [(c["person_id"], c["reason"], c["tasks_closed"]) for c in closed] == [(leaver, "participant_left", 1)]
        rated = {e.data["person_id"] for e in events if e.type == "meritloop.reviews.rating.finalized"}
        assert rated == set(org.people) - {leaver}


async def test_manager_leaving_hands_their_reviews_to_the_skip_level(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    """The manager leaves during manager review; the directory still lists them as the reports' manager."""
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        org = await Org(reviews, rewards, auth).build(reports=3)
        reports = [person for person in org.people if person != org.manager]
        cycle = await org.launch()
        for task in await org.wait_tasks(cycle, "self_assessment", 4):
            await org.submit_ok(task)
        due = await org.wait_tasks(cycle, "manager_review", 4)
        theirs = [task for task in due if task["assignee_id"] == org.manager]
        assert sorted(task["person_id"] for task in theirs) == sorted(reports)
        own = next(task for task in due if task["person_id"] == org.manager)

        patched = await reviews.patch(f"/people/{org.manager}", json={"active": False}, headers=org.hr)
        assert patched.status_code == 200, patched.text
        await _wait_task(org, own["id"], status="closed")
        handed = [await _wait_task(org, task["id"], assignee_id=org.boss) for task in theirs]
        refused = await org.submit({**theirs[0], "assignee_id": org.manager})
        assert refused.status_code == 403, refused.text
        for task in handed:
            await org.submit_ok(task)

        # Later tasks about the reports go to the successor too, not to the leaver.
        await org.calibrate(cycle)
        pay_reviews = await org.wait_tasks(cycle, "pay_review", 3, timeout=90)
        assert {task["assignee_id"] for task in pay_reviews} == {org.boss}
        for task in pay_reviews:
            await org.submit_ok(task)
        # Rewards still files the proposals under the leaver (the directory says so): HR submits them.
        submitted = await rewards.post(
            f"/cycles/{cycle}/proposals/submit", params={"manager": org.manager}, headers=org.hr
        )
        assert submitted.status_code == 200, submitted.text
        approved = await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=org.hr)
        assert approved.status_code == 200, approved.text
        for task in await org.wait_tasks(cycle, "acknowledgement", 3, timeout=90):
            await org.submit_ok(task)
        await org.wait_cycle(cycle, "closed")

        participants = (await reviews.get(f"/review-cycles/{cycle}/participants", headers=org.hr)).json()["items"]
        managers = {p["person_id"]: p["manager_id"] for p in participants if p["closed_reason"] == "completed"}
        assert managers == dict.fromkeys(reports, org.boss)
        events = await reviews_events(settings)
        reassigned = [e.data for e in events if e.type == "meritloop.reviews.task.reassigned"]
        assert sorted(e["task_id"] for e in reassigned) == sorted(task["id"] for task in theirs)
