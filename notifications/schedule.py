"""When a digest goes out: pure time arithmetic, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None) -> ZoneInfo:
    """The person's time zone; an unknown or missing name counts as UTC rather than losing the mail."""
    if not name:
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def next_digest_at(after: datetime, hour: int, tz: ZoneInfo) -> datetime:
    """The first ``hour``:00 in ``tz`` strictly after ``after``, in UTC.

    Built from the local date each time (not by adding 24 hours), so the hour stays the
    wall-clock hour across a daylight-saving change.
    """
    local = after.astimezone(tz)
    day = local.date()
    for offset in range(3):
        candidate = datetime.combine(day + timedelta(days=offset), time(hour), tzinfo=tz)
        if candidate > local:
            return candidate.astimezone(UTC)
    raise AssertionError("unreachable: one of three days has the hour after any moment")


def quiet_until(moment: datetime, start: int | None, end: int | None, tz: ZoneInfo) -> datetime | None:
    """The end of the quiet hours ``[start, end)`` in ``tz`` that ``moment`` falls in, in UTC; None outside.

    The hours may run past midnight (22 to 7). The local hour decides, so the quiet time follows
    the wall clock across daylight-saving changes."""
    if start is None or end is None or start == end:
        return None
    hour = moment.astimezone(tz).hour
    inside = start <= hour < end if start < end else hour >= start or hour < end
    return next_digest_at(moment, end, tz) if inside else None
