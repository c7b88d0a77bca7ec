"""The rules: queue a notification per event, compose due ones into mails, keep preferences.

Everything here flushes and never commits: the consumer's transaction (with its inbox row)
or the request's commits it. Sending over SMTP happens elsewhere (``dispatcher.py``), after
the mail is stored, so a redelivered event or a retried send never makes a second mail.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.kinds import AT_ONCE, DIGEST_KINDS, OPTIONAL_KINDS, SOURCES, WITHDRAWALS, Kind, Withdrawal
from notifications.messages import Item, Rendered, Writer, language_of
from notifications.models import Delivery, Notification, Person, Preference
from notifications.schedule import next_digest_at, quiet_until, zone
from notifications.schemas import PreferencesIn, QuietHours
from notifications.settings import NotificationSettings
from shared.errors import ValidationFailed
from shared.events import CloudEvent

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
WAKE_DISPATCHER = "meritloop.notifications.wake"
COMPOSE_PEOPLE = 200  # people whose mails one round composes
AT_ONCE_VALUES = tuple(kind.value for kind in AT_ONCE)
# Data fields naming people a mail may mention by name (looked up in the directory copy).
NAMED = ("person_id", "requester_id", "manager_id", "report_id")


class NotificationService:
    def __init__(self, settings: NotificationSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock

    # ------------------------------------------------------------------ events

    async def handle(self, session: AsyncSession, event: CloudEvent) -> None:
        """Queue one notification per person the event names (the consumer's inbox makes it once)."""
        withdrawal = WITHDRAWALS.get(event.type)
        if withdrawal is not None:
            await self._withdraw(session, event, withdrawal)
            return
        source = SOURCES[event.type]
        recipients = _recipients(event.data, source.recipients)
        if not recipients:
            logger.warning("%s %s names nobody in %s; nothing to send", event.type, event.id, source.recipients)
            return
        for person_id in recipients:
            await self._queue(session, event, source.kind, person_id)

    async def _withdraw(self, session: AsyncSession, event: CloudEvent, withdrawal: Withdrawal) -> None:
        """Pending notifications the event makes pointless are never mailed; a mailed one stays in the log.

        Only pending rows change, so the event handled twice changes nothing more.
        """
        value = event.data.get(withdrawal.key)
        if not value:
            logger.warning("%s %s names no %s; nothing to withdraw", event.type, event.id, withdrawal.key)
            return
        await session.execute(
            update(Notification)
            .where(
                Notification.state == "pending",
                Notification.kind == withdrawal.kind.value,
                Notification.data[withdrawal.key].as_string() == str(value),
            )
            .values(state="withdrawn")
        )

    async def _queue(self, session: AsyncSession, event: CloudEvent, kind: Kind, person_id: uuid.UUID) -> None:
        exists = await session.scalar(
            select(Notification.id).where(Notification.event_id == event.id, Notification.person_id == person_id)
        )
        if exists is not None:
            return
        now = self.clock()
        data = event.data
        if kind is Kind.task_reminder:
            data = await self._with_task(session, person_id, data)
        elif kind is Kind.feedback_reminder:
            data = await self._with_request(session, person_id, data)
        preference = await session.get(Preference, person_id)
        person = await session.get(Person, person_id)
        state = "pending"
        due_at = self._due(kind, preference, now, zone(person.timezone if person else None))
        if due_at <= now:
            session.info[WAKE_DISPATCHER] = True
        if kind is not Kind.escalation and preference is not None and kind.value in preference.opted_out:
            state = "skipped"
        session.add(
            Notification(
                event_id=event.id,
                person_id=person_id,
                kind=kind.value,
                event_type=event.type,
                data=data,
                due_at=due_at,
                state=state,
            )
        )

    async def _with_request(self, session: AsyncSession, person_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        """A feedback reminder names its request only: who asked comes from the request's own notification."""
        requested = await session.scalar(
            select(Notification.data).where(
                Notification.person_id == person_id,
                Notification.kind == Kind.feedback_request.value,
                Notification.data["id"].as_string() == str(data.get("request_id")),
            )
        )
        if not requested or "requester_id" not in requested:
            return data
        return {**data, "requester_id": requested["requester_id"]}

    async def _with_task(self, session: AsyncSession, person_id: uuid.UUID, data: dict[str, Any]) -> dict[str, Any]:
        """A reminder names only its task: take the step and whose review it is from the task's own notification."""
        created = await session.scalar(
            select(Notification.data).where(
                Notification.person_id == person_id,
                Notification.kind == Kind.task_created.value,
                Notification.data["task_id"].as_string() == str(data.get("task_id")),
            )
        )
        if not created:
            return data
        return {**data, **{key: created[key] for key in ("step", "person_id", "cycle_id") if key in created}}

    def _due(self, kind: Kind, preference: Preference | None, now: datetime, tz: ZoneInfo) -> datetime:
        """When a new notification of ``kind`` goes out: now, after the quiet hours, or with the digest."""
        if not at_once(kind, preference):
            return next_digest_at(now, self.digest_hour(preference), tz)
        if kind is Kind.checkin_reminder or preference is None:
            return now  # timed to a meeting the person keeps, whatever the hour
        return quiet_until(now, preference.quiet_start, preference.quiet_end, tz) or now

    def digest_hour(self, preference: Preference | None) -> int:
        if preference is None or preference.digest_hour is None:
            return self.settings.digest_hour
        return preference.digest_hour

    # ------------------------------------------------------------------ composing mails

    async def compose_due(self, session: AsyncSession) -> int:
        """Turn due notifications into stored mails: one per escalation, one digest per person. The count."""
        now = self.clock()
        due = (Notification.state == "pending", Notification.due_at <= now)
        # People first, then all of their due rows: a digest is never split between two rounds.
        # Only people the directory copy knows: a mail without an address waits for it, and
        # never holds up the others.
        people = list(
            await session.scalars(
                select(Notification.person_id)
                .join(Person, Person.id == Notification.person_id)
                .where(*due)
                .group_by(Notification.person_id)
                .order_by(func.min(Notification.due_at))
                .limit(COMPOSE_PEOPLE)
            )
        )
        if not people:
            return 0
        rows = list(
            await session.scalars(
                select(Notification)
                .where(*due, Notification.person_id.in_(people))
                .order_by(Notification.due_at, Notification.created_at)
                .with_for_update(skip_locked=True)
            )
        )
        by_person: dict[uuid.UUID, list[Notification]] = defaultdict(list)
        for row in rows:
            by_person[row.person_id].append(row)
        composed = 0
        for person_id, items in by_person.items():
            person = await session.get(Person, person_id)
            if person is None:  # deleted meanwhile; cannot happen today, costs nothing to respect
                continue
            if not person.active:
                self._mark(items, "skipped")
                continue
            preference = await session.get(Preference, person_id)
            opted_out = set(preference.opted_out) if preference is not None else set()
            wanted = [item for item in items if item.kind == Kind.escalation or item.kind not in opted_out]
            self._mark([item for item in items if item not in wanted], "skipped")
            if not wanted:
                continue
            writer = await self._writer(session, person, wanted)
            singles = [item for item in wanted if at_once(Kind(item.kind), preference)]
            for item in singles:
                rendered = writer.single(person.display_name, _item(item))
                self._deliver(session, person, writer.language, item.kind, rendered, [item], now)
                composed += 1
            digest = [item for item in wanted if item not in singles]
            if digest:
                rendered = writer.digest(person.display_name, [_item(item) for item in digest])
                self._deliver(session, person, writer.language, "digest", rendered, digest, now)
                composed += 1
        await session.flush()
        return composed

    async def _writer(self, session: AsyncSession, person: Person, items: Sequence[Notification]) -> Writer:
        about = {
            uuid.UUID(str(item.data[field]))
            for item in items
            for field in NAMED
            if isinstance(item.data.get(field), str) and item.data[field]
        }
        names: dict[str, str] = {}
        if about:
            for other in await session.scalars(select(Person).where(Person.id.in_(about))):
                names[str(other.id)] = other.display_name
        return Writer(
            language_of(person.locale),
            zone(person.timezone),
            self.settings.web_base_url,
            names,
            recipient=str(person.id),
        )

    def _deliver(
        self,
        session: AsyncSession,
        person: Person,
        language: str,
        kind: str,
        rendered: Rendered,
        items: Sequence[Notification],
        now: datetime,
    ) -> None:
        delivery = Delivery(
            id=uuid.uuid4(),
            person_id=person.id,
            kind=kind,
            recipient=person.email,
            language=language,
            subject=rendered.subject,
            body=rendered.body,
            status="pending",
            attempts=0,
            next_attempt_at=now,
        )
        session.add(delivery)
        for item in items:
            item.state = "mailed"
            item.delivery_id = delivery.id
        session.info[WAKE_DISPATCHER] = True

    @staticmethod
    def _mark(items: Sequence[Notification], state: str) -> None:
        for item in items:
            item.state = state

    # ------------------------------------------------------------------ preferences

    async def preferences(self, session: AsyncSession, person_id: uuid.UUID) -> Preference:
        preference = await session.get(Preference, person_id)
        if preference is None:
            return Preference(person_id=person_id, digest_hour=None, opted_out=[], at_once=[])
        return preference

    async def set_preferences(self, session: AsyncSession, person_id: uuid.UUID, chosen: PreferencesIn) -> Preference:
        opted_out = sorted(set(chosen.opted_out))
        for index, kind in enumerate(chosen.opted_out):
            if kind == Kind.escalation:
                raise ValidationFailed.field(f"opted_out.{index}", "escalations are always sent")
            if kind not in OPTIONAL_KINDS:
                allowed = ", ".join(OPTIONAL_KINDS)
                raise ValidationFailed.field(f"opted_out.{index}", f"unknown kind {kind!r}; one of {allowed}")
        for index, kind in enumerate(chosen.at_once):
            if kind in AT_ONCE:
                raise ValidationFailed.field(f"at_once.{index}", f"{kind} is always mailed at once")
            if kind not in DIGEST_KINDS:
                allowed = ", ".join(DIGEST_KINDS)
                raise ValidationFailed.field(f"at_once.{index}", f"unknown kind {kind!r}; one of {allowed}")
            if kind in opted_out:
                raise ValidationFailed.field(f"at_once.{index}", f"{kind} is opted out of: it is not mailed at all")
        preference = await session.get(Preference, person_id, with_for_update=True)
        if preference is None:
            preference = Preference(person_id=person_id)
            session.add(preference)
        preference.digest_hour = chosen.digest_hour
        preference.opted_out = opted_out
        preference.at_once = sorted(set(chosen.at_once))
        quiet = chosen.quiet_hours
        preference.quiet_start, preference.quiet_end = (quiet.start, quiet.end) if quiet else (None, None)
        await session.flush()
        await self._reschedule(session, preference)
        return preference

    async def release_digests(self, session: AsyncSession) -> int:
        """Development aid: every waiting digest item falls due now instead of at its hour."""
        result = await session.execute(
            update(Notification)
            .where(Notification.state == "pending", Notification.kind.not_in(AT_ONCE_VALUES))
            .values(due_at=self.clock())
        )
        session.info[WAKE_DISPATCHER] = True
        return int(getattr(result, "rowcount", 0) or 0)

    async def _reschedule(self, session: AsyncSession, preference: Preference) -> None:
        """Waiting items follow the new choices: digest kinds to the chosen hour; kinds now wanted at
        once, and escalations held by the quiet hours, to now or to the end of the new quiet hours.
        1:1 reminders keep their time."""
        person = await session.get(Person, preference.person_id)
        tz = zone(person.timezone if person else None)
        now = self.clock()
        chosen = list(preference.at_once or [])
        waiting = (Notification.person_id == preference.person_id, Notification.state == "pending")
        await session.execute(
            update(Notification)
            .where(*waiting, Notification.kind.not_in([*AT_ONCE_VALUES, *chosen]))
            .values(due_at=next_digest_at(now, self.digest_hour(preference), tz))
        )
        due_at = quiet_until(now, preference.quiet_start, preference.quiet_end, tz) or now
        held = (Notification.kind == Kind.escalation.value) & (Notification.due_at > now)
        await session.execute(
            update(Notification).where(*waiting, Notification.kind.in_(chosen) | held).values(due_at=due_at)
        )
        if due_at <= now:
            session.info[WAKE_DISPATCHER] = True


def at_once(kind: Kind, preference: Preference | None) -> bool:
    """Mailed one by one: by its nature (escalations, 1:1 reminders) or by the person's choice."""
    return kind in AT_ONCE or (preference is not None and kind.value in (preference.at_once or []))


def quiet_hours_of(preference: Preference) -> QuietHours | None:
    if preference.quiet_start is None or preference.quiet_end is None:
        return None
    return QuietHours(start=preference.quiet_start, end=preference.quiet_end)


def _recipients(data: dict[str, Any], fields: Sequence[str]) -> list[uuid.UUID]:
    """The people the event's fields name, each once, in order."""
    found: list[uuid.UUID] = []
    for field in fields:
        raw = data.get(field)
        for value in raw if isinstance(raw, list) else [raw]:
            if not value:
                continue
            person_id = uuid.UUID(str(value))
            if person_id not in found:
                found.append(person_id)
    return found


def _item(row: Notification) -> Item:
    return Item(kind=Kind(row.kind), event_type=row.event_type, data=row.data)
