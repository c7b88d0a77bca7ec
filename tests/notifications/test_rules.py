"""Digest times and languages: pure rules, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifications.kinds import SOURCES, WITHDRAWALS, Kind
from notifications.messages import CATALOGUE, Item, Writer, language_of
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


def test_the_bus_lets_the_component_read_exactly_what_it_subscribes_to() -> None:
    """Each durable consumer is in the trust table (the locked bus refuses any other)."""
    from notifications.consumers import subscriptions
    from notifications.service import NotificationService
    from notifications.settings import NotificationSettings
    from shared.database import utcnow
    from shared.events.trust import component

    service = NotificationService(NotificationSettings(), utcnow)
    subscribed = {(s.stream, s.durable) for s in subscriptions(service)}
    allowed = {(c.stream, c.durable) for c in component("notifications").consumes}
    assert subscribed == allowed
    consumed = {subject for s in subscriptions(service)[1:] for subject in s.subjects}
    assert consumed == set(SOURCES) | set(WITHDRAWALS), "every event the component knows is read by one consumer"


def test_every_catalogue_has_the_same_keys_and_every_kind_renders_in_both_languages() -> None:
    assert CATALOGUE["en"].keys() == CATALOGUE["de"].keys()
    data = {
        "id": "r1",
        "request_id": "r1",
        "series_id": "s1",
        "cycle_id": "c1",
        "task_id": "t1",
        "due_at": "2027-01-15T16:00:00+00:00",
        "due_on": "2027-01-20",
        "starts_at": "2027-01-15T16:00:00+00:00",
    }
    for language in ("en", "de"):
        writer = Writer(language, zone("Europe/Berlin"), "https://x.example", {})
        for event_type, source in SOURCES.items():
            rendered = writer.digest("Ada", [Item(source.kind, event_type, data)])
            assert "{" not in rendered.body, (language, event_type)
            assert "https://x.example/" in rendered.body


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"recipient_ids": ["00000000-0000-0000-0000-000000000001"] * 2}, 1),  # each person once
        ({"manager_id": "00000000-0000-0000-0000-000000000001", "report_id": None}, 1),
        ({"recipient_ids": []}, 0),
    ],
)
def test_recipients_are_each_person_named_once(data: dict[str, object], expected: int) -> None:
    from notifications.service import _recipients

    assert len(_recipients(data, ("recipient_ids", "manager_id", "report_id"))) == expected
