"""Rating disputes: HR is reminded in the digest before the due date, and the escalation past it is
mailed at once to its target (real NATS, the reviews stream, a real SMTP server).

The events' data is what ``services.reviews.cycles.service.sweep_disputes`` writes (ids and
times only; tests/disputes checks that side).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from notifications.kinds import DISPUTE_ESCALATED, DISPUTE_REMINDED
from tests.conftest import TokenFactory
from tests.notifications.conftest import WEB, Notifier, plain

pytestmark = pytest.mark.database

# The clock stands at 10:00 UTC on Thursday 14 Jan 2027; Berlin's next 08:00 is 07:00 UTC on the 15th.
BERLIN_DIGEST = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)
DUE = "2027-01-16T16:00:00+00:00"


def dispute(person: uuid.UUID, assignee: uuid.UUID, dispute_id: uuid.UUID) -> dict[str, object]:
    return {
        "dispute_id": str(dispute_id),
        "cycle_id": str(uuid.uuid4()),
        "person_id": str(person),
        "assignee_id": str(assignee),
        "status": "open",
        "outcome": None,
        "due_at": DUE,
    }


async def hr_line(notifier: Notifier, boss_name: str, **boss: Any) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """(boss, Hanna the HR owner under them, Ada who disputes), all known to notifications."""
    top = await notifier.person(boss_name, **boss)
    hanna = await notifier.person("Hanna Schmidt", manager_id=top)
    ada = await notifier.person("Ada Lovelace")
    await notifier.known(top, hanna, ada)
    return top, hanna, ada


async def test_the_reminder_reaches_the_assignee_in_the_digest_and_the_escalation_its_target_at_once(
    notifier: Notifier, auth: TokenFactory
) -> None:
    boss, hanna, ada = await hr_line(notifier, "Alan Turing", locale="de-DE")
    first, second = uuid.uuid4(), uuid.uuid4()

    reminded = await notifier.publish(DISPUTE_REMINDED, {**dispute(ada, hanna, first), "reminded_at": DUE})
    escalated = {**dispute(ada, hanna, second), "escalated_at": DUE, "notified_ids": [str(boss)]}
    await notifier.publish(DISPUTE_ESCALATED, escalated)

    # The escalation at once, in the target's language; the reminder waits for the digest.
    [mail] = await notifier.mails(1)
    assert mail["To"] == "alan@example.com"
    assert mail["X-Meritloop-Kind"] == "escalation"
    assert mail["Subject"] == "Überfällig: Einspruch gegen eine Bewertung von Ada Lovelace"
    text = plain(mail)
    assert "Ein Einspruch gegen eine Bewertung von Ada Lovelace war am 16.01.2027, 17:00" in text
    assert f"Öffnen: {WEB}/hr/disputes" in text
    assert "Eskalationen werden immer gesendet." in text
    await notifier.queued(2)

    notifier.clock.advance_to(BERLIN_DIGEST)
    mails = await notifier.mails(2)
    [digest] = [m for m in mails if m["To"] == "hanna@example.com"]
    body = plain(digest)
    assert "Reminder: a rating dispute by Ada Lovelace waits for your answer, due 16 Jan 2027, 17:00" in body
    assert f"Open it: {WEB}/hr/disputes" in body
    assert notifier.inbox.to("ada@example.com") == [], "the disputing person is not told of HR's reminders"

    # Redelivered: nobody is mailed twice.
    await notifier.send(reminded)
    await notifier.settle()
    assert len(notifier.inbox.mails) == 2


async def test_an_assignee_who_opted_out_of_dispute_reminders_gets_none_but_escalations_still_go(
    notifier: Notifier, auth: TokenFactory
) -> None:
    boss, hanna, ada = await hr_line(notifier, "Alan Turing")
    for who in (hanna, boss):
        opted = await notifier.client.put(
            "/notification-preferences/me", json={"opted_out": ["dispute_reminder"]}, headers=auth(person_id=who)
        )
        assert opted.status_code == 200, opted.text

    await notifier.publish(DISPUTE_REMINDED, {**dispute(ada, hanna, uuid.uuid4()), "reminded_at": DUE})
    escalated = {**dispute(ada, hanna, uuid.uuid4()), "escalated_at": DUE, "notified_ids": [str(boss)]}
    await notifier.publish(DISPUTE_ESCALATED, escalated)
    [mail] = await notifier.mails(1)
    assert (mail["To"], mail["Subject"]) == ("alan@example.com", "Overdue: a rating dispute by Ada Lovelace")
    await notifier.queued(2)
    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.settle()
    assert notifier.inbox.to("hanna@example.com") == [], "Hanna chose no dispute reminders"


async def test_a_repeated_escalation_says_how_often_it_was_escalated_before(
    notifier: Notifier, auth: TokenFactory
) -> None:
    ceo, hanna, ada = await hr_line(notifier, "Cecilia Payne")
    same = uuid.uuid4()
    for escalation in (2, 3):
        data = {**dispute(ada, hanna, same), "escalated_at": DUE, "escalation": escalation, "notified_ids": [str(ceo)]}
        await notifier.publish(DISPUTE_ESCALATED, data)

    mails = await notifier.mails(2)
    assert [mail["To"] for mail in mails] == ["cecilia@example.com"] * 2, "each escalation of one dispute is mailed"
    texts = sorted(plain(mail) for mail in mails)
    assert "It had been escalated 1 time(s) before." in texts[0]
    assert "It had been escalated 2 time(s) before." in texts[1]
