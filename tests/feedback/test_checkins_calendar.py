"""The 1:1 series' iCalendar file (services/feedback/checkins/calendar.py): read back the way a
calendar reads it, unfolded and expanded with dateutil, it gives the meetings the series has."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

from services.feedback.checkins.calendar import Override, SeriesEvent, SeriesInput, calendar_file, series_calendar

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def series(**changes: object) -> SeriesInput:
    values: dict[str, object] = {
        "id": "6a4f3d2e-1b0c-4a9d-8e7f-0123456789ab",
        "rrule": "FREQ=WEEKLY;BYDAY=TU",
        "first_start": datetime(2026, 3, 3, 10, 0, tzinfo=BERLIN).astimezone(UTC),
        "timezone": "Europe/Berlin",
        "duration_minutes": 30,
        "ended_at": None,
    }
    values.update(changes)
    return SeriesInput(**values)  # type: ignore[arg-type]


def unfolded(text: str) -> list[str]:
    assert text.endswith("\r\n")
    for line in text.split("\r\n"):
        assert len(line.encode()) <= 75, line
    return text.replace("\r\n ", "").split("\r\n")[:-1]


def events(lines: list[str]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = []
    current: dict[str, str] | None = None
    for line in lines:
        if line == "BEGIN:VEVENT":
            current = {}
        elif line == "END:VEVENT":
            assert current is not None
            found.append(current)
            current = None
        elif current is not None:
            name, value = line.split(":", 1)
            current[name] = value
    return found


def local(value: str) -> datetime:
    return datetime.strptime(value, "%Y%m%dT%H%M%S").replace(tzinfo=BERLIN)


def meetings(master: dict[str, str], until: datetime) -> list[datetime]:
    """What a calendar shows: the rule from DTSTART in the zone, minus EXDATEs."""
    start = local(master["DTSTART;TZID=Europe/Berlin"])
    rule = rrulestr(master["RRULE"], dtstart=start)
    gone = {local(v) for v in master.get("EXDATE;TZID=Europe/Berlin", "").split(",") if v}
    return [m for m in rule.between(start, until, inc=True) if m not in gone]


def test_a_weekly_meeting_keeps_its_wall_clock_time_across_daylight_saving() -> None:
    lines = unfolded(series_calendar(series(), {}, title="1:1: Mona and Emil", now=NOW))
    assert lines[:5] == ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Meritloop//1:1 check-ins//EN",
                         "CALSCALE:GREGORIAN", "METHOD:PUBLISH"]  # fmt: skip
    [master] = events(lines)
    assert master["UID"] == "6a4f3d2e-1b0c-4a9d-8e7f-0123456789ab@meritloop"
    assert (master["DURATION"], master["SUMMARY"], master["STATUS"]) == ("PT30M", "1:1: Mona and Emil", "CONFIRMED")
    shown = meetings(master, datetime(2026, 11, 30, tzinfo=BERLIN))
    assert {(m.hour, m.minute, m.weekday()) for m in shown} == {(10, 0, 1)}
    # Before and after the switch to summer time (29 March 2026): 09:00 and 08:00 in UTC.
    utc = [m.astimezone(UTC).hour for m in shown[:5]]
    assert utc == [9, 9, 9, 9, 8]
    # The zone's rules: the switches of 2026 with their local onsets and offsets.
    assert "BEGIN:VTIMEZONE" in lines
    zone = lines[lines.index("BEGIN:VTIMEZONE") : lines.index("END:VTIMEZONE")]
    text = "\n".join(zone)
    assert "BEGIN:DAYLIGHT\nDTSTART:20260329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nTZNAME:CEST" in text
    assert "BEGIN:STANDARD\nDTSTART:20261025T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nTZNAME:CET" in text
    # From the year before the first meeting to five years after today.
    assert "DTSTART:20250101T010000" in text
    assert "DTSTART:20311026T030000" in text


def test_skipped_and_moved_meetings_and_an_ended_series() -> None:
    first = datetime(2026, 3, 3, 10, 0, tzinfo=BERLIN)
    skipped, moved = first + timedelta(weeks=1), first + timedelta(weeks=2)
    overrides = {
        skipped.astimezone(UTC): Override(skipped.astimezone(UTC), True, skipped.astimezone(UTC)),
        moved.astimezone(UTC): Override(
            moved.astimezone(UTC), False, (moved + timedelta(days=1, hours=4)).astimezone(UTC)
        ),
    }
    # Ended on Wednesday 15 April: the meeting of the 14th was the last.
    ended = datetime(2026, 4, 15, 12, 0, tzinfo=BERLIN).astimezone(UTC)
    text = series_calendar(series(rrule="FREQ=WEEKLY;COUNT=40;BYDAY=TU", ended_at=ended), overrides, title="x", now=NOW)
    master, override = events(unfolded(text))
    assert master["EXDATE;TZID=Europe/Berlin"] == "20260310T100000"
    assert "COUNT" not in master["RRULE"]
    assert master["RRULE"].endswith(";UNTIL=20260414T080000Z")
    shown = meetings(master, datetime(2027, 1, 1, tzinfo=BERLIN))
    assert [m.day for m in shown] == [3, 17, 24, 31, 7, 14]  # the 17th is replaced by the override below
    assert override["RECURRENCE-ID;TZID=Europe/Berlin"] == "20260317T100000"
    assert override["DTSTART;TZID=Europe/Berlin"] == "20260318T140000"
    assert override["UID"] == master["UID"]
    # A series ended before its first meeting is one cancelled event.
    early = series(ended_at=first.astimezone(UTC) - timedelta(days=1))
    [cancelled] = events(unfolded(series_calendar(early, {}, title="x", now=NOW)))
    assert cancelled["STATUS"] == "CANCELLED"


def test_text_is_escaped_and_folded_on_character_boundaries() -> None:
    title = "1:1: Zoë Ångström-Müller, Ünal; Straße und Ärger \\ " + "über alles " * 6
    lines = unfolded(series_calendar(series(), {}, title=title, now=NOW))
    [master] = events(lines)
    expected = title.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    assert master["SUMMARY"] == expected


def test_a_zone_without_daylight_saving_has_one_standard_part() -> None:
    tokyo = series(timezone="Asia/Tokyo", first_start=datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    lines = unfolded(series_calendar(tokyo, {}, title="x", now=NOW))
    zone = lines[lines.index("BEGIN:VTIMEZONE") : lines.index("END:VTIMEZONE") + 1]
    assert zone == [
        "BEGIN:VTIMEZONE",
        "TZID:Asia/Tokyo",
        "BEGIN:STANDARD",
        "DTSTART:20250101T090000",
        "TZOFFSETFROM:+0900",
        "TZOFFSETTO:+0900",
        "TZNAME:JST",
        "END:STANDARD",
        "END:VTIMEZONE",
    ]
    [master] = events(lines)
    assert master["DTSTART;TZID=Asia/Tokyo"] == "20260303T100000"


def test_a_subscription_holds_each_series_and_each_zone_once() -> None:
    berlin_late = series(id="b2", first_start=datetime(2026, 6, 2, 9, 0, tzinfo=UTC))
    berlin_early = series(id="b1", first_start=datetime(2025, 2, 4, 9, 0, tzinfo=UTC))
    tokyo = series(id="t1", timezone="Asia/Tokyo", first_start=datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    moved = Override(berlin_late.first_start, False, berlin_late.first_start + timedelta(hours=2))
    text = calendar_file(
        [
            SeriesEvent(berlin_late, {moved.original_start: moved}, "late"),
            SeriesEvent(berlin_early, {}, "early"),
            SeriesEvent(tokyo, {}, "tokyo"),
        ],
        now=NOW,
        name="Meritloop 1:1s",
        refresh=timedelta(hours=1),
    )
    lines = unfolded(text)
    assert [line for line in lines if line.startswith("TZID:")] == ["TZID:Asia/Tokyo", "TZID:Europe/Berlin"]
    # Berlin's zone covers its earliest series: its rules from the year before 2025 on.
    berlin = lines[lines.index("TZID:Europe/Berlin") :]
    assert berlin[2].startswith("DTSTART:2024")
    assert [line for line in lines if line.startswith("UID:")] == ["UID:b2@meritloop"] * 2 + [
        "UID:b1@meritloop",
        "UID:t1@meritloop",
    ]
    assert (lines[5], lines[7]) == ("X-WR-CALNAME:Meritloop 1:1s", "X-PUBLISHED-TTL:PT60M")
    assert [event["SUMMARY"] for event in events(lines)] == ["late", "late", "early", "tokyo"]


def test_a_start_at_the_end_of_time_still_makes_a_file() -> None:
    """Stored before starts were bounded (the service now refuses one over two years ahead)."""
    far = datetime(9996, 1, 6, 10, 0, tzinfo=UTC)
    lines = unfolded(series_calendar(series(first_start=far), {}, title="x", now=NOW))
    [master] = events(lines)
    assert master["DTSTART;TZID=Europe/Berlin"] == "99960106T110000"
