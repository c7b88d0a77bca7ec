"""The development mail sink `up` runs, and the page that lists what it received."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import select

from notifications.app import create
from notifications.database import upgrade_async
from notifications.kinds import TASK_CREATED, TASK_ESCALATED
from notifications.models import Notification
from notifications.settings import NotificationSettings
from notifications.sink import mail_sink_argv, prepare_maildir
from shared.events import CloudEvent
from shared.people import PERSON_UPSERTED, PersonEventData
from shared.settings import Environment
from tests.notifications.conftest import Clock, declare_reviews_stream
from tests.support.processes import free_port, stop_process, wait_for_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@pytest.fixture
def sink_settings(notification_settings: NotificationSettings, tmp_path: Path) -> Iterator[NotificationSettings]:
    settings = notification_settings.model_copy(
        update={"smtp_port": free_port(), "mail_sink_dir": tmp_path / "mail", "environment": Environment.development}
    )
    # As `up` leaves it: the folder may exist already (a data folder from before), empty.
    settings.mail_folder.mkdir()
    prepare_maildir(settings.mail_folder)
    process = subprocess.Popen(
        mail_sink_argv(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        wait_for_port(settings.smtp_port, process=process)
        yield settings
    finally:
        stop_process(process)


async def test_the_sink_keeps_mails_and_the_page_lists_them(sink_settings: NotificationSettings, clock: Clock) -> None:
    await upgrade_async(sink_settings.notifications_url)
    app = create(sink_settings, clock=clock)
    boss = uuid.uuid4()
    person = PersonEventData(id=boss, version=1, display_name="Grace <Hopper>", email="grace@example.com")
    data = {
        "task_id": "t1",
        "step": "manager_review",
        "person_id": str(uuid.uuid4()),
        "due_at": "2027-01-15T16:00:00+00:00",
    }
    escalated = {**data, "notified_id": str(boss), "cycle_id": str(uuid.uuid4())}
    nc = await nats.connect(sink_settings.nats_url)
    try:
        await declare_reviews_stream(nc.jetstream())
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
                empty = await client.get("/dev/mails")
                assert empty.status_code == 200
                assert "No mail has arrived" in empty.text
                await app.state.bus.wait_connected(10)
                js = nc.jetstream()
                for subject, payload in (
                    (PERSON_UPSERTED, person.model_dump(mode="json")),
                    (TASK_ESCALATED, escalated),
                ):
                    event = CloudEvent(source="/meritloop/reviews", type=subject, data=payload)
                    await js.publish(event.type, event.to_bytes())

                async def listed() -> str | None:
                    page = await client.get("/dev/mails")
                    return page.text if "Overdue: Manager review" in page.text else None

                page = await wait_until(listed, timeout=15, message="mail listed")
                assert "grace@example.com" in page
                assert "1 mail(s) received" in page
                key = page.split('href="mails/')[1].split('"')[0]
                mail = await client.get(f"/dev/mails/{key}")
                assert mail.status_code == 200
                assert "Hello Grace &lt;Hopper&gt;," in mail.text  # escaped, never raw HTML
                assert "https://meritloop.example/tasks/t1" in mail.text
                assert (await client.get("/dev/mails/nothing-here")).status_code == 404

                # A task waits for the digest hour; the page's button sends the waiting digests now.
                created = {**data, "assignee_id": str(boss), "cycle_id": str(uuid.uuid4()), "task_id": "t2"}
                event = CloudEvent(source="/meritloop/reviews", type=TASK_CREATED, data=created)
                await js.publish(event.type, event.to_bytes())

                async def queued() -> bool:
                    async with app.state.sessionmaker() as session:
                        found = await session.scalar(select(Notification.id).where(Notification.kind == "task_created"))
                        return found is not None

                await wait_until(queued, timeout=10, message="task queued")
                assert "update(s) for you" not in (await client.get("/dev/mails")).text
                sent = await client.post("/dev/mails/send-digests")
                assert sent.status_code == 303
                assert sent.headers["location"].endswith("/dev/mails")

                async def digest_listed() -> bool:
                    return "Meritloop: 1 update(s) for you" in (await client.get("/dev/mails")).text

                await wait_until(digest_listed, timeout=15, message="digest listed")
    finally:
        await nc.close()


@pytest.mark.parametrize("environment", [Environment.production, Environment.test])
async def test_no_mail_page_outside_development(
    notification_settings: NotificationSettings, environment: Environment
) -> None:
    settings = notification_settings.model_copy(update={"environment": environment})
    app = create(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
        assert (await client.get("/dev/mails")).status_code == 404
        assert (await client.post("/dev/mails/send-digests")).status_code in (404, 405)
    await app.state.engine.dispose()
