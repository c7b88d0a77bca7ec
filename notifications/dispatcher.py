"""Sends the stored mails over SMTP, and composes due digests first.

A mail is claimed before it is sent (its next attempt pushed a lease ahead, in a committed
transaction) and marked sent after the server accepted it, so replicas never send the same
mail twice and a crash between the two can repeat one mail at most (the Message-ID is the
delivery's id, the same on each attempt, for the receiving side to recognise it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
from prometheus_client import Counter
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from notifications.htmlmail import to_html
from notifications.models import Delivery
from notifications.service import WAKE_DISPATCHER, NotificationService
from notifications.settings import NotificationSettings, SMTPSecurity
from shared.events.loop import BackgroundLoop

logger = logging.getLogger(__name__)

SEND_BATCH = 50
CLAIM_LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(hours=1)

# Each SMTP attempt's outcome: sent, retried later, or failed for good (the last attempt).
MAILS = Counter(
    "meritloop_notification_mails",
    "SMTP attempts of the notifications component, by mail kind (escalation, digest, ...) and outcome.",
    ["kind", "outcome"],
)

Send = Callable[[EmailMessage], Awaitable[object]]


def smtp_sender(settings: NotificationSettings) -> Send:
    async def send(message: EmailMessage) -> object:
        return await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            use_tls=settings.smtp_security is SMTPSecurity.tls,
            start_tls=settings.smtp_security is SMTPSecurity.starttls,
            timeout=settings.smtp_timeout,
        )

    return send


def email_message(delivery: Delivery, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = delivery.recipient
    message["Subject"] = delivery.subject
    message["Date"] = format_datetime(delivery.created_at)
    message["Message-ID"] = make_msgid(idstring=str(delivery.id), domain="meritloop")
    # Out-of-office replies must not answer a machine (RFC 3834).
    message["Auto-Submitted"] = "auto-generated"
    message["X-Meritloop-Kind"] = delivery.kind
    message.set_content(delivery.body)
    # Laid out here from the stored text rather than rendered and stored beside it: the
    # delivery log keeps the one text, and the HTML can never say anything the text does not.
    message.add_alternative(to_html(delivery.body, language=delivery.language), subtype="html")
    # After both parts are set: making the mail multipart moves every Content-* header into
    # its first part. On each part too, for a mail program that shows or forwards one alone.
    for part in (message, *message.iter_parts()):
        part["Content-Language"] = delivery.language
    return message


class Dispatcher(BackgroundLoop):
    def __init__(
        self,
        service: NotificationService,
        sessionmaker: async_sessionmaker[AsyncSession],
        send: Send,
    ) -> None:
        super().__init__()
        self.service = service
        self.settings = service.settings
        self.sessionmaker = sessionmaker
        self.send = send
        self._wake = asyncio.Event()
        self.sent = 0
        self.rounds = 0  # finished rounds: lets a test know the loop has looked since a change

    @property
    def task_name(self) -> str:
        return "notifications-dispatcher"

    def watch_commits(self) -> None:
        """Run right after a commit that queued an escalation or composed a mail, not a poll later."""

        def after_commit(session: Session) -> None:
            if session.info.pop(WAKE_DISPATCHER, False):
                self._wake.set()

        def after_soft_rollback(session: Session, _previous: object) -> None:
            session.info.pop(WAKE_DISPATCHER, None)

        session_class = self.sessionmaker.kw["sync_session_class"]
        event.listen(session_class, "after_commit", after_commit)
        event.listen(session_class, "after_soft_rollback", after_soft_rollback)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while not self.stopping:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("notification round failed; retrying")
            self.rounds += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.notifications_poll_interval)
            self._wake.clear()

    async def run_once(self) -> int:
        """Compose what is due, then send what is pending; the number of mails sent."""
        async with self.sessionmaker() as session, session.begin():
            await self.service.compose_due(session)
        sent = 0
        for delivery_id in await self._claim():
            sent += await self._send_one(delivery_id)
        return sent

    async def _claim(self) -> list[uuid.UUID]:
        now = self.service.clock()
        async with self.sessionmaker() as session, session.begin():
            rows = list(
                await session.scalars(
                    select(Delivery)
                    .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
                    .order_by(Delivery.next_attempt_at)
                    .limit(SEND_BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + CLAIM_LEASE
            return [row.id for row in rows]

    async def _send_one(self, delivery_id: uuid.UUID) -> int:
        async with self.sessionmaker() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return 0
            message = email_message(delivery, self.settings.mail_from)
            kind = delivery.kind
        try:
            await self.send(message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            outcome = await self._failed(delivery_id, exc)
            MAILS.labels(kind, outcome).inc()
            return 0
        async with self.sessionmaker() as session, session.begin():
            stored = await session.get(Delivery, delivery_id, with_for_update=True)
            if stored is not None:
                stored.status = "sent"
                stored.sent_at = self.service.clock()
                stored.last_error = None
        self.sent += 1
        MAILS.labels(kind, "sent").inc()
        return 1

    async def _failed(self, delivery_id: uuid.UUID, exc: Exception) -> str:
        """Schedule the next attempt or give up; which of the two (the metric's outcome)."""
        async with self.sessionmaker() as session, session.begin():
            stored = await session.get(Delivery, delivery_id, with_for_update=True)
            if stored is None:
                return "retried"
            stored.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if stored.attempts >= self.settings.notifications_max_attempts:
                stored.status = "failed"
                logger.error("mail %s given up after %d attempts: %s", delivery_id, stored.attempts, exc)
                return "failed"
            delay = min(timedelta(seconds=2 ** (stored.attempts - 1) * 10), MAX_BACKOFF)
            stored.next_attempt_at = self.service.clock() + delay
            logger.warning("mail %s not sent (attempt %d): %s; again in %s", delivery_id, stored.attempts, exc, delay)
            return "retried"
