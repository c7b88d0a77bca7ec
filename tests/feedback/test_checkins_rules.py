"""Unit tests of the pure recurrence rules of check-ins (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.feedback.checkins import rules


def test_every_other_tuesday_keeps_wall_clock_time_across_daylight_saving() -> None:
    # 10:00 in Berlin on Tuesday 2026-10-13 (CEST, UTC+2); clocks go back on 2026-10-25.
    first = datetime(2026, 10, 13, 8, 0, tzinfo=UTC)
    rule = rules.parse_rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", first, "Europe/Berlin")
    starts = list(rules.starts_between(rule, first, first + timedelta(days=43)))
    assert starts == [
        datetime(2026, 10, 13, 8, 0, tzinfo=UTC),
        datetime(2026, 10, 27, 9, 0, tzinfo=UTC),  # still 10:00 local, now UTC+1
        datetime(2026, 11, 10, 9, 0, tzinfo=UTC),
        datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
    ]
    assert all(start.astimezone(rules.zone("Europe/Berlin")).weekday() == 1 for start in starts)
    assert rules.is_start(rule, starts[1])
    assert not rules.is_start(rule, starts[1] + timedelta(days=7))
    assert rules.next_start(rule, starts[0]) == starts[1]


def test_the_rrule_prefix_count_and_until_are_honoured() -> None:
    first = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
    rule = rules.parse_rule("rrule: FREQ=WEEKLY;COUNT=3", first, "UTC")
    assert rules.rule_value(" rrule: FREQ=WEEKLY;COUNT=3") == "FREQ=WEEKLY;COUNT=3"
    assert len(list(rules.starts_between(rule, first, first + timedelta(days=365)))) == 3
    until = rules.parse_rule("FREQ=MONTHLY;UNTIL=20270301T000000Z", first, "UTC")
    assert [start.month for start in rules.starts_between(until, first, first + timedelta(days=365))] == [12, 1, 2]


@pytest.mark.parametrize(
    ("text", "zone", "says"),
    [
        ("", "UTC", "RRULE"),
        ("FREQ=FORTNIGHTLY", "UTC", "RFC 5545"),
        ("INTERVAL=2", "UTC", "FREQ"),
        ("FREQ=WEEKLY;BYHOUR=9", "UTC", "BYHOUR"),
        ("DTSTART:20261201T100000Z\nRRULE:FREQ=WEEKLY", "UTC", "RRULE"),
        ("FREQ=HOURLY", "UTC", "one day and one year"),
        ("FREQ=YEARLY;INTERVAL=2", "UTC", "one day and one year"),
        ("FREQ=WEEKLY", "Mars/Olympus", "IANA"),
        ("FREQ=WEEKLY;UNTIL=20200101T000000Z", "UTC", "no meeting"),
    ],
)
def test_unusable_rules_say_why(text: str, zone: str, says: str) -> None:
    with pytest.raises(rules.RuleError, match=says):
        rules.parse_rule(text, datetime(2026, 12, 1, 10, tzinfo=UTC), zone)


def test_recurrence_ids_round_trip_and_refuse_other_forms() -> None:
    moment = datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC)
    assert rules.recurrence_id(moment) == "20261201T090507Z"
    assert rules.parse_recurrence_id("20261201T090507Z") == moment
    for bad in ("2026-12-01T09:05:07Z", "20261301T090507Z", "20261201T090507"):
        with pytest.raises(rules.RuleError):
            rules.parse_recurrence_id(bad)


def test_a_naive_time_is_wall_clock_in_the_series_zone() -> None:
    local = rules.localise(datetime(2026, 7, 1, 9, 0), "America/New_York")
    assert rules.to_utc(local) == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)
    aware = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert rules.localise(aware, "America/New_York") is aware
