"""A real escalation: deadlines of seconds on the dev server, a task nobody completes.

The self-assessment is due four seconds after launch, the escalation policy notifies the
manager one second after the deadline and HR two seconds after it; the step stays open
(grace) for a minute, so nothing expires while the test looks.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.database import utcnow
from shared.events import CloudEvent
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, phase_deadlines, reviews_events
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

SECOND = 1 / 3600  # in hours, the unit of the cycle API


async def test_overdue_task_escalates_to_the_manager_then_hr(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=1)
        employee = next(person for person in org.people if person != org.manager)
        due = utcnow() + timedelta(seconds=4)
        cycle = await org.launch(
            deadlines=phase_deadlines(utcnow(), self_assessment=due),
            grace_hours=60 * SECOND,
            escalation=[{"after_hours": SECOND, "notify": "manager"}, {"after_hours": 2 * SECOND, "notify": "hr"}],
        )
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 2)}
        # The manager does their own self-assessment in time; the employee does not.
        await org.submit_ok(selfs[org.manager])
        task_id = selfs[employee]["id"]

        async def escalated_twice() -> dict[str, Any] | None:
            task: dict[str, Any] = (await reviews.get(f"/tasks/{task_id}", headers=org.hr)).json()["task"]
            return task if len(task["escalations"]) == 2 else None

        task = await wait_until(escalated_twice, timeout=15, interval=0.2, message="two escalations")
        assert task["status"] == "escalated"
        assert task["overdue"] is True
        first, second = task["escalations"]
        assert (first["index"], first["target"], first["notified_id"]) == (0, "manager", org.manager)
        assert (second["index"], second["target"], second["notified_id"]) == (1, "hr", str(org.hr_id))
        assert first["fell_back_to_hr"] is False

        # The manager sees it among their reports' tasks, HR among the overdue ones.
        theirs = await reviews.get(
            "/tasks", params={"scope": "reports", "cycle_id": cycle}, headers=org.token(org.manager)
        )
        assert [t["id"] for t in theirs.json()["items"]] == [task_id]
        overdue = (await reviews.get(f"/review-cycles/{cycle}/overdue", headers=org.hr)).json()
        assert [t["id"] for t in overdue["items"]] == [task_id]

        async def relayed() -> list[CloudEvent] | None:
            events = await reviews_events(settings)
            found = [e for e in events if e.type == "meritloop.reviews.task.escalated"]
            return found if len(found) == 2 else None

        events = await wait_until(relayed, timeout=10, message="task.escalated relayed")
        assert [(e.data["task_id"], e.data["target"], e.data["notified_id"]) for e in events] == [
            (task_id, "manager", org.manager),
            (task_id, "hr", str(org.hr_id)),
        ]
        assert all(e.data["status"] == "escalated" for e in events)

        # Still open for the grace period: the employee can submit late, which ends the escalation.
        await org.submit_ok(selfs[employee])
