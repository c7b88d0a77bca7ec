"""Digest times and languages: pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.kinds import Kind
from notifications.messages import Item, Writer, language_of
from notifications.schedule import next_digest_at, zone


@pytest.mark.parametrize(
    ("after", "tz", "hour", "expected"),
    [
        # Before the hour: today; at or after it: tomorrow.
        (datetime(2027, 1, 14, 6, 59, tzinfo=UTC), "Europe/Berlin", 8, datetime(2027, 1, 14, 7, 0, tzinfo=UTC)),
        (datetime(2027, 1, 14, 7, 0, tzinfo=UTC), "Europe/Berlin", 8, datetime(2027, 1, 15, 7, 0, tzinfo=UTC)),
        # The local date decides, not the UTC one: 23:30 UTC is already the 15th in Tokyo.
        (datetime(2027, 1, 14, 23, 30, tzinfo=UTC), "Asia/Tokyo", 9, datetime(2027, 1, 15, 0, 0, tzinfo=UTC)),
        # Across the spring change (28 March 2027 in Berlin) the digest stays at 08:00 local time.
        (datetime(2027, 3, 27, 8, 0, tzinfo=UTC), "Europe/Berlin", 8, datetime(2027, 3, 28, 6, 0, tzinfo=UTC)),
        # Unknown zones count as UTC.
        (datetime(2027, 1, 14, 10, 0, tzinfo=UTC), "Mars/Olympus", 8, datetime(2027, 1, 15, 8, 0, tzinfo=UTC)),
    ],
)
def test_next_digest_at(after: datetime, tz: str, hour: int, expected: datetime) -> None:
    assert next_digest_at(after, hour, zone(tz)) == expected


@pytest.mark.parametrize(
    ("locale", "language"),
    [("de", "de"), ("de-CH", "de"), ("de_AT", "de"), ("DE-de", "de"), ("en-US", "en"), ("fr-FR", "en"), (None, "en")],
)
def test_language_of_a_locale(locale: str | None, language: str) -> None:
    assert language_of(locale) == language


def test_an_unknown_step_still_reads() -> None:
    writer = Writer("de", zone("Europe/Berlin"), "https://x.example/", {})
    item = Item(Kind.task_created, "t", {"task_id": "t9", "step": "brand_new", "due_at": "2027-01-15T16:00:00+00:00"})
    assert writer.line(item) == (
        "Neue Aufgabe: Aufgabe, fällig am 15.01.2027, 17:00 (Europe/Berlin).\nÖffnen: https://x.example/tasks/t9"
    )


def test_a_reminder_of_a_task_never_seen_still_reads() -> None:
    writer = Writer("en", zone(None), "https://x.example", {})
    item = Item(Kind.task_reminder, "t", {"task_id": "t9", "due_at": "2027-01-15T16:00:00+00:00", "number": 2})
    assert (
        writer.line(item) == "Reminder: your task is due 15 Jan 2027, 16:00 (UTC).\nOpen it: https://x.example/tasks/t9"
    )


def test_every_setting_of_the_component_is_documented() -> None:
    from pathlib import Path

    from notifications.settings import NotificationSettings
    from shared.settings import Settings

    page = (Path(__file__).parents[2] / "docs" / "notifications.md").read_text()
    own = [name for name in NotificationSettings.model_fields if name not in Settings.model_fields]
    assert own
    missing = [name for name in own if f"`MERITLOOP_{name.upper()}`" not in page]
    assert missing == []
