"""Feedback requests, 1:1 check-in reminders and pay approval steps: real NATS (the feedback and
rewards streams, events as those services publish them) and a real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from notifications.kinds import (
    APPROVAL_ESCALATED,
    APPROVAL_OPENED,
    APPROVAL_REMINDED,
    CHECKIN_REMINDER,
    FEEDBACK_REMINDER,
    FEEDBACK_REQUESTED,
    PAY_CHANGE_WRITTEN,
)
from notifications.models import Notification
from tests.conftest import TokenFactory
from tests.notifications.conftest import WEB, Notifier, plain

pytestmark = pytest.mark.database

# The clock stands at 10:00 UTC on Thursday 14 Jan 2027; Berlin's next 08:00 is 07:00 UTC on the 15th.
BERLIN_DIGEST = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)


def requested(request_id: uuid.UUID, requester: uuid.UUID, *recipients: uuid.UUID) -> dict[str, object]:
    """What ``meritloop.feedback.feedback.requested`` carries (services/feedback/events.py): ids and a day."""
    return {
        "id": str(request_id),
        "requester_id": str(requester),
        "recipient_ids": [str(r) for r in recipients],
        "due_on": "2027-01-20",
    }


def reminder(request_id: uuid.UUID, person: uuid.UUID) -> dict[str, object]:
    return {"id": str(uuid.uuid4()), "request_id": str(request_id), "person_id": str(person), "due_on": "2027-01-20"}


def approval(cycle: uuid.UUID, manager: uuid.UUID, person: uuid.UUID | None) -> dict[str, object]:
    """What ``meritloop.rewards.approval-step.*`` carries (services/rewards/approvals/service.py)."""
    return {
        "chain_id": str(uuid.uuid4()),
        "cycle_id": str(cycle),
        "manager_id": str(manager),
        "step_index": 0,
        "round": 1,
        "person_id": str(person) if person else None,
    }


async def test_a_feedback_request_reaches_each_person_asked_in_their_digest_and_language(notifier: Notifier) -> None:
    ada = await notifier.person("Ada Lovelace")
    grace = await notifier.person("Grace Hopper")
    greta = await notifier.person("Greta Vogel", locale="de-DE")
    await notifier.known(ada, grace, greta)
    request = uuid.uuid4()

    event = await notifier.publish(FEEDBACK_REQUESTED, requested(request, ada, grace, greta))
    await notifier.queued(2)
    await notifier.settle()
    assert notifier.inbox.mails == [], "a request waits for the digest"

    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(2)
    [english] = notifier.inbox.to("grace@example.com")
    [german] = notifier.inbox.to("greta@example.com")
    assert notifier.inbox.to("ada@example.com") == [], "the requester is not told of their own request"
    assert "Ada Lovelace asked you for feedback, by 20 Jan 2027." in plain(english)
    assert f"Open it: {WEB}/feedback/requests" in plain(english)
    assert german["Subject"] == "Meritloop: 1 Neuigkeit(en) für Sie"
    assert "Ada Lovelace bittet Sie bis 20.01.2027 um Feedback." in plain(german)
    assert german["Content-Language"] == "de"

    # Redelivered (a relay crash beyond the duplicate window): nobody is mailed twice.
    await notifier.send(event)
    await notifier.settle(5)
    assert len(notifier.inbox.mails) == 2
    async with notifier.app.state.sessionmaker() as session:
        rows = list(await session.scalars(select(Notification).where(Notification.event_id == event.id)))
    assert sorted(str(row.person_id) for row in rows) == sorted([str(grace), str(greta)])


async def test_a_feedback_reminder_names_who_asked_and_can_be_opted_out_of(
    notifier: Notifier, auth: TokenFactory
) -> None:
    ada = await notifier.person("Ada Lovelace")
    grace = await notifier.person("Grace Hopper")
    alan = await notifier.person("Alan Turing")
    await notifier.known(ada, grace, alan)
    request = uuid.uuid4()
    opted = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["feedback_reminder"]}, headers=auth(person_id=alan)
    )
    assert opted.status_code == 200, opted.text

    await notifier.publish(FEEDBACK_REQUESTED, requested(request, ada, grace, alan))
    await notifier.publish(FEEDBACK_REMINDER, reminder(request, grace))
    await notifier.publish(FEEDBACK_REMINDER, reminder(request, alan))
    await notifier.queued(4)
    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(2)

    [digest] = notifier.inbox.to("grace@example.com")
    body = plain(digest)
    assert digest["Subject"] == "Meritloop: 2 update(s) for you"
    # The reminder names the request only; who asked comes from the request's own notification.
    assert "Reminder: Ada Lovelace is waiting for your feedback, due 20 Jan 2027." in body
    assert body.count(f"{WEB}/feedback/requests") == 2
    [alans] = notifier.inbox.to("alan@example.com")
    assert alans["Subject"] == "Meritloop: 1 update(s) for you"
    assert "Reminder" not in plain(alans)


async def test_a_reminder_of_a_request_never_seen_still_reads_well(notifier: Notifier) -> None:
    grace = await notifier.person("Grace Hopper", locale="de")
    await notifier.known(grace)
    await notifier.publish(FEEDBACK_REMINDER, reminder(uuid.uuid4(), grace))
    await notifier.queued(1)
    notifier.clock.advance_to(BERLIN_DIGEST)
    [mail] = await notifier.mails(1)
    assert "Erinnerung: Eine Bitte um Ihr Feedback ist am 20.01.2027 fällig." in plain(mail)


async def test_a_checkin_reminder_goes_at_once_to_both_and_names_the_other(
    notifier: Notifier, auth: TokenFactory
) -> None:
    boss = await notifier.person("Grace Hopper", timezone="America/New_York")
    ada = await notifier.person("Ada Lovelace", locale="de-DE", manager_id=boss)
    await notifier.known(boss, ada)
    series = uuid.uuid4()
    starts = datetime(2027, 1, 14, 11, 0, tzinfo=UTC)
    data = {
        "id": str(uuid.uuid4()),
        "series_id": str(series),
        "occurrence_id": str(uuid.uuid4()),
        "recurrence_id": "20270114T110000Z",
        "manager_id": str(boss),
        "report_id": str(ada),
        "starts_at": starts.isoformat(),
    }
    await notifier.publish(CHECKIN_REMINDER, data)

    await notifier.mails(2)  # at 10:00 UTC: an hour before, not at tomorrow's digest hour
    [manager] = notifier.inbox.to("grace@example.com")
    [report] = notifier.inbox.to("ada@example.com")
    assert manager["Subject"] == "Reminder: 1:1 with Ada Lovelace, 14 Jan 2027, 06:00"
    assert manager["X-Meritloop-Kind"] == "checkin_reminder"
    assert "Your 1:1 with Ada Lovelace starts 14 Jan 2027, 06:00 (America/New_York)." in plain(manager)
    assert f"Open it: {WEB}/checkins/{series}" in plain(manager)
    assert f"Choose what you receive: {WEB}/notifications" in plain(manager)
    assert report["Subject"] == "Erinnerung: 1:1-Gespräch mit Grace Hopper, 14.01.2027, 12:00"
    assert "Ihr 1:1-Gespräch mit Grace Hopper beginnt am 14.01.2027, 12:00 (Europe/Berlin)." in plain(report)

    # Opted out: the next meeting's reminder reaches the manager only.
    opted = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["checkin_reminder"]}, headers=auth(person_id=ada)
    )
    assert opted.status_code == 200, opted.text
    await notifier.publish(CHECKIN_REMINDER, {**data, "id": str(uuid.uuid4())})
    await notifier.mails(3)
    await notifier.settle(5)
    assert len(notifier.inbox.to("grace@example.com")) == 2
    assert len(notifier.inbox.to("ada@example.com")) == 1


async def test_approval_steps_wait_for_the_digest_and_an_escalation_goes_at_once(
    notifier: Notifier, auth: TokenFactory
) -> None:
    hr = await notifier.person("Katherine Johnson")
    skip = await notifier.person("Grace Hopper", locale="de-CH")
    boss = await notifier.person("Alan Turing", manager_id=skip)
    await notifier.known(hr, skip, boss)
    cycle = uuid.uuid4()
    opted = await notifier.client.put(
        "/notification-preferences/me",
        json={"opted_out": ["approval_step", "approval_reminder"]},
        headers=auth(person_id=hr),
    )
    assert opted.status_code == 200, opted.text

    await notifier.publish(APPROVAL_OPENED, approval(cycle, boss, skip))
    await notifier.publish(APPROVAL_REMINDED, approval(cycle, boss, skip))
    await notifier.publish(APPROVAL_OPENED, approval(cycle, boss, None))  # names nobody: nothing to send
    await notifier.publish(APPROVAL_ESCALATED, approval(cycle, boss, hr))
    await notifier.publish(APPROVAL_REMINDED, approval(cycle, boss, hr))

    # The escalation at once, though HR chose no approval mails: escalations are always sent.
    [escalated] = await notifier.mails(1)
    assert escalated["To"] == "katherine@example.com"
    assert escalated["Subject"] == "Overdue: Pay approval for the team of Alan Turing"
    assert escalated["X-Meritloop-Kind"] == "escalation"
    assert "It has been escalated to you." in plain(escalated)
    assert f"Open it: {WEB}/approvals/{cycle}/{boss}" in plain(escalated)
    assert "Escalations are always sent." in plain(escalated)
    await notifier.queued(4)

    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(2)
    [digest] = notifier.inbox.to("grace@example.com")
    body = plain(digest)
    assert "Gehaltsfreigabe: Die Vorschläge für das Team von Alan Turing warten auf Ihre Entscheidung." in body
    assert "Erinnerung: Die Gehaltsvorschläge für das Team von Alan Turing warten noch auf Ihre Entscheidung." in body
    assert body.count(f"{WEB}/approvals/{cycle}/{boss}") == 2
    await notifier.settle(5)
    assert len(notifier.inbox.to("katherine@example.com")) == 1, "her approval reminder was opted out of"


async def test_each_person_raised_learns_the_day_their_new_pay_applies_from(
    notifier: Notifier, auth: TokenFactory
) -> None:
    """What ``meritloop.rewards.pay-change.written`` carries (services/rewards/pay_changes/service.py):
    ids and a day, never the amount; in the digest, in the person's language, linking to My pay."""
    ada = await notifier.person("Ada Lovelace")
    grace = await notifier.person("Grace Hopper", locale="de-DE")
    alan = await notifier.person("Alan Turing")
    await notifier.known(ada, grace, alan)
    opted = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["pay_change"]}, headers=auth(person_id=alan)
    )
    assert opted.status_code == 200, opted.text
    cycle = str(uuid.uuid4())
    told = {}
    for person in (ada, grace, alan):
        data = {"cycle_id": cycle, "person_id": str(person), "effective_date": "2027-02-01"}
        told[person] = await notifier.publish(PAY_CHANGE_WRITTEN, data)
    await notifier.queued(3)  # Alan's too: his choice is applied when the digest is sent

    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(2)
    [english] = notifier.inbox.to("ada@example.com")
    body = plain(english)
    assert "Your new pay from the review cycle applies from 01 Feb 2027. Your statement shows the details." in body
    assert f"Open it: {WEB}/statements" in body
    [german] = notifier.inbox.to("grace@example.com")
    assert "Ihr neues Gehalt aus dem Beurteilungszyklus gilt ab dem 01.02.2027." in plain(german)
    # Redelivered: not mailed twice; and Alan chose not to be told.
    await notifier.send(told[ada])
    await notifier.settle(5)
    assert len(notifier.inbox.mails) == 2
    assert notifier.inbox.to("alan@example.com") == []


async def test_escalations_cannot_be_opted_out_of_and_new_kinds_can(notifier: Notifier, auth: TokenFactory) -> None:
    ada = await notifier.person("Ada Lovelace")
    await notifier.known(ada)
    refused = await notifier.client.put(
        "/notification-preferences/me",
        json={"opted_out": ["feedback_request", "escalation"]},
        headers=auth(person_id=ada),
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "opted_out.1" in refused.text  # the place in the list as sent
    chosen = await notifier.client.put(
        "/notification-preferences/me",
        json={"opted_out": ["approval_step", "checkin_reminder", "feedback_request"]},
        headers=auth(person_id=ada),
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["opted_out"] == ["approval_step", "checkin_reminder", "feedback_request"]
