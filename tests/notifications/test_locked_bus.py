"""On the locked bus (one NATS user per component, the trust table's permissions), the component
reads the feedback and rewards streams through its own durable consumers and mails from them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client

from meritloop.bus import PROVISIONER
from notifications.app import create
from notifications.database import upgrade_async
from notifications.kinds import APPROVAL_ESCALATED, CHECKIN_REMINDER
from notifications.models import Person
from notifications.settings import NotificationSettings
from shared.events import CloudEvent, service_stream
from shared.people import PERSON_UPSERTED, PersonEventData
from tests.bus.conftest import SecuredNats
from tests.notifications.conftest import Inbox
from tests.support.bus import provision
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


@pytest.fixture(scope="module")
def locked_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredNats]:
    server = SecuredNats(folder=tmp_path_factory.mktemp("notifications-locked-nats"))
    server.start()
    yield server
    server.stop()


async def publish_as(server: SecuredNats, service: str, subject: str, data: dict[str, object]) -> None:
    """Publish as the owning service's own user (it may create its stream and publish its subjects)."""
    nc: Client = await server.connect(service)
    try:
        js = nc.jetstream()
        await js.add_stream(service_stream(service))
        event = CloudEvent(source=f"/meritloop/{service}", type=subject, data=data)
        await js.publish(subject, event.to_bytes())
    finally:
        await nc.close()


@pytest.fixture
async def client(
    notification_settings: NotificationSettings, locked_nats: SecuredNats, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    own = notification_settings.model_copy(
        update={
            "nats_url": locked_nats.url,
            "nats_user": "notifications",
            "nats_password": locked_nats.passwords["notifications"],
        }
    )
    await upgrade_async(own.notifications_url)
    await provision(locked_nats.url, locked_nats.passwords[PROVISIONER])
    app = create(own, clock=lambda: datetime(2027, 1, 14, 10, 0, tzinfo=UTC))
    async with app.router.lifespan_context(app):
        await app.state.bus.wait_connected(10)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://n") as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


async def test_feedback_and_rewards_events_arrive_through_the_components_own_consumers(
    client: httpx.AsyncClient, locked_nats: SecuredNats, smtp: tuple[Inbox, int]
) -> None:
    inbox = smtp[0]
    boss, ada = uuid.uuid4(), uuid.uuid4()
    for person_id, name in ((boss, "Grace Hopper"), (ada, "Ada Lovelace")):
        person = PersonEventData(id=person_id, version=1, display_name=name, email=f"{name.split()[0]}@example.com")
        await publish_as(locked_nats, "reviews", PERSON_UPSERTED, person.model_dump(mode="json"))

    # The names come through another stream and consumer than the reminder: wait for them, or a
    # reminder handled first names nobody ("Reminder: 1:1, ...").
    async def projected() -> bool:
        async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            return all([await session.get(Person, person_id) is not None for person_id in (boss, ada)])

    await wait_until(projected, timeout=20, message="both people projected")
    checkin: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "series_id": str(uuid.uuid4()),
        "occurrence_id": str(uuid.uuid4()),
        "recurrence_id": "20270114T110000Z",
        "manager_id": str(boss),
        "report_id": str(ada),
        "starts_at": "2027-01-14T11:00:00+00:00",
    }
    await publish_as(locked_nats, "feedback", CHECKIN_REMINDER, checkin)
    step: dict[str, object] = {"chain_id": str(uuid.uuid4()), "cycle_id": str(uuid.uuid4()), "manager_id": str(ada)}
    await publish_as(
        locked_nats, "rewards", APPROVAL_ESCALATED, {**step, "step_index": 0, "round": 1, "person_id": str(boss)}
    )

    await wait_until(lambda: len(inbox.mails) >= 3, timeout=20, message="three mails through the locked bus")
    subjects = sorted(str(mail["Subject"]) for mail in inbox.mails)
    assert subjects == [
        "Overdue: Pay approval for the team of Ada Lovelace",
        "Reminder: 1:1 with Ada Lovelace, 14 Jan 2027, 11:00",  # no time zone known: UTC
        "Reminder: 1:1 with Grace Hopper, 14 Jan 2027, 11:00",
    ]
