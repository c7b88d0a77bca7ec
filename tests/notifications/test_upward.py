"""Upward feedback: a pulse opened for people, its closing time moved later, and a manager's released
results reach them in their digest; a cancelled pulse's invitations not mailed yet never are (real
NATS, the feedback stream as that service publishes it, a real SMTP server)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from notifications.kinds import UPWARD_CANCELLED, UPWARD_EXTENDED, UPWARD_OPENED, UPWARD_RELEASED
from notifications.models import Notification
from tests.conftest import TokenFactory
from tests.notifications.conftest import WEB, Notifier, plain
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

# The clock stands at 10:00 UTC on Thursday 14 Jan 2027; Berlin's next 08:00 is 07:00 UTC on the 15th.
BERLIN_DIGEST = datetime(2027, 1, 15, 7, 0, tzinfo=UTC)


def opened(pulse: uuid.UUID, *people: uuid.UUID) -> dict[str, object]:
    """What ``meritloop.feedback.upward-pulse.opened`` carries (services/feedback/upward/announce.py)."""
    return {"pulse_id": str(pulse), "closes_at": "2027-01-22T16:00:00+00:00", "person_ids": [str(p) for p in people]}


async def test_an_opened_pulse_tells_each_person_until_when_and_results_tell_the_manager(
    notifier: Notifier, auth: TokenFactory
) -> None:
    boss = await notifier.person("Alan Turing")
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    greta = await notifier.person("Greta Vogel", locale="de-DE", manager_id=boss)
    grace = await notifier.person("Grace Hopper", manager_id=boss)
    await notifier.known(boss, ada, greta, grace)
    opted = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["upward_feedback"]}, headers=auth(person_id=grace)
    )
    assert opted.status_code == 200, opted.text
    pulse = uuid.uuid4()

    event = await notifier.publish(UPWARD_OPENED, opened(pulse, ada, greta, grace))
    await notifier.publish(UPWARD_RELEASED, {"pulse_id": str(pulse), "manager_ids": [str(boss)]})
    await notifier.queued(4)
    await notifier.settle()
    assert notifier.inbox.mails == [], "both wait for the digest"

    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(3)
    [english] = notifier.inbox.to("ada@example.com")
    [german] = notifier.inbox.to("greta@example.com")
    [manager] = notifier.inbox.to("alan@example.com")
    assert notifier.inbox.to("grace@example.com") == [], "Grace chose no upward feedback mails"
    text = plain(english)
    assert "You may now give anonymous feedback on your manager, until 22 Jan 2027, 17:00 (Europe/Berlin)." in text
    assert f"Open it: {WEB}/upward\r\n" in text
    german_text = "Sie können jetzt anonym Feedback zu Ihrer Führungskraft geben, bis 22.01.2027, 17:00"
    assert german_text in plain(german)
    assert german["Content-Language"] == "de"
    results = plain(manager)
    assert "The results of an upward feedback about you are ready." in results
    assert f"Open it: {WEB}/upward/{pulse}/results" in results
    # The manager's mail names nobody who answered.
    assert "Ada" not in results
    assert "Greta" not in results

    # Redelivered: nobody is mailed twice.
    await notifier.send(event)
    await notifier.settle()
    assert len(notifier.inbox.mails) == 3


async def test_a_moved_closing_time_tells_each_person_the_new_one(notifier: Notifier) -> None:
    boss = await notifier.person("Alan Turing")
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    greta = await notifier.person("Greta Vogel", locale="de-DE", manager_id=boss)
    await notifier.known(boss, ada, greta)
    moved = {**opened(uuid.uuid4(), ada, greta), "closes_at": "2027-01-29T16:00:00+00:00"}
    await notifier.publish(UPWARD_EXTENDED, moved)
    await notifier.queued(2)
    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(2)
    [english] = notifier.inbox.to("ada@example.com")
    [german] = notifier.inbox.to("greta@example.com")
    text = plain(english)
    assert "The anonymous feedback on your manager now stays open until 29 Jan 2027, 17:00 (Europe/Berlin)." in text
    assert f"Open it: {WEB}/upward\r\n" in text
    assert "Das anonyme Feedback zu Ihrer Führungskraft ist jetzt bis 29.01.2027, 17:00" in plain(german)
    assert notifier.inbox.to("alan@example.com") == []


async def states_of(notifier: Notifier, pulse: uuid.UUID) -> list[str]:
    async with notifier.app.state.sessionmaker() as session:
        rows = await session.scalars(select(Notification).order_by(Notification.created_at))
        return [row.state for row in rows if row.data.get("pulse_id") == str(pulse)]


async def test_a_cancelled_pulse_withdraws_its_invitations_not_mailed_yet(notifier: Notifier) -> None:
    boss = await notifier.person("Alan Turing")
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    greta = await notifier.person("Greta Vogel", locale="de-DE", manager_id=boss)
    await notifier.known(boss, ada, greta)
    # One pulse mailed in the first digest; it is cancelled only afterwards.
    mailed = uuid.uuid4()
    await notifier.publish(UPWARD_OPENED, opened(mailed, ada))
    await notifier.queued(1)
    notifier.clock.advance_to(BERLIN_DIGEST)
    await notifier.mails(1)

    # Two more pulses; one of them, opened and then moved later, is cancelled before the next digest.
    cancelled, kept = uuid.uuid4(), uuid.uuid4()
    await notifier.publish(UPWARD_OPENED, opened(cancelled, ada, greta))
    await notifier.publish(UPWARD_EXTENDED, {**opened(cancelled, ada, greta), "closes_at": "2027-01-29T16:00:00+00:00"})
    await notifier.publish(UPWARD_OPENED, opened(kept, greta))
    await notifier.queued(6)
    event = await notifier.publish(UPWARD_CANCELLED, {"pulse_id": str(cancelled)})
    await notifier.publish(UPWARD_CANCELLED, {"pulse_id": str(mailed)})

    async def withdrawn() -> bool:
        return await states_of(notifier, cancelled) == ["withdrawn"] * 4

    await wait_until(withdrawn, timeout=10, message="the cancelled pulse's invitations withdrawn")
    # Redelivered: nothing more changes; the invitation mailed before the cancellation stays in the log.
    await notifier.send(event)
    await notifier.settle()
    assert await states_of(notifier, mailed) == ["mailed"]
    assert await states_of(notifier, kept) == ["pending"]

    notifier.clock.advance_to(datetime(2027, 1, 16, 8, 0, tzinfo=UTC))
    await notifier.mails(2)
    await notifier.settle()
    assert len(notifier.inbox.to("ada@example.com")) == 1, "only the invitation mailed before the cancellation"
    [german] = notifier.inbox.to("greta@example.com")
    assert "Sie können jetzt anonym Feedback zu Ihrer Führungskraft geben, bis 22.01.2027" in plain(german)
    assert "29.01.2027" not in plain(german)
    assert await states_of(notifier, cancelled) == ["withdrawn"] * 4
