"""Check-in rules: who may do what to a series, its occurrences, agenda, actions and notes, and to HR's
agenda templates.

Flushes, never commits; every change that others may react to writes a ``checkin.*`` event
(ids only) through the feedback outbox in the same transaction.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from dateutil.rrule import rrule
from sqlalchemy.ext.asyncio import AsyncSession

from services.feedback.checkins import calendar, rules
from services.feedback.checkins.calendar import SeriesEvent
from services.feedback.checkins.events import (
    ActionAssignedData,
    OccurrenceEventData,
    ReminderDueData,
    SeriesEndedData,
    SeriesEventData,
    SeriesTransferredData,
    occurrence_id,
    reminder_event_id,
)
from services.feedback.checkins.models import ACTIVE, ENDED, MOVED, SCHEDULED, SKIPPED
from services.feedback.checkins.repository import CheckinRepository
from services.feedback.checkins.schemas import (
    ActionCreate,
    ActionRead,
    ActionUpdate,
    AgendaCreate,
    AgendaPage,
    AgendaRead,
    AgendaTemplateCreate,
    AgendaTemplateRead,
    AgendaTemplateUpdate,
    AgendaUpdate,
    CalendarFeedCreated,
    CalendarFeedRead,
    NoteCreate,
    NoteRead,
    OccurrenceMove,
    OccurrenceRead,
    SeriesCreate,
    SeriesRead,
    SeriesUpdate,
)
from services.feedback.crypto import DecryptionFailed, KeyUnavailable
from services.feedback.events import outbox, people
from services.feedback.keyring import Keyring, Sealed
from services.feedback.models import (
    CheckinActionItem,
    CheckinAgendaItem,
    CheckinAgendaTemplate,
    CheckinNote,
    CheckinOccurrence,
    CheckinSeries,
)
from services.feedback.repository import AgendaTemplateRepository
from services.feedback.service import CatalogueService
from shared.auth import Principal
from shared.database import add_unique, utcnow
from shared.errors import Conflict, Forbidden, NotFound, ValidationFailed
from shared.people import PersonEventData

NOTE, AGENDA, ACTION = "checkin-note", "checkin-agenda", "checkin-action"
# How far one occurrence list may reach: a year of a daily series is still a small page set.
MAX_WINDOW = timedelta(days=366)
# Bounds every walk along a rule (a daily series for almost three years).
MAX_STEPS = 1000
DEFAULT_WINDOW = timedelta(days=90)
# A subscription's secret: 32 random bytes (43 characters); anything longer is no address of ours.
FEED_TOKEN_BYTES = 32
FEED_TOKEN_MAX = 100
FEED_SERIES = 500  # a manager's series, newest first: far more than anyone holds
FEED_NAME = "Meritloop 1:1s"
FEED_REFRESH = timedelta(hours=1)
Row = TypeVar("Row", CheckinSeries, CheckinAgendaTemplate)


@dataclass(frozen=True)
class Occurrence:
    original_start: datetime
    starts_at: datetime
    ends_at: datetime
    status: str
    row: CheckinOccurrence | None

    @property
    def recurrence_id(self) -> str:
        return rules.recurrence_id(self.original_start)

    def read(self) -> OccurrenceRead:
        return OccurrenceRead(
            recurrence_id=self.recurrence_id,
            original_start=self.original_start,
            starts_at=self.starts_at,
            ends_at=self.ends_at,
            status=self.status,
        )


def note_seal(note: CheckinNote) -> Sealed:
    # Bound to the author and the series: a note moved onto another row or author fails to open.
    return Sealed(NOTE, note.id, note.author_id, note.series_id)


def series_rule(series: CheckinSeries) -> rrule:
    return rules.parse_rule(series.rrule, series.first_start, series.timezone)


class Schedule:
    """A series' occurrences: the rule's starts with the stored exceptions applied."""

    def __init__(self, series: CheckinSeries, overrides: dict[datetime, CheckinOccurrence]) -> None:
        self.series = series
        self.zone = rules.zone(series.timezone)
        self.rule = series_rule(series)
        self.overrides = overrides
        self.length = timedelta(minutes=series.duration_minutes)

    def at(self, original_start: datetime) -> Occurrence:
        row = self.overrides.get(original_start)
        starts_at = row.starts_at if row is not None else original_start
        status = row.status if row is not None else SCHEDULED
        return Occurrence(original_start, starts_at, starts_at + self.length, status, row)

    def _original_before(self, moment: datetime) -> datetime | None:
        found = self.rule.before(moment.astimezone(self.zone))
        return rules.to_utc(found) if found is not None else None

    def iter_from(self, moment: datetime) -> Iterator[Occurrence]:
        """Occurrences from the one whose original start is just before ``moment`` on, in order.

        One back suffices: a move stays between its neighbours' original starts.
        """
        original = self._original_before(moment) or rules.next_start(self.rule, moment, inclusive=True)
        for _ in range(MAX_STEPS):
            if original is None:
                return
            if self.series.status == ENDED and self.series.ended_at is not None and original >= self.series.ended_at:
                return
            yield self.at(original)
            original = rules.next_start(self.rule, original)

    def between(self, start: datetime, end: datetime) -> list[Occurrence]:
        """Occurrences whose (possibly moved) start lies in ``[start, end)``; none after the series ended."""
        found: list[Occurrence] = []
        for occurrence in self.iter_from(start):
            if occurrence.original_start >= end and occurrence.starts_at >= end:
                break
            if start <= occurrence.starts_at < end:
                found.append(occurrence)
        return found

    def upcoming(self, now: datetime, *, include_skipped: bool = False) -> Occurrence | None:
        """The next occurrence not over yet (skipped ones passed over unless asked for)."""
        if self.series.status == ENDED:
            return None
        for occurrence in self.iter_from(now - self.length):
            if occurrence.ends_at > now and (include_skipped or occurrence.status != SKIPPED):
                return occurrence
        return None

    def after(self, original_start: datetime) -> Occurrence | None:
        """The first non-skipped occurrence after this one."""
        for occurrence in self.iter_from(original_start):
            if occurrence.original_start > original_start and occurrence.status != SKIPPED:
                return occurrence
        return None

    def neighbours(self, original_start: datetime) -> tuple[datetime | None, datetime | None]:
        return self._original_before(original_start), rules.next_start(self.rule, original_start)


def feed_digest(token: str) -> str:
    # A plain hash suffices: the secret is 256 random bits, nothing to guess a dictionary for.
    return hashlib.sha256(token.encode()).hexdigest()


async def active_caller(session: AsyncSession, principal: Principal) -> None:
    person = await people.get(session, principal.person_id)
    if person is None or not person.active:
        raise Forbidden("Only active people of the directory hold check-ins.")


def agenda_seal(item: CheckinAgendaItem) -> Sealed:
    return Sealed(AGENDA, item.id, item.author_id, item.series_id)


def _participant_owner(series: CheckinSeries, owner_id: uuid.UUID) -> uuid.UUID:
    if owner_id not in (series.manager_id, series.report_id):
        raise ValidationFailed.field("owner_id", "the owner is the manager or the report of the series")
    return owner_id


def action_seal(item: CheckinActionItem) -> Sealed:
    return Sealed(ACTION, item.id, item.author_id, item.series_id)


def agenda_read(item: CheckinAgendaItem, text: str | None) -> AgendaRead:
    return AgendaRead(
        id=item.id,
        series_id=item.series_id,
        recurrence_id=rules.recurrence_id(item.occurrence_start),
        author_id=item.author_id,
        text=text,
        covered=item.covered_at is not None,
        added_for=rules.recurrence_id(item.added_for),
        carry_count=item.carry_count,
        created_at=item.created_at,
    )


def action_read(item: CheckinActionItem, title: str | None) -> ActionRead:
    return ActionRead(
        id=item.id,
        series_id=item.series_id,
        recurrence_id=rules.recurrence_id(item.occurrence_start),
        author_id=item.author_id,
        owner_id=item.owner_id,
        title=title,
        due_on=item.due_on,
        done=item.done_at is not None,
        created_at=item.created_at,
    )


def distinct_prompts(prompts: list[str]) -> list[str]:
    """The prompts as given, none twice (in any case): a repeated one is named by its position."""
    seen: set[str] = set()
    for position, prompt in enumerate(prompts):
        if prompt.casefold() in seen:
            raise ValidationFailed.field(f"prompts.{position}", "this prompt is in the list already")
        seen.add(prompt.casefold())
    return prompts


class AgendaTemplateService(CatalogueService[CheckinAgendaTemplate]):
    """HR's agenda templates: HR writes them for everyone, anyone signed in reads them, a series uses one.

    Archived, never deleted: a series that uses one keeps showing its prompts."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(
            session, AgendaTemplateRepository.from_session(session), "agenda template", "agenda_template_id"
        )

    async def listed(self, *, include_archived: bool, limit: int, offset: int) -> tuple[list[AgendaTemplateRead], int]:
        rows, total = await self.entries.list(include_archived=include_archived, limit=limit, offset=offset)
        return [AgendaTemplateRead.model_validate(row) for row in rows], total

    async def read(self, template_id: uuid.UUID) -> AgendaTemplateRead:
        return AgendaTemplateRead.model_validate(await self.get(template_id))

    async def create(self, data: AgendaTemplateCreate) -> AgendaTemplateRead:
        prompts = distinct_prompts(data.prompts)
        await self._unique(data.name)
        template = CheckinAgendaTemplate(id=uuid.uuid4(), name=data.name, prompts=prompts, archived=False)
        return AgendaTemplateRead.model_validate(await self._save(template))

    async def update(self, template_id: uuid.UUID, data: AgendaTemplateUpdate) -> AgendaTemplateRead:
        template = await self.get(template_id)
        prompts = distinct_prompts(data.prompts) if data.prompts is not None else None
        await self._rename(template, data.name, data.archived)
        if prompts is not None:
            template.prompts = prompts
        return AgendaTemplateRead.model_validate(await self._save(template))

    async def prompts(self, template_id: uuid.UUID | None) -> list[str]:
        template = await self.entries.get(template_id) if template_id is not None else None
        return list(template.prompts) if template is not None else []


class CheckinService:
    def __init__(self, session: AsyncSession, keyring: Keyring | None = None) -> None:
        self.session = session
        self._keyring = keyring
        self.repo = CheckinRepository.from_session(session)
        self.templates = AgendaTemplateService(session)

    @property
    def keyring(self) -> Keyring:
        assert self._keyring is not None, "note routes need the keyring"
        return self._keyring

    async def schedule(self, series: CheckinSeries) -> Schedule:
        return Schedule(series, await self.repo.occurrences(series.id))

    async def read(self, series: CheckinSeries, now: datetime | None = None) -> SeriesRead:
        upcoming = (await self.schedule(series)).upcoming(now or utcnow())
        return SeriesRead(
            id=series.id,
            manager_id=series.manager_id,
            report_id=series.report_id,
            rrule=series.rrule,
            first_start=series.first_start,
            timezone=series.timezone,
            duration_minutes=series.duration_minutes,
            reminder_minutes=series.reminder_minutes,
            status=series.status,
            ended_at=series.ended_at,
            end_reason=series.end_reason,
            next_occurrence=upcoming.read() if upcoming is not None else None,
            agenda_template_id=series.agenda_template_id,
            created_at=series.created_at,
        )

    # --- access --------------------------------------------------------------------------------

    async def _series(self, series_id: uuid.UUID, principal: Principal, *, for_update: bool = False) -> CheckinSeries:
        """The series if the caller is one of its two people; the same 404 for anyone else."""
        await active_caller(self.session, principal)
        series = await self.repo.series(series_id, for_update=for_update)
        if series is None or principal.person_id not in (series.manager_id, series.report_id):
            raise NotFound(f"No check-in series {series_id} of yours.")
        return series

    async def _writable(self, series_id: uuid.UUID, principal: Principal) -> CheckinSeries:
        series = await self._series(series_id, principal, for_update=True)
        if series.status != ACTIVE:
            raise Conflict("This check-in series has ended.")
        return series

    async def _occurrence(self, schedule: Schedule, recurrence_id: str) -> Occurrence:
        try:
            original = rules.parse_recurrence_id(recurrence_id)
        except rules.RuleError as exc:
            raise ValidationFailed(str(exc), [{"field": "recurrence_id", "in": "path", "message": str(exc)}]) from exc
        if not rules.is_start(schedule.rule, original) or (
            schedule.series.status == ENDED
            and schedule.series.ended_at is not None
            and original >= schedule.series.ended_at
        ):
            raise NotFound(f"The series has no occurrence {recurrence_id}.")
        return schedule.at(original)

    # --- series --------------------------------------------------------------------------------

    async def create(self, data: SeriesCreate, principal: Principal) -> SeriesRead:
        await active_caller(self.session, principal)
        report = await people.get(self.session, data.report_id)
        if report is None or not report.active:
            raise ValidationFailed.field("report_id", "no active person with this id")
        if report.manager_id is None:
            raise ValidationFailed.field("report_id", "this person has no manager in the directory")
        if principal.person_id not in (report.manager_id, report.id):
            # Only the two people themselves set up their 1:1; the skip-level, HR and admins do not.
            raise Forbidden("A check-in series is set up by the report's manager or the report.")
        manager = await people.get(self.session, report.manager_id)
        if manager is None or not manager.active:
            raise Conflict("The report's manager is not active.")
        timezone = data.timezone or manager.timezone or report.timezone or rules.DEFAULT_TIMEZONE
        try:
            rules.zone(timezone)
        except rules.RuleError as exc:
            raise ValidationFailed.field("timezone", str(exc)) from exc
        first_start = rules.to_utc(rules.localise(data.starts_at, timezone))
        if first_start > utcnow() + rules.MAX_LEAD:
            raise ValidationFailed.field("starts_at", "at most two years ahead")
        try:
            rule = rules.parse_rule(data.rrule, first_start, timezone)
        except rules.RuleError as exc:
            raise ValidationFailed.field("rrule", str(exc)) from exc
        first = rules.next_start(rule, first_start, inclusive=True)
        length = timedelta(minutes=data.duration_minutes)
        if first is None or rules.next_start(rule, utcnow() - length) is None:
            raise ValidationFailed.field("starts_at", "the series must have a meeting that is not over yet")
        await self.templates.current(data.agenda_template_id)
        held = "These two people hold a check-in series already: end it first."
        if await self.repo.active_between(manager.id, report.id) is not None:
            raise Conflict(held)
        series = await add_unique(
            self.session,
            CheckinSeries(
                manager_id=manager.id,
                report_id=report.id,
                rrule=rules.rule_value(data.rrule),
                first_start=first,
                timezone=timezone,
                duration_minutes=data.duration_minutes,
                reminder_minutes=data.reminder_minutes,
                status=ACTIVE,
                report_version=report.version,
                agenda_template_id=data.agenda_template_id,
            ),
            held,
        )
        await self._plan_reminder(series)
        started = SeriesEventData(id=series.id, manager_id=series.manager_id, report_id=series.report_id)
        outbox.add(self.session, "checkin", "series-started", started.model_dump(mode="json"), subject=str(series.id))
        return await self.read(series)

    async def mine(
        self, principal: Principal, *, status: str | None, limit: int, offset: int
    ) -> tuple[list[SeriesRead], int]:
        await active_caller(self.session, principal)
        rows, total = await self.repo.series_of(principal.person_id, status=status, limit=limit, offset=offset)
        now = utcnow()
        return [await self.read(row, now) for row in rows], total

    async def get(self, series_id: uuid.UUID, principal: Principal) -> SeriesRead:
        return await self.read(await self._series(series_id, principal))

    async def update(self, series_id: uuid.UUID, data: SeriesUpdate, principal: Principal) -> SeriesRead:
        """Either participant chooses the series' agenda template, or none."""
        series = await self._writable(series_id, principal)
        # Keeping the template the series has is no choice: allowed even once HR archived it.
        if "agenda_template_id" in data.model_fields_set and data.agenda_template_id != series.agenda_template_id:
            await self.templates.current(data.agenda_template_id)
            series.agenda_template_id = data.agenda_template_id
            await self.session.flush()
        return await self.read(series)

    async def calendar(self, series_id: uuid.UUID, principal: Principal, now: datetime | None = None) -> str:
        """The series as an iCalendar file for either participant (no agenda, note or action in it)."""
        series = await self._series(series_id, principal)
        return calendar.calendar_file([await self._calendar_event(series)], now=now or utcnow())

    async def _calendar_event(self, series: CheckinSeries) -> SeriesEvent:
        names = []
        for person_id in (series.manager_id, series.report_id):
            person = await people.get(self.session, person_id)
            names.append(person.display_name if person is not None else str(person_id)[:8])
        overrides = {
            original: calendar.Override(original, row.status == SKIPPED, row.starts_at)
            for original, row in (await self.repo.occurrences(series.id)).items()
            if row.status in (SKIPPED, MOVED)
        }
        data = calendar.SeriesInput(
            id=str(series.id),
            rrule=series.rrule,
            first_start=series.first_start,
            timezone=series.timezone,
            duration_minutes=series.duration_minutes,
            ended_at=series.ended_at,
        )
        return SeriesEvent(data, overrides, f"1:1: {names[0]} and {names[1]}")

    # --- a calendar subscription: every series of one person, at an address with a secret ---------

    async def feed(self, principal: Principal) -> CalendarFeedRead:
        await active_caller(self.session, principal)
        row = await self.repo.feed_of(principal.person_id)
        return CalendarFeedRead(active=row is not None, created_at=row.created_at if row is not None else None)

    async def new_feed(self, principal: Principal) -> CalendarFeedCreated:
        """A new address for the caller; the one before stops working at once."""
        await active_caller(self.session, principal)
        token, now = secrets.token_urlsafe(FEED_TOKEN_BYTES), utcnow()
        await self.repo.put_feed(principal.person_id, feed_digest(token), now)
        return CalendarFeedCreated(token=token, created_at=now)

    async def drop_feed(self, principal: Principal) -> None:
        await active_caller(self.session, principal)
        await self.repo.drop_feed(principal.person_id)

    async def feed_calendar(self, token: str, now: datetime | None = None) -> str:
        """The subscription's calendar: the same 404 for an unknown, replaced or malformed secret and for
        a person no longer active, so the answer tells a guesser nothing."""
        row = await self.repo.feed_by_digest(feed_digest(token)) if len(token) <= FEED_TOKEN_MAX else None
        person = await people.get(self.session, row.person_id) if row is not None else None
        if row is None or person is None or not person.active:
            raise NotFound("No such calendar.")
        held = await self.repo.all_of(row.person_id, limit=FEED_SERIES)
        events = [await self._calendar_event(series) for series in held]
        return calendar.calendar_file(events, now=now or utcnow(), name=FEED_NAME, refresh=FEED_REFRESH)

    async def end(self, series_id: uuid.UUID, principal: Principal) -> SeriesRead:
        series = await self._writable(series_id, principal)
        await self._end(series, "ended")
        return await self.read(series)

    async def _end(self, series: CheckinSeries, reason: str) -> None:
        series.status, series.ended_at, series.end_reason = ENDED, utcnow(), reason
        series.remind_at = series.remind_start = None
        await self.session.flush()
        data = SeriesEndedData(id=series.id, manager_id=series.manager_id, report_id=series.report_id, reason=reason)
        outbox.add(self.session, "checkin", "series-ended", data.model_dump(mode="json"), subject=str(series.id))

    async def occurrences(
        self,
        series_id: uuid.UUID,
        principal: Principal,
        *,
        start: datetime | None,
        end: datetime | None,
        limit: int,
        offset: int,
    ) -> tuple[list[OccurrenceRead], int]:
        series = await self._series(series_id, principal)
        start = rules.to_utc(rules.localise(start, series.timezone)) if start is not None else utcnow()
        end = rules.to_utc(rules.localise(end, series.timezone)) if end is not None else start + DEFAULT_WINDOW
        if end <= start:
            raise ValidationFailed(
                "to must be after from", [{"field": "to", "in": "query", "message": "not after from"}]
            )
        if end - start > MAX_WINDOW:
            raise ValidationFailed(
                "at most 366 days at once", [{"field": "to", "in": "query", "message": "at most 366 days after from"}]
            )
        found = (await self.schedule(series)).between(start, end)
        return [item.read() for item in found[offset : offset + limit]], len(found)

    # --- one occurrence: skip, move ------------------------------------------------------------

    async def _future(
        self, series_id: uuid.UUID, recurrence_id: str, principal: Principal
    ) -> tuple[Schedule, Occurrence]:
        series = await self._writable(series_id, principal)
        schedule = await self.schedule(series)
        occurrence = await self._occurrence(schedule, recurrence_id)
        if occurrence.starts_at <= utcnow():
            raise Conflict("This occurrence has started or is over.")
        return schedule, occurrence

    async def _override(self, schedule: Schedule, occurrence: Occurrence) -> CheckinOccurrence:
        if occurrence.row is not None:
            return occurrence.row
        row = await self.repo.add(
            CheckinOccurrence(
                id=occurrence_id(schedule.series.id, occurrence.recurrence_id),
                series_id=schedule.series.id,
                original_start=occurrence.original_start,
                starts_at=occurrence.starts_at,
                status=SCHEDULED,
            )
        )
        schedule.overrides[row.original_start] = row
        return row

    async def skip(self, series_id: uuid.UUID, recurrence_id: str, principal: Principal) -> OccurrenceRead:
        schedule, occurrence = await self._future(series_id, recurrence_id, principal)
        if occurrence.status == SKIPPED:
            raise Conflict("This occurrence is skipped already.")
        row = await self._override(schedule, occurrence)
        row.status = SKIPPED
        await self.session.flush()
        await self._carry(schedule)
        await self._plan_reminder(schedule.series, schedule)
        self._announce_occurrence(schedule, row, "occurrence-skipped")
        return schedule.at(row.original_start).read()

    async def move(
        self, series_id: uuid.UUID, recurrence_id: str, data: OccurrenceMove, principal: Principal
    ) -> OccurrenceRead:
        schedule, occurrence = await self._future(series_id, recurrence_id, principal)
        if occurrence.status == SKIPPED:
            raise Conflict("This occurrence is skipped.")
        new_start = rules.to_utc(rules.localise(data.starts_at, schedule.series.timezone))
        previous, following = schedule.neighbours(occurrence.original_start)
        # Kept between its neighbours so the series' order (and what "next meeting" means) holds.
        if (
            new_start <= utcnow()
            or (previous is not None and new_start <= previous)
            or (following is not None and new_start >= following)
        ):
            raise ValidationFailed.field(
                "starts_at", "must be in the future and between the previous and the next occurrence"
            )
        if new_start > utcnow() + rules.MAX_LEAD:
            raise ValidationFailed.field("starts_at", "at most two years ahead")
        row = await self._override(schedule, occurrence)
        row.starts_at = new_start
        row.status = MOVED if new_start != row.original_start else SCHEDULED
        # A reminder for the old time says nothing about the new one.
        row.reminded_at = None
        await self.session.flush()
        await self._plan_reminder(schedule.series, schedule)
        self._announce_occurrence(schedule, row, "occurrence-moved")
        return schedule.at(row.original_start).read()

    def _announce_occurrence(self, schedule: Schedule, row: CheckinOccurrence, verb: str) -> None:
        data = OccurrenceEventData(
            id=row.id,
            series_id=row.series_id,
            recurrence_id=rules.recurrence_id(row.original_start),
            starts_at=row.starts_at,
        ).model_dump(mode="json")
        if verb == "occurrence-skipped":
            outbox.add(self.session, "checkin", "occurrence-skipped", data, subject=str(row.series_id))
        else:
            outbox.add(self.session, "checkin", "occurrence-moved", data, subject=str(row.series_id))

    # --- shared content: sealed for the two participants ---------------------------------------

    async def _seal_shared(self, sealed: Sealed, series: CheckinSeries, text: str) -> bytes:
        try:
            return await self.keyring.seal(sealed, text, (series.manager_id, series.report_id))
        except KeyUnavailable as exc:
            raise Conflict("A participant's feedback keys were erased: nothing new can be shared with them.") from exc

    async def _open_shared(
        self, series: CheckinSeries, objects: list[tuple[Sealed, bytes]], principal: Principal
    ) -> dict[uuid.UUID, str | None]:
        """Decrypt for the caller, a participant. A manager the series passed to holds no key to
        what was written before; they get one through the other participant's key on first read."""
        if not objects:
            return {}
        me = principal.person_id
        missing = await self.repo.without_key([sealed.object_id for sealed, _ in objects], me)
        other = series.report_id if me == series.manager_id else series.manager_id
        for sealed, _ in objects:
            if sealed.object_id in missing:
                with suppress(KeyUnavailable, DecryptionFailed):
                    await self.keyring.grant(sealed, other, me)
        try:
            return await self.keyring.open_many(objects, me)
        except DecryptionFailed:
            # One altered or moved row must not hide the rest of the page.
            opened: dict[uuid.UUID, str | None] = {}
            for sealed, ciphertext in objects:
                try:
                    opened[sealed.object_id] = await self.keyring.open(sealed, ciphertext, me)
                except (KeyUnavailable, DecryptionFailed):
                    opened[sealed.object_id] = None
            return opened

    # --- the shared agenda ---------------------------------------------------------------------

    async def _carry(self, schedule: Schedule) -> None:
        """Talking points not covered when their meeting ended (or was skipped) move to the next one."""
        now = utcnow()
        upcoming = schedule.upcoming(now)
        for item in await self.repo.uncovered_before(schedule.series.id, now + MAX_WINDOW):
            occurrence = schedule.at(item.occurrence_start)
            if occurrence.status != SKIPPED and occurrence.ends_at > now:
                continue
            target = upcoming if occurrence.ends_at <= now else schedule.after(occurrence.original_start)
            if target is None or target.original_start == item.occurrence_start:
                continue
            item.occurrence_start = target.original_start
            item.carry_count += 1
        await self.session.flush()

    async def agenda(
        self, series_id: uuid.UUID, recurrence_id: str, principal: Principal, *, limit: int, offset: int
    ) -> AgendaPage:
        series = await self._series(series_id, principal)
        schedule = await self.schedule(series)
        occurrence = await self._occurrence(schedule, recurrence_id)
        if series.status == ACTIVE:
            await self._carry(schedule)
        rows, total = await self.repo.agenda(series.id, occurrence.original_start, limit=limit, offset=offset)
        texts = await self._open_shared(series, [(agenda_seal(row), row.ciphertext) for row in rows], principal)
        return AgendaPage(
            items=[agenda_read(row, texts[row.id]) for row in rows],
            total=total,
            limit=limit,
            offset=offset,
            prompts=await self.templates.prompts(series.agenda_template_id),
        )

    async def add_agenda(
        self, series_id: uuid.UUID, recurrence_id: str, data: AgendaCreate, principal: Principal
    ) -> AgendaRead:
        series = await self._writable(series_id, principal)
        schedule = await self.schedule(series)
        occurrence = await self._occurrence(schedule, recurrence_id)
        if occurrence.status == SKIPPED or occurrence.ends_at <= utcnow():
            raise Conflict("Add talking points to a meeting that is not over or skipped.")
        item = CheckinAgendaItem(
            id=uuid.uuid4(),
            series_id=series.id,
            occurrence_start=occurrence.original_start,
            added_for=occurrence.original_start,
            author_id=principal.person_id,
            carry_count=0,
            created_at=utcnow(),
        )
        item.ciphertext = await self._seal_shared(agenda_seal(item), series, data.text)
        await self.repo.add(item)
        return agenda_read(item, data.text)

    async def update_agenda(
        self, series_id: uuid.UUID, item_id: uuid.UUID, data: AgendaUpdate, principal: Principal
    ) -> AgendaRead:
        series = await self._writable(series_id, principal)
        item = await self.repo.agenda_item(series.id, item_id)
        if item is None:
            raise NotFound(f"No talking point {item_id} in this series.")
        if data.text is not None:
            if item.author_id != principal.person_id:
                raise Forbidden("Only its author rewords a talking point; either of you may mark it covered.")
            item.ciphertext = await self._seal_shared(agenda_seal(item), series, data.text)
        if data.covered is not None:
            item.covered_at = (item.covered_at or utcnow()) if data.covered else None
        await self.session.flush()
        texts = await self._open_shared(series, [(agenda_seal(item), item.ciphertext)], principal)
        return agenda_read(item, texts[item.id])

    # --- action items --------------------------------------------------------------------------

    async def add_action(
        self, series_id: uuid.UUID, recurrence_id: str, data: ActionCreate, principal: Principal
    ) -> ActionRead:
        series = await self._writable(series_id, principal)
        occurrence = await self._occurrence(await self.schedule(series), recurrence_id)
        _participant_owner(series, data.owner_id)
        if data.due_on is not None and data.due_on < utcnow().date():
            raise ValidationFailed.field("due_on", "the due date is in the past")
        item = CheckinActionItem(
            id=uuid.uuid4(),
            series_id=series.id,
            occurrence_start=occurrence.original_start,
            author_id=principal.person_id,
            owner_id=data.owner_id,
            due_on=data.due_on,
            created_at=utcnow(),
        )
        item.ciphertext = await self._seal_shared(action_seal(item), series, data.title)
        await self.repo.add(item)
        self._assigned(item)
        return action_read(item, data.title)

    def _assigned(self, item: CheckinActionItem) -> None:
        event = ActionAssignedData(id=item.id, series_id=item.series_id, owner_id=item.owner_id)
        outbox.add(
            self.session, "checkin", "action-assigned", event.model_dump(mode="json"), subject=str(item.series_id)
        )

    async def actions(
        self, series_id: uuid.UUID, principal: Principal, *, done: bool | None, limit: int, offset: int
    ) -> tuple[list[ActionRead], int]:
        series = await self._series(series_id, principal)
        rows, total = await self.repo.actions(series.id, done=done, limit=limit, offset=offset)
        titles = await self._open_shared(series, [(action_seal(row), row.ciphertext) for row in rows], principal)
        return [action_read(row, titles[row.id]) for row in rows], total

    async def update_action(
        self, series_id: uuid.UUID, item_id: uuid.UUID, data: ActionUpdate, principal: Principal
    ) -> ActionRead:
        series = await self._writable(series_id, principal)
        item = await self.repo.action(series.id, item_id)
        if item is None:
            raise NotFound(f"No action item {item_id} in this series.")
        if data.title is not None:
            item.ciphertext = await self._seal_shared(action_seal(item), series, data.title)
        if "due_on" in data.model_fields_set:
            item.due_on = data.due_on
        if data.done is not None:
            item.done_at = (item.done_at or utcnow()) if data.done else None
        if data.owner_id is not None and data.owner_id != item.owner_id:
            # A series that passed to a new manager leaves the previous one's items with them until handed on.
            item.owner_id = _participant_owner(series, data.owner_id)
            self._assigned(item)
        await self.session.flush()
        titles = await self._open_shared(series, [(action_seal(item), item.ciphertext)], principal)
        return action_read(item, titles[item.id])

    # --- private notes -------------------------------------------------------------------------

    async def add_note(
        self, series_id: uuid.UUID, recurrence_id: str, data: NoteCreate, principal: Principal
    ) -> NoteRead:
        series = await self._writable(series_id, principal)
        occurrence = await self._occurrence(await self.schedule(series), recurrence_id)
        note = CheckinNote(
            id=uuid.uuid4(),
            series_id=series.id,
            occurrence_start=occurrence.original_start,
            author_id=principal.person_id,
            created_at=utcnow(),
        )
        try:
            # Wrapped for its author alone: the other participant, HR and admins hold no key to it.
            note.ciphertext = await self.keyring.seal(note_seal(note), data.text, (principal.person_id,))
        except KeyUnavailable as exc:
            raise Conflict("Your feedback keys were erased; you can no longer write private notes.") from exc
        await self.repo.add(note)
        return self._note(note, data.text)

    def _note(self, note: CheckinNote, text: str | None) -> NoteRead:
        return NoteRead(
            id=note.id,
            series_id=note.series_id,
            recurrence_id=rules.recurrence_id(note.occurrence_start),
            text=text,
            created_at=note.created_at,
        )

    async def notes(
        self, series_id: uuid.UUID, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[NoteRead], int]:
        """The caller's own notes; a manager the series passed from still reads what they wrote."""
        await active_caller(self.session, principal)
        me = principal.person_id
        series = await self.repo.series(series_id)
        if series is None or (
            me not in (series.manager_id, series.report_id) and not await self.repo.has_notes(series.id, me)
        ):
            raise NotFound(f"No check-in series {series_id} of yours.")
        rows, total = await self.repo.notes(series.id, me, limit=limit, offset=offset)
        texts: list[NoteRead] = []
        for row in rows:
            try:
                text: str | None = await self.keyring.open(note_seal(row), row.ciphertext, me)
            except (KeyUnavailable, DecryptionFailed):
                text = None
            texts.append(self._note(row, text))
        return texts, total

    # --- reminders (driven by the feedback reminder sweep) -------------------------------------

    async def _plan_reminder(self, series: CheckinSeries, schedule: Schedule | None = None) -> None:
        """Point the sweep at the next occurrence that is not skipped, started or reminded."""
        schedule = schedule or await self.schedule(series)
        now = utcnow()
        series.remind_at = series.remind_start = None
        if series.status != ACTIVE:
            await self.session.flush()
            return
        for found in schedule.iter_from(now):
            reminded = found.row is not None and found.row.reminded_at is not None
            if found.status != SKIPPED and found.starts_at > now and not reminded:
                series.remind_start = found.original_start
                series.remind_at = found.starts_at - timedelta(minutes=series.reminder_minutes)
                break
            if found.original_start > now and found.starts_at > now + MAX_WINDOW:
                break
        await self.session.flush()

    async def remind(self, series: CheckinSeries) -> bool:
        """Publish the reminder the series points at (if still due), then point at the next one."""
        schedule = await self.schedule(series)
        published = False
        if series.remind_start is not None:
            occurrence = schedule.at(series.remind_start)
            already = occurrence.row is not None and occurrence.row.reminded_at is not None
            if occurrence.status != SKIPPED and occurrence.starts_at > utcnow() and not already:
                row = await self._override(schedule, occurrence)
                row.reminded_at = utcnow()
                rid = occurrence.recurrence_id
                event_id = reminder_event_id(series.id, rid, occurrence.starts_at)
                data = ReminderDueData(
                    id=event_id,
                    series_id=series.id,
                    occurrence_id=row.id,
                    recurrence_id=rid,
                    manager_id=series.manager_id,
                    report_id=series.report_id,
                    starts_at=occurrence.starts_at,
                )
                outbox.add(
                    self.session,
                    "checkin",
                    "reminder-due",
                    data.model_dump(mode="json"),
                    subject=str(series.id),
                    event_id=event_id,
                )
                published = True
        await self._plan_reminder(series, schedule)
        return published

    # --- driven by the directory's person events -----------------------------------------------

    async def follow_person(self, data: PersonEventData, *, deactivated: bool) -> None:
        """A leaver ends their series and loses their calendar address (one who returns makes a new one);
        a report with a new manager takes the series to them."""
        projected = await people.get(self.session, data.id)
        if projected is not None and projected.version > data.version:
            return  # a newer change of this person is known: this event is stale
        if deactivated or not data.active:
            await self.repo.drop_feed(data.id)
        for series in await self.repo.active_with(data.id):
            if deactivated or not data.active:
                await self._end(series, "person-left")
                continue
            if series.report_id != data.id or data.version <= series.report_version:
                continue
            series.report_version = data.version
            if data.manager_id == series.manager_id:
                continue
            await self._hand_over(series, data.manager_id)

    async def _hand_over(self, series: CheckinSeries, new_manager_id: uuid.UUID | None) -> None:
        manager = await people.get(self.session, new_manager_id) if new_manager_id is not None else None
        if new_manager_id is None or (manager is not None and not manager.active) or new_manager_id == series.report_id:
            await self._end(series, "no-manager")
            return
        if await self.repo.active_between(new_manager_id, series.report_id) is not None:
            await self._end(series, "manager-changed")
            return
        previous = series.manager_id
        series.manager_id = new_manager_id
        # The previous manager loses the keys to the shared agenda and actions, not only the routes.
        await self.repo.drop_shared_keys(series.id, previous)
        await self.session.flush()
        data = SeriesTransferredData(
            id=series.id, manager_id=new_manager_id, report_id=series.report_id, previous_manager_id=previous
        )
        outbox.add(self.session, "checkin", "series-transferred", data.model_dump(mode="json"), subject=str(series.id))


async def sweep_checkin_reminders(session: AsyncSession, *, now: datetime, limit: int = 200) -> int:
    """Series whose next reminder is due: publish it and move on. Returns how many series advanced."""
    service = CheckinService(session)
    rows = await service.repo.due_reminders(now, limit=limit)
    for series in rows:
        await service.remind(series)
    return len(rows)
