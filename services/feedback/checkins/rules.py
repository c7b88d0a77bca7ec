"""Pure rules of check-in series: RFC 5545 recurrence, occurrence keys, time zones. No I/O."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr

# Used when neither the request nor the directory gives a time zone (the projection's
# ``timezone`` is optional in directory events).
DEFAULT_TIMEZONE = "UTC"
# A series must meet at least once a year and at most daily: anything finer is not a 1:1.
MAX_GAP = timedelta(days=366)
MIN_GAP = timedelta(hours=23)
# How far ahead a series may start or a meeting be moved: a 1:1 is planned in months, and a
# start in the year 9999 would leave nothing a calendar file could be built from.
MAX_LEAD = timedelta(days=2 * 366)
RECURRENCE_ID = "%Y%m%dT%H%M%SZ"
_RECURRENCE_ID = re.compile(r"^\d{8}T\d{6}Z$")
# Parts that would turn a weekly 1:1 into something else, or that RFC 5545 puts elsewhere.
_REFUSED_PARTS = ("DTSTART", "BYSECOND", "BYMINUTE", "BYHOUR", "RDATE", "EXDATE")


class RuleError(ValueError):
    """The recurrence rule or time zone is not usable; the message says why."""


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RuleError(f"{name!r} is not an IANA time zone") from exc


def rule_value(text: str) -> str:
    """The RRULE value as stored: trimmed, without an ``RRULE:`` prefix in any case."""
    body = text.strip()
    return body[6:].strip() if body.upper().startswith("RRULE:") else body


def parse_rule(text: str, first_start: datetime, timezone: str) -> rrule:
    """The rule anchored at the first meeting, in the series' time zone (wall-clock across DST).

    ``text`` is an RRULE value (``FREQ=WEEKLY;INTERVAL=2;BYDAY=TU``), optionally prefixed ``RRULE:``.
    """
    body = rule_value(text)
    if not body or "\n" in body:
        raise RuleError("one RRULE value, e.g. FREQ=WEEKLY;INTERVAL=2;BYDAY=TU")
    names = {part.split("=", 1)[0].strip().upper() for part in body.split(";") if part.strip()}
    refused = sorted(names & set(_REFUSED_PARTS))
    if refused:
        raise RuleError(f"{', '.join(refused)} is not allowed: the start time sets the time of day")
    if "FREQ" not in names:
        raise RuleError("FREQ is required")
    local_start = first_start.astimezone(zone(timezone))
    try:
        rule = rrulestr(body, dtstart=local_start)
    except (ValueError, TypeError) as exc:
        raise RuleError(f"not an RFC 5545 recurrence rule: {exc}") from exc
    if not isinstance(rule, rrule):
        raise RuleError("one RRULE value, not a set")
    first_two = [start for _, start in zip(range(2), rule, strict=False)]
    if not first_two:
        raise RuleError("the rule gives no meeting from the start time on")
    if len(first_two) == 2:
        gap = first_two[1] - first_two[0]
        if gap < MIN_GAP or gap > MAX_GAP:
            raise RuleError("meetings must be between one day and one year apart")
    return rule


def to_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def localise(moment: datetime, timezone: str) -> datetime:
    """A naive request time is wall-clock time in the series' zone; an aware one is kept."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone(timezone))
    return moment


def starts_between(rule: rrule, after: datetime, before: datetime, *, inclusive: bool = True) -> Iterator[datetime]:
    """Original starts (UTC) in ``[after, before]``, in order."""
    for start in rule.xafter(after, inc=inclusive):
        if start > before:
            return
        yield to_utc(start)


def next_start(rule: rrule, after: datetime, *, inclusive: bool = False) -> datetime | None:
    found = rule.after(after, inc=inclusive)
    return to_utc(found) if found is not None else None


def is_start(rule: rrule, moment: datetime) -> bool:
    found = rule.after(moment, inc=True)
    return found is not None and to_utc(found) == to_utc(moment)


def recurrence_id(start: datetime) -> str:
    """RFC 5545 RECURRENCE-ID (UTC form) of an occurrence: its original start."""
    return to_utc(start).strftime(RECURRENCE_ID)


def parse_recurrence_id(text: str) -> datetime:
    if not _RECURRENCE_ID.match(text):
        raise RuleError("an occurrence is named by its original start as YYYYMMDDTHHMMSSZ")
    try:
        return datetime.strptime(text, RECURRENCE_ID).replace(tzinfo=UTC)
    except ValueError as exc:
        raise RuleError(str(exc)) from exc
