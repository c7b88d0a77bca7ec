"""A person's kinds mailed at once instead of in the digest, and quiet hours that hold what is mailed at
once until they end (1:1 reminders excepted), through real NATS and a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from notifications.kinds import CHECKIN_REMINDER, TASK_CREATED, TASK_ESCALATED, TASK_REMINDER
from notifications.schedule import quiet_until
from tests.conftest import TokenFactory
from tests.notifications.conftest import DUE, Notifier, plain, task_data
from tests.notifications.test_mails import escalation

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("local", "start", "end", "until"),
    [
        (datetime(2027, 1, 14, 23, 30), 22, 7, datetime(2027, 1, 15, 7, 0)),  # past midnight, evening side
        (datetime(2027, 1, 15, 6, 59), 22, 7, datetime(2027, 1, 15, 7, 0)),  # past midnight, morning side
        (datetime(2027, 1, 15, 7, 0), 22, 7, None),  # the end hour is no longer quiet
        (datetime(2027, 1, 14, 21, 59), 22, 7, None),
        (datetime(2027, 1, 14, 12, 30), 12, 14, datetime(2027, 1, 14, 14, 0)),  # within one day
        (datetime(2027, 1, 14, 14, 0), 12, 14, None),
        (datetime(2027, 3, 28, 1, 30), 0, 6, datetime(2027, 3, 28, 6, 0)),  # the night the clocks go forward
        (datetime(2027, 1, 14, 12, 0), None, None, None),
    ],
)
def test_quiet_until(local: datetime, start: int | None, end: int | None, until: datetime | None) -> None:
    found = quiet_until(local.replace(tzinfo=BERLIN).astimezone(UTC), start, end, BERLIN)
    assert found == (until.replace(tzinfo=BERLIN).astimezone(UTC) if until else None)


async def test_a_kind_chosen_at_once_is_mailed_on_its_own_and_the_rest_waits(
    notifier: Notifier, auth: TokenFactory
) -> None:
    ada = await notifier.person("Ada Lovelace", timezone="Europe/Berlin")
    await notifier.known(ada)
    me = auth(person_id=ada)
    cycle = uuid.uuid4()
    # Queued for the digest before the choice: the choice moves it to now.
    await notifier.publish(
        TASK_CREATED,
        task_data("t0", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=cycle),
    )
    await notifier.queued(1)
    chosen = await notifier.client.put("/notification-preferences/me", json={"at_once": ["task_created"]}, headers=me)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["at_once"] == ["task_created"]
    assert "checkin_reminder" not in chosen.json()["at_once_kinds"]
    assert "task_created" in chosen.json()["at_once_kinds"]
    [moved] = await notifier.mails(1)
    assert moved["Subject"] != "Meritloop: 1 update(s) for you"
    assert "New task: Self-assessment" in plain(moved)
    assert moved["X-Meritloop-Kind"] == "task_created"

    # A new task comes at once (10:00 UTC, long before the 08:00 digest); its reminder waits.
    await notifier.publish(
        TASK_CREATED,
        task_data("t1", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=cycle),
    )
    await notifier.publish(
        TASK_REMINDER, {"task_id": "t1", "assignee_id": str(ada), "due_at": DUE.isoformat(), "number": 1}
    )
    await notifier.mails(2)
    await notifier.queued(3)
    await notifier.settle()
    assert len(notifier.inbox.mails) == 2
    notifier.clock.advance_to(datetime(2027, 1, 15, 7, 0, tzinfo=UTC))
    mails = await notifier.mails(3)
    assert mails[2]["Subject"] == "Meritloop: 1 update(s) for you"
    assert "Reminder: Self-assessment" in plain(mails[2])

    # Back to the digest: the choice undone, the next task waits again.
    undone = await notifier.client.put("/notification-preferences/me", json={"at_once": []}, headers=me)
    assert undone.json()["at_once"] == []
    await notifier.publish(
        TASK_CREATED,
        task_data("t2", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=cycle),
    )
    await notifier.queued(4)
    await notifier.settle()
    assert len(notifier.inbox.mails) == 3


async def test_quiet_hours_hold_what_comes_at_once_but_not_a_meetings_reminder(
    notifier: Notifier, auth: TokenFactory
) -> None:
    ada = await notifier.person("Ada Lovelace", timezone="Europe/Berlin")
    boss = await notifier.person("Grace Hopper", timezone="Europe/Berlin")
    await notifier.known(ada, boss)
    # 10:00 UTC is 11:00 in Berlin: quiet from 11 to 13 local.
    body = {"at_once": ["task_created"], "quiet_hours": {"start": 11, "end": 13}}
    saved = await notifier.client.put("/notification-preferences/me", json=body, headers=auth(person_id=ada))
    assert saved.status_code == 200, saved.text
    assert saved.json()["quiet_hours"] == {"start": 11, "end": 13}
    cycle = uuid.uuid4()
    await notifier.publish(TASK_ESCALATED, escalation("t9", person_id=boss, notified_id=ada, cycle_id=cycle))
    await notifier.publish(
        TASK_CREATED,
        task_data("t1", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=cycle),
    )
    series = str(uuid.uuid4())
    meeting = notifier.clock.now + timedelta(hours=1)
    await notifier.publish(
        CHECKIN_REMINDER,
        {
            "id": str(uuid.uuid4()),
            "series_id": series,
            "occurrence_id": str(uuid.uuid4()),
            "recurrence_id": meeting.strftime("%Y%m%dT%H%M%SZ"),
            "manager_id": str(boss),
            "report_id": str(ada),
            "starts_at": meeting.isoformat(),
        },
    )
    # The meeting's reminder comes now, to both; the escalation and the task wait for 13:00 local.
    first = await notifier.mails(2)
    assert sorted(mail["To"] for mail in first) == ["ada@example.com", "grace@example.com"]
    assert {mail["X-Meritloop-Kind"] for mail in first} == {"checkin_reminder"}
    notifier.clock.advance_to(datetime(2027, 1, 14, 11, 59, tzinfo=UTC))
    await notifier.settle()
    assert len(notifier.inbox.mails) == 2
    notifier.clock.advance_to(datetime(2027, 1, 14, 12, 0, tzinfo=UTC))
    mails = await notifier.mails(4)
    held = sorted(mail["X-Meritloop-Kind"] for mail in mails[2:])
    assert held == ["escalation", "task_created"]


async def test_bad_choices_name_their_field(notifier: Notifier, auth: TokenFactory) -> None:
    me = auth()
    for body, field in (
        ({"at_once": ["escalation"]}, "at_once.0"),
        ({"at_once": ["checkin_reminder"]}, "at_once.0"),
        ({"at_once": ["task_created", "praise"]}, "at_once.1"),
        ({"at_once": ["task_reminder"], "opted_out": ["task_reminder"]}, "at_once.0"),
        ({"at_once": "task_created"}, "at_once"),
        ({"quiet_hours": {"start": 22, "end": 22}}, "quiet_hours"),
        ({"quiet_hours": {"start": 24, "end": 6}}, "quiet_hours.start"),
        ({"quiet_hours": {"start": 22}}, "quiet_hours.end"),
        ({"quiet_hours": {"start": 22, "end": 6, "days": "weekdays"}}, "quiet_hours.days"),
        ({"at_once": ["task_created"] * 51}, "at_once"),
    ):
        response = await notifier.client.put("/notification-preferences/me", json=body, headers=me)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]], (body, response.json())
    # Nothing of a refused body was stored.
    mine = (await notifier.client.get("/notification-preferences/me", headers=me)).json()
    assert (mine["at_once"], mine["quiet_hours"], mine["opted_out"]) == ([], None, [])


async def test_ending_the_quiet_hours_releases_what_they_held(notifier: Notifier, auth: TokenFactory) -> None:
    ada = await notifier.person("Ada Lovelace", timezone="Europe/Berlin")
    boss = await notifier.person("Grace Hopper", timezone="Europe/Berlin")
    await notifier.known(ada, boss)
    me = auth(person_id=ada)
    quiet = {"quiet_hours": {"start": 11, "end": 13}}
    assert (await notifier.client.put("/notification-preferences/me", json=quiet, headers=me)).status_code == 200
    await notifier.publish(TASK_ESCALATED, escalation("t9", person_id=boss, notified_id=ada, cycle_id=uuid.uuid4()))
    await notifier.queued(1)
    await notifier.settle()
    assert notifier.inbox.mails == []  # 11:00 in Berlin: held until 13:00
    assert (await notifier.client.put("/notification-preferences/me", json={}, headers=me)).status_code == 200
    [mail] = await notifier.mails(1)
    assert mail["X-Meritloop-Kind"] == "escalation"
    assert notifier.clock.now == datetime(2027, 1, 14, 10, 0, tzinfo=UTC)  # at once, not at 13:00
