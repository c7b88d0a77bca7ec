"""A 1:1 series as an iCalendar file (RFC 5545), for the participants' own calendars.

One recurring event in the series' time zone (so a weekly 10:00 stays at 10:00 across daylight
saving time), with a ``VTIMEZONE`` built from the IANA rules for the years around it, skipped
meetings as ``EXDATE`` and moved ones as overrides (``RECURRENCE-ID``). An ended series stops at
its last meeting before the end. Nothing of the agenda, the notes or the action items is in it:
those are encrypted for the two people and stay in Meritloop. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.feedback.checkins import rules

PRODID = "-//Meritloop//1:1 check-ins//EN"
LOCAL = "%Y%m%dT%H%M%S"
# Years of time-zone rules written around the series: before its first meeting, after today.
ZONE_YEARS_BEFORE = 1
ZONE_YEARS_AFTER = 5
LINE_OCTETS = 75


@dataclass(frozen=True)
class SeriesInput:
    id: str
    rrule: str
    first_start: datetime
    timezone: str
    duration_minutes: int
    ended_at: datetime | None


@dataclass(frozen=True)
class Override:
    """A meeting that is not where the rule puts it: skipped, or moved to ``starts_at``."""

    original_start: datetime
    skipped: bool
    starts_at: datetime


@dataclass(frozen=True)
class SeriesEvent:
    """One series in a calendar file: its rule, its skipped and moved meetings, and its title."""

    series: SeriesInput
    overrides: Mapping[datetime, Override]
    title: str


def series_calendar(series: SeriesInput, overrides: Mapping[datetime, Override], *, title: str, now: datetime) -> str:
    """The whole ``VCALENDAR`` of one series as text with CRLF line ends, folded at 75 octets."""
    return calendar_file([SeriesEvent(series, overrides, title)], now=now)


def calendar_file(
    events: Sequence[SeriesEvent], *, now: datetime, name: str | None = None, refresh: timedelta | None = None
) -> str:
    """A ``VCALENDAR`` of several series (a subscription: ``name`` and how often to ``refresh``).

    One ``VTIMEZONE`` per zone, covering the earliest series in it."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]
    if name is not None:
        lines.append(f"X-WR-CALNAME:{_text(name)}")
    if refresh is not None:
        minutes = int(refresh.total_seconds() // 60)
        # RFC 7986's property and the older one many clients still read instead.
        lines += [f"REFRESH-INTERVAL;VALUE=DURATION:PT{minutes}M", f"X-PUBLISHED-TTL:PT{minutes}M"]
    earliest: dict[str, datetime] = {}
    for event in events:
        zone_name = event.series.timezone
        if zone_name not in earliest or event.series.first_start < earliest[zone_name]:
            earliest[zone_name] = event.series.first_start
    for zone_name, first_start in sorted(earliest.items()):
        lines += _timezone(rules.zone(zone_name), zone_name, first_start, now)
    for event in events:
        lines += _series_events(event, now)
    lines.append("END:VCALENDAR")
    return "".join(f"{folded}\r\n" for line in lines for folded in _fold(line))


def _series_events(event: SeriesEvent, now: datetime) -> list[str]:
    series, overrides = event.series, event.overrides
    tz = rules.zone(series.timezone)
    rule = rules.parse_rule(series.rrule, series.first_start, series.timezone)
    body = rules.rule_value(series.rrule)
    cancelled = False
    if series.ended_at is not None:
        last = rule.before(series.ended_at.astimezone(tz))
        if last is None:
            cancelled = True  # ended before its first meeting
        else:
            parts = [p for p in body.split(";") if p.split("=", 1)[0].strip().upper() not in ("COUNT", "UNTIL")]
            body = ";".join([*parts, f"UNTIL={rules.to_utc(last).strftime(rules.RECURRENCE_ID)}"])
    stamp = rules.to_utc(now).strftime(rules.RECURRENCE_ID)
    uid = f"{series.id}@meritloop"
    common = [
        f"UID:{uid}",
        f"DTSTAMP:{stamp}",
        f"SUMMARY:{_text(event.title)}",
        f"DURATION:PT{series.duration_minutes}M",
    ]
    ended = series.ended_at
    kept = {at: o for at, o in overrides.items() if ended is None or at < ended}
    skipped = sorted(o.original_start for o in kept.values() if o.skipped)
    moved = sorted((o for o in kept.values() if not o.skipped and o.starts_at != o.original_start), key=_original)
    lines = ["BEGIN:VEVENT", *common, f"DTSTART;TZID={series.timezone}:{_local(series.first_start, tz)}"]
    lines.append(f"RRULE:{body}")
    if skipped:
        lines.append(f"EXDATE;TZID={series.timezone}:" + ",".join(_local(at, tz) for at in skipped))
    lines += [f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}", "END:VEVENT"]
    for override in moved:
        lines += [
            "BEGIN:VEVENT",
            *common,
            f"RECURRENCE-ID;TZID={series.timezone}:{_local(override.original_start, tz)}",
            f"DTSTART;TZID={series.timezone}:{_local(override.starts_at, tz)}",
            "STATUS:CONFIRMED",
            "END:VEVENT",
        ]
    return lines


def _original(override: Override) -> datetime:
    return override.original_start


def _local(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime(LOCAL)


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and newlines escaped."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return escaped.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")


def _fold(line: str) -> Iterator[str]:
    """Lines of at most 75 octets, continuations starting with a space, never inside a character."""
    rest = line
    limit = LINE_OCTETS
    while len(rest.encode()) > limit:
        cut = limit
        while len(rest[:cut].encode()) > limit:
            cut -= 1
        yield rest[:cut] if limit == LINE_OCTETS else " " + rest[:cut]
        rest = rest[cut:]
        limit = LINE_OCTETS - 1
    yield rest if limit == LINE_OCTETS else " " + rest


def _offset(delta: timedelta | None) -> str:
    seconds = int((delta or timedelta(0)).total_seconds())
    sign = "+" if seconds >= 0 else "-"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _timezone(tz: ZoneInfo, name: str, first_start: datetime, now: datetime) -> list[str]:
    """``VTIMEZONE`` with the offset in force at the window's start and every change in it."""
    # Within datetime's years whatever a stored start says (one past them would fail every feed).
    start = datetime(max(first_start.year - ZONE_YEARS_BEFORE, 1), 1, 1, tzinfo=UTC)
    end = datetime(min(max(first_start.year, now.year) + ZONE_YEARS_AFTER, 9998), 12, 31, tzinfo=UTC)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{name}"]
    lines += _observance(tz, start, None)
    for change in _changes(tz, start, end):
        lines += _observance(tz, change, change - timedelta(seconds=1))
    lines.append("END:VTIMEZONE")
    return lines


def _observance(tz: ZoneInfo, at: datetime, before: datetime | None) -> list[str]:
    """One STANDARD or DAYLIGHT part: the offset from ``at`` on (``before``: the instant just ahead)."""
    after = at.astimezone(tz)
    prior = (before or at).astimezone(tz)
    kind = "DAYLIGHT" if after.dst() else "STANDARD"
    return [
        f"BEGIN:{kind}",
        # The onset in the local time that was in force until then (RFC 5545 3.6.5).
        f"DTSTART:{(at + (prior.utcoffset() or timedelta(0))).replace(tzinfo=None).strftime(LOCAL)}",
        f"TZOFFSETFROM:{_offset(prior.utcoffset())}",
        f"TZOFFSETTO:{_offset(after.utcoffset())}",
        f"TZNAME:{_text(after.tzname() or _offset(after.utcoffset()))}",
        f"END:{kind}",
    ]


def _changes(tz: ZoneInfo, start: datetime, end: datetime) -> Iterator[datetime]:
    """The instants (UTC, to the second) at which the zone's offset changes, in order."""
    day = start
    offset = day.astimezone(tz).utcoffset()
    while day < end:
        following = day + timedelta(days=1)
        if following.astimezone(tz).utcoffset() != offset:
            low, high = day, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(tz).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            change = high.replace(microsecond=0)
            yield change
            offset = following.astimezone(tz).utcoffset()
        day = following
