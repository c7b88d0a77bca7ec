"""Through every real part: the reviews service, Temporal and the workflow worker run a cycle whose
task is escalated; the notifications component mails the escalation at once and the new tasks in
the next morning's digests, from the events and the directory exactly as the reviews service
publishes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.database import utcnow
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles import conftest as cycles
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, phase_deadlines
from tests.notifications.conftest import WEB, Notifier, plain
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

# The review-cycle fixtures (Temporal settings, the workflow worker) for this module's test too.
settings = cycles.settings
cycle_worker = cycles.cycle_worker

SECOND = 1 / 3600  # in hours, the unit of the cycle API


async def test_a_real_cycle_mails_the_escalation_at_once_and_the_tasks_in_the_digest(
    notifier: Notifier, service_client: ServiceClientFactory, auth: TokenFactory, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=1)
        employee = next(person for person in org.people if person != org.manager)
        due = utcnow() + timedelta(seconds=4)
        cycle = await org.launch(
            deadlines=phase_deadlines(utcnow(), self_assessment=due),
            grace_hours=60 * SECOND,
            escalation=[{"after_hours": SECOND, "notify": "manager"}],
        )
        selfs = {t["person_id"]: t for t in await org.wait_tasks(cycle, "self_assessment", 2)}
        await org.submit_ok(selfs[org.manager])
        late = selfs[employee]["id"]

        # The escalation reaches the manager without waiting for any digest hour.
        await wait_until(lambda: notifier.inbox.to("mgr@example.com"), timeout=30, message="escalation mailed")
        [escalation] = notifier.inbox.to("mgr@example.com")
        assert escalation["Subject"] == "Overdue: Self-assessment"
        assert f"Open it: {WEB}/tasks/{late}" in plain(escalation)
        assert notifier.inbox.to("emp0@example.com") == []
        await org.submit_ok(selfs[employee])
        # Both self-assessments done: the boss reviews the manager, the manager reviews emp0.
        await org.wait_tasks(cycle, "manager_review", 2)
        await notifier.queued(5)  # two self-assessments, the escalation, two manager reviews

        # The directory gives no time zone: the digests go out at 08:00 UTC the next morning.
        notifier.clock.advance_to(datetime(2027, 1, 15, 8, 0, tzinfo=UTC))
        await wait_until(lambda: len(notifier.inbox.mails) >= 4, timeout=15, message="digests mailed")
        await notifier.settle()
        [digest] = notifier.inbox.to("emp0@example.com")
        assert digest["Subject"] == "Meritloop: 1 update(s) for you"
        assert f"New task: Self-assessment, due {due.strftime('%d %b %Y, %H:%M')} (UTC)." in plain(digest)
        assert f"{WEB}/tasks/{late}" in plain(digest)
        manager_mails = notifier.inbox.to("mgr@example.com")
        assert len(manager_mails) == 2
        # The manager's own self-assessment, and the review of the report that opened once it was submitted.
        assert "New task: Self-assessment" in plain(manager_mails[1])
        assert "New task: Manager review for emp0" in plain(manager_mails[1])
        [boss] = notifier.inbox.to("boss@example.com")
        assert "New task: Manager review for mgr" in plain(boss)
        assert len(notifier.inbox.mails) == 4
