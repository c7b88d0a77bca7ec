"""The notifications component on real NATS and a real SMTP server (aiosmtpd, in this process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError

from notifications.app import create
from notifications.database import upgrade_async
from notifications.dispatcher import Dispatcher
from notifications.settings import NotificationSettings
from shared.events import CloudEvent, service_stream
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData
from shared.settings import Settings
from tests.conftest import TEST_DATABASE_URL, _postgres_database
from tests.support.processes import free_port
from tests.support.waiting import wait_until

WEB = "https://meritloop.example"


class Clock:
    """The component's notion of now, moved by the test (digest hours, retry back-off)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance_to(self, moment: datetime) -> None:
        self.now = moment


class Inbox:
    """An SMTP server's handler that keeps what it accepted; ``refuse`` answers 451 that many times."""

    def __init__(self) -> None:
        self.mails: list[EmailMessage] = []
        self.refuse = 0
        self.refused = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            self.refused += 1
            return "451 4.3.0 try again later"
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [mail for mail in self.mails if mail["To"] == address]


def plain(mail: EmailMessage) -> str:
    """A mail's plain-text part: every mail is multipart/alternative, the text first, then HTML."""
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None, f"no text/plain part in {mail.get_content_type()}"
    text = part.get_content()
    assert isinstance(text, str)
    return text


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
async def notifications_database_url(tmp_path: Path) -> AsyncIterator[str]:
    if TEST_DATABASE_URL is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
        return
    async with _postgres_database(TEST_DATABASE_URL) as url:
        yield url


@pytest.fixture
def notification_settings(
    settings: Settings, smtp: tuple[Inbox, int], notifications_database_url: str
) -> NotificationSettings:
    return NotificationSettings(
        **settings.model_dump(),
        notifications_database_url=notifications_database_url,
        smtp_port=smtp[1],
        web_base_url=WEB,
        notifications_poll_interval=0.05,
        mail_from="Meritloop <noreply@meritloop.example>",
    )


@pytest.fixture
def clock() -> Clock:
    # A Thursday in winter: Berlin is UTC+1.
    return Clock(datetime(2027, 1, 14, 10, 0, tzinfo=UTC))


@dataclass
class Notifier:
    """The running component, its HTTP client and the test's hand on the bus."""

    app: FastAPI
    client: httpx.AsyncClient
    js: JetStreamContext
    inbox: Inbox
    clock: Clock
    versions: dict[uuid.UUID, int] = field(default_factory=dict)

    @property
    def dispatcher(self) -> Dispatcher:
        dispatcher: Dispatcher = self.app.state.dispatcher
        return dispatcher

    async def person(
        self,
        name: str,
        *,
        locale: str | None = "en-GB",
        timezone: str | None = "Europe/Berlin",
        manager_id: uuid.UUID | None = None,
        active: bool = True,
    ) -> uuid.UUID:
        person_id = uuid.uuid4()
        await self.publish_person(
            person_id, name, locale=locale, timezone=timezone, manager_id=manager_id, active=active
        )
        return person_id

    async def publish_person(self, person_id: uuid.UUID, name: str, **fields: Any) -> None:
        version = self.versions.get(person_id, 0) + 1
        self.versions[person_id] = version
        data = PersonEventData(
            id=person_id,
            version=version,
            display_name=name,
            email=f"{name.split()[0].lower()}@example.com",
            **fields,
        )
        await self.publish(PERSON_UPSERTED if data.active else PERSON_DEACTIVATED, data.model_dump(mode="json"))

    async def publish(self, subject: str, data: dict[str, Any], *, event_id: uuid.UUID | None = None) -> CloudEvent:
        # The source the publishing service would set (the consumer refuses a mismatch).
        source = f"/meritloop/{subject.split('.')[1]}"
        event = CloudEvent(source=source, type=subject, data=data, id=event_id or uuid.uuid4())
        await self.send(event)
        return event

    async def send(self, event: CloudEvent) -> None:
        # A message id of its own each time: JetStream stores a repeat, as after a relay crash
        # beyond the duplicate window, so the consumer must recognise the event itself.
        await self.js.publish(event.type, event.to_bytes(), headers={"Nats-Msg-Id": str(uuid.uuid4())})

    async def known(self, *people: uuid.UUID) -> None:
        """Wait until the projection holds these people (the directory's events arrived)."""
        from notifications.models import Person

        async def probe() -> bool:
            async with self.app.state.sessionmaker() as session:
                for person_id in people:
                    person = await session.get(Person, person_id)
                    if person is None or person.version != self.versions[person_id]:
                        return False
            return True

        await wait_until(probe, timeout=10, message="people projected")

    async def queued(self, count: int) -> None:
        """Wait until ``count`` notifications are stored (the events were consumed)."""
        from sqlalchemy import func, select

        from notifications.models import Notification

        async def probe() -> bool:
            async with self.app.state.sessionmaker() as session:
                stored: int | None = await session.scalar(select(func.count()).select_from(Notification))
            return stored == count

        await wait_until(probe, timeout=10, message=f"{count} notifications queued")

    async def settle(self, rounds: int = 3) -> None:
        """Let the dispatcher finish a few more rounds: whatever it would send by now is sent."""
        target = self.dispatcher.rounds + rounds
        await wait_until(lambda: self.dispatcher.rounds >= target, timeout=10, message="dispatcher rounds")

    async def mails(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        await wait_until(lambda: len(self.inbox.mails) >= count, timeout=timeout, message=f"{count} mail(s)")
        await self.settle()
        return list(self.inbox.mails)


@pytest.fixture
async def notifier(
    notification_settings: NotificationSettings, smtp: tuple[Inbox, int], clock: Clock, nats_url: str
) -> AsyncIterator[Notifier]:
    await upgrade_async(notification_settings.notifications_url)
    app = create(notification_settings, clock=clock)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await declare_reviews_stream(js)
        for publisher in ("feedback", "rewards"):
            await declare_stream(js, publisher)
        async with app.router.lifespan_context(app):
            await app.state.bus.wait_connected(10)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notifications") as client:
                yield Notifier(app, client, js, smtp[0], clock)
    finally:
        await nc.close()


async def declare_reviews_stream(js: JetStreamContext) -> None:
    """The test plays the reviews service, which owns (and alone may create) its stream."""
    await declare_stream(js, "reviews")


async def declare_stream(js: JetStreamContext, service: str) -> None:
    """The test plays the publishing service (reviews, feedback, rewards), which owns its stream."""
    try:
        await js.add_stream(service_stream(service))
    except BadRequestError:
        await js.update_stream(service_stream(service))


def task_data(
    task_id: str, *, step: str, person_id: uuid.UUID, assignee_id: uuid.UUID, due_at: datetime, cycle_id: uuid.UUID
) -> dict[str, Any]:
    """What ``meritloop.reviews.task.created`` carries (services/reviews/events.py: task_event_data)."""
    return {
        "task_id": task_id,
        "cycle_id": str(cycle_id),
        "person_id": str(person_id),
        "step": step,
        "assignee_id": str(assignee_id),
        "status": "open",
        "due_at": due_at.isoformat(),
        "revision": 1,
    }


DUE = datetime(2027, 1, 15, 16, 0, tzinfo=UTC)  # 17:00 in Berlin
HOUR = timedelta(hours=1)
