"""Mails through real NATS and a real SMTP server: escalations at once, digests at the hour, opt-out,
no duplicate on redelivery, the person's language."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from notifications.htmlmail import to_html
from notifications.kinds import GATE_ESCALATED, GATE_REMINDER, TASK_CREATED, TASK_ESCALATED, TASK_REMINDER
from notifications.models import Delivery
from tests.conftest import TokenFactory
from tests.notifications.conftest import DUE, WEB, Notifier, plain, task_data

pytestmark = pytest.mark.database


def escalation(task_id: str, *, person_id: uuid.UUID, notified_id: uuid.UUID, cycle_id: uuid.UUID) -> dict[str, object]:
    """What ``meritloop.reviews.task.escalated`` carries: the task's fields and the escalation entry."""
    data = task_data(
        task_id, step="manager_review", person_id=person_id, assignee_id=notified_id, due_at=DUE, cycle_id=cycle_id
    )
    return {**data, "status": "escalated", "index": 0, "target": "skip_level", "notified_id": str(notified_id)}


async def test_an_escalation_is_mailed_at_once_with_a_link(notifier: Notifier, auth: TokenFactory) -> None:
    boss = await notifier.person("Grace Hopper")
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    await notifier.known(boss, ada)
    cycle, task = uuid.uuid4(), f"t-{uuid.uuid4()}"

    await notifier.publish(TASK_ESCALATED, escalation(task, person_id=ada, notified_id=boss, cycle_id=cycle))

    [mail] = await notifier.mails(1)
    assert mail["To"] == "grace@example.com"
    assert mail["From"] == "Meritloop <noreply@meritloop.example>"
    assert mail["Subject"] == "Overdue: Manager review for Ada Lovelace"
    assert mail["Auto-Submitted"] == "auto-generated"
    body = plain(mail)
    assert body.startswith("Hello Grace Hopper,")
    assert "was due 15 Jan 2027, 17:00 (Europe/Berlin)" in body
    assert f"Open it: {WEB}/tasks/{task}" in body
    # Sent without waiting for anyone's digest hour (the clock stands at 10:00 UTC).
    assert notifier.clock.now == datetime(2027, 1, 14, 10, 0, tzinfo=UTC)

    log = await notifier.client.get(f"/people/{boss}/deliveries", headers=auth(person_id=boss))
    assert log.status_code == 200, log.text
    [entry] = log.json()["items"]
    assert (entry["kind"], entry["status"], entry["attempts"]) == ("escalation", "sent", 1)
    assert entry["subject"] == mail["Subject"]


async def test_a_mail_is_its_text_and_html_laid_out_from_that_text(notifier: Notifier) -> None:
    chef = await notifier.person("Greta Vogel", locale="de-DE")
    ada = await notifier.person("Ada <script>alert(1)</script> & Bob", manager_id=chef)
    await notifier.known(chef, ada)
    task = f"t-{uuid.uuid4()}"

    await notifier.publish(TASK_ESCALATED, escalation(task, person_id=ada, notified_id=chef, cycle_id=uuid.uuid4()))

    [mail] = await notifier.mails(1)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Content-Language"] == "de"
    text, html = mail.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    async with notifier.app.state.sessionmaker() as session:
        [delivery] = list(await session.scalars(select(Delivery)))
    # The text part is the text the delivery log keeps, as before; SMTP carries it with CRLF.
    assert text.get_content() == plain(mail)
    assert plain(mail).replace("\r\n", "\n") == delivery.body
    assert plain(mail).startswith("Hallo Greta Vogel,")
    assert "Führungskraft für Ada <script>alert(1)</script> & Bob war am 15.01.2027, 17:00" in plain(mail)

    page = html.get_content()
    assert html["Content-Language"] == "de"
    assert '<html lang="de">' in page
    assert page.replace("\r\n", "\n") == to_html(delivery.body, language="de")
    assert "<script>" not in page
    assert "<p>Hallo Greta Vogel,</p>" in page
    assert (
        "für Ada &lt;script&gt;alert(1)&lt;/script&gt; &amp; Bob war am 15.01.2027, 17:00 (Europe/Berlin) fällig"
        in page
    )
    assert f'Öffnen: <a href="{WEB}/tasks/{task}">{WEB}/tasks/{task}</a>' in page
    assert "<p>Eskalationen werden immer gesendet.</p>" in page


async def test_a_gate_escalation_reaches_hr_at_once(notifier: Notifier) -> None:
    hr = await notifier.person("Katherine Johnson", timezone="America/New_York")
    await notifier.known(hr)
    cycle = uuid.uuid4()
    data = {"cycle_id": str(cycle), "step": "calibration", "escalation_index": 0, "target": "hr"}
    await notifier.publish(GATE_ESCALATED, {**data, "notified_id": str(hr), "pending": ["s1", "s2"]})

    [mail] = await notifier.mails(1)
    assert mail["Subject"] == "Overdue: Calibration"
    assert "2 item(s) are still open" in plain(mail)
    assert f"{WEB}/cycles/{cycle}" in plain(mail)


async def test_tasks_and_reminders_wait_for_the_digest_hour_in_the_persons_time_zone(notifier: Notifier) -> None:
    ada = await notifier.person("Ada Lovelace", timezone="Europe/Berlin")
    tokyo = await notifier.person("Yoshi Tanaka", timezone="Asia/Tokyo")
    await notifier.known(ada, tokyo)
    cycle = uuid.uuid4()
    for person, task in ((ada, "t-ada"), (tokyo, "t-tokyo")):
        data = task_data(task, step="self_assessment", person_id=person, assignee_id=person, due_at=DUE, cycle_id=cycle)
        await notifier.publish(TASK_CREATED, data)
    await notifier.publish(
        TASK_REMINDER, {"task_id": "t-ada", "assignee_id": str(ada), "due_at": DUE.isoformat(), "number": 1}
    )
    await notifier.queued(3)
    await notifier.settle()
    assert notifier.inbox.mails == []  # 10:00 UTC: 11:00 in Berlin, 19:00 in Tokyo; both past 08:00

    # 08:00 in Tokyo on the 15th is 23:00 UTC on the 14th; Berlin's 08:00 is 07:00 UTC on the 15th.
    notifier.clock.advance_to(datetime(2027, 1, 14, 22, 59, tzinfo=UTC))
    await notifier.settle()
    assert notifier.inbox.mails == []
    notifier.clock.advance_to(datetime(2027, 1, 14, 23, 0, tzinfo=UTC))
    [first] = await notifier.mails(1)
    assert first["To"] == "yoshi@example.com"

    notifier.clock.advance_to(datetime(2027, 1, 15, 6, 59, tzinfo=UTC))
    await notifier.settle()
    assert len(notifier.inbox.mails) == 1
    notifier.clock.advance_to(datetime(2027, 1, 15, 7, 0, tzinfo=UTC))
    mails = await notifier.mails(2)
    [digest] = notifier.inbox.to("ada@example.com")
    assert len(mails) == 2
    assert digest["Subject"] == "Meritloop: 2 update(s) for you"
    body = plain(digest)
    # One mail, both events, each with the page that acts on it.
    assert "New task: Self-assessment, due 15 Jan 2027, 17:00 (Europe/Berlin)." in body
    # The reminder names its task only; the step comes from the task's own notification.
    assert "Reminder: Self-assessment is due 15 Jan 2027, 17:00 (Europe/Berlin)." in body
    assert body.count(f"{WEB}/tasks/t-ada") == 2
    assert f"Choose what you receive: {WEB}/notifications" in body


async def test_a_chosen_digest_hour_moves_waiting_items(notifier: Notifier, auth: TokenFactory) -> None:
    ada = await notifier.person("Ada Lovelace", timezone="Europe/Berlin")
    await notifier.known(ada)
    data = task_data("t1", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=uuid.uuid4())
    await notifier.publish(TASK_CREATED, data)
    await notifier.queued(1)
    response = await notifier.client.put(
        "/notification-preferences/me", json={"digest_hour": 17}, headers=auth(person_id=ada)
    )
    assert response.status_code == 200, response.text
    assert response.json()["effective_digest_hour"] == 17
    assert response.json()["time_zone"] == "Europe/Berlin"
    # 17:00 in Berlin on the 14th is 16:00 UTC, the same day: earlier than the default 08:00 next day.
    notifier.clock.advance_to(datetime(2027, 1, 14, 15, 59, tzinfo=UTC))
    await notifier.settle()
    assert notifier.inbox.mails == []
    notifier.clock.advance_to(datetime(2027, 1, 14, 16, 0, tzinfo=UTC))
    [mail] = await notifier.mails(1)
    assert "New task: Self-assessment" in plain(mail)


async def test_opting_out_of_a_kind_but_never_of_escalations(notifier: Notifier, auth: TokenFactory) -> None:
    ada = await notifier.person("Ada Lovelace")
    boss = await notifier.person("Grace Hopper")
    await notifier.known(ada, boss)
    me = auth(person_id=ada)

    refused = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["task_reminder", "escalation"]}, headers=me
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "opted_out.1"  # the place in the list as sent
    assert "always sent" in refused.json()["errors"][0]["message"]
    unknown = await notifier.client.put("/notification-preferences/me", json={"opted_out": ["praise"]}, headers=me)
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "opted_out.0"

    chosen = await notifier.client.put(
        "/notification-preferences/me", json={"opted_out": ["task_reminder", "gate_reminder"]}, headers=me
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["opted_out"] == ["gate_reminder", "task_reminder"]
    assert (await notifier.client.get("/notification-preferences/me", headers=me)).json()["opted_out"] == [
        "gate_reminder",
        "task_reminder",
    ]

    cycle = uuid.uuid4()
    created = task_data("t1", step="self_assessment", person_id=ada, assignee_id=ada, due_at=DUE, cycle_id=cycle)
    await notifier.publish(TASK_CREATED, created)
    await notifier.publish(
        TASK_REMINDER, {"task_id": "t1", "assignee_id": str(ada), "due_at": DUE.isoformat(), "number": 1}
    )
    gate = {"cycle_id": str(cycle), "step": "calibration", "number": 1, "due_at": DUE.isoformat(), "pending": ["s"]}
    await notifier.publish(GATE_REMINDER, {**gate, "notified_id": str(ada)})
    await notifier.publish(TASK_ESCALATED, escalation("t2", person_id=boss, notified_id=ada, cycle_id=cycle))

    [urgent] = await notifier.mails(1)
    assert urgent["Subject"].startswith("Overdue: Manager review")
    notifier.clock.advance_to(datetime(2027, 1, 15, 7, 0, tzinfo=UTC))
    mails = await notifier.mails(2)
    assert len(mails) == 2
    digest = plain(mails[1])
    assert mails[1]["Subject"] == "Meritloop: 1 update(s) for you"
    assert "New task: Self-assessment" in digest
    assert "Reminder" not in digest
    assert "Calibration" not in digest


async def test_a_redelivered_event_sends_no_second_mail(notifier: Notifier) -> None:
    boss = await notifier.person("Grace Hopper")
    ada = await notifier.person("Ada Lovelace", manager_id=boss)
    await notifier.known(boss, ada)
    event = await notifier.publish(
        TASK_ESCALATED, escalation("t1", person_id=ada, notified_id=boss, cycle_id=uuid.uuid4())
    )
    await notifier.mails(1)
    # The same event again, as JetStream redelivers it when an ack was lost, and once more later.
    await notifier.send(event)
    await notifier.send(event)
    await notifier.settle(rounds=10)
    handled = sum(consumer.handled for consumer in notifier.app.state.consumers)
    assert handled >= 5  # two people, three copies: every copy was consumed ...
    assert len(notifier.inbox.mails) == 1  # ... and one mail went out


async def test_a_refused_mail_is_retried_and_sent_once(notifier: Notifier) -> None:
    boss = await notifier.person("Grace Hopper")
    await notifier.known(boss)
    notifier.inbox.refuse = 1
    cycle = uuid.uuid4()
    gate = {"cycle_id": str(cycle), "step": "pay_approval", "escalation_index": 0, "target": "hr", "pending": ["u"]}
    await notifier.publish(GATE_ESCALATED, {**gate, "notified_id": str(boss)})
    await notifier.settle(rounds=5)
    assert notifier.inbox.refused == 1
    assert notifier.inbox.mails == []
    async with notifier.app.state.sessionmaker() as session:
        [delivery] = list(await session.scalars(select(Delivery)))
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert "451" in (delivery.last_error or "")
    # The back-off (10 s after the first failure) passes on the component's clock.
    notifier.clock.advance_to(notifier.clock.now + timedelta(seconds=10))
    [mail] = await notifier.mails(1)
    assert mail["Subject"] == "Overdue: Pay approval"
    async with notifier.app.state.sessionmaker() as session:
        [delivery] = list(await session.scalars(select(Delivery)))
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)


async def test_mails_are_in_the_persons_language(notifier: Notifier) -> None:
    chef = await notifier.person("Greta Vogel", locale="de-DE", timezone="Europe/Berlin")
    ada = await notifier.person("Ada Lovelace", manager_id=chef, locale="en-GB")
    await notifier.known(chef, ada)
    cycle = uuid.uuid4()
    await notifier.publish(TASK_ESCALATED, escalation("t1", person_id=ada, notified_id=chef, cycle_id=cycle))
    created = task_data("t2", step="manager_review", person_id=ada, assignee_id=chef, due_at=DUE, cycle_id=cycle)
    await notifier.publish(TASK_CREATED, created)
    reminder = {"task_id": "t2", "assignee_id": str(chef), "due_at": DUE.isoformat(), "number": 1}
    await notifier.publish(TASK_REMINDER, reminder)

    [urgent] = await notifier.mails(1)
    assert urgent["Subject"] == "Überfällig: Beurteilung durch die Führungskraft für Ada Lovelace"
    assert urgent["Content-Language"] == "de"
    body = plain(urgent)
    assert body.startswith("Hallo Greta Vogel,")
    assert "war am 15.01.2027, 17:00 (Europe/Berlin) fällig" in body
    assert "Eskalationen werden immer gesendet." in body

    notifier.clock.advance_to(datetime(2027, 1, 15, 7, 0, tzinfo=UTC))
    mails = await notifier.mails(2)
    digest = mails[1]
    assert digest["Subject"] == "Meritloop: 2 Neuigkeit(en) für Sie"
    assert "Erinnerung: Beurteilung durch die Führungskraft für Ada Lovelace ist am 15.01.2027, 17:00" in (
        plain(digest)
    )
    assert "Neue Aufgabe: Beurteilung durch die Führungskraft für Ada Lovelace, fällig am 15.01.2027" in plain(digest)
    assert f"Öffnen: {WEB}/tasks/t2" in plain(digest)


async def test_a_deactivated_person_gets_no_mail(notifier: Notifier) -> None:
    ada = await notifier.person("Ada Lovelace")
    await notifier.known(ada)
    await notifier.publish_person(ada, "Ada Lovelace", active=False)
    await notifier.known(ada)
    await notifier.publish(TASK_ESCALATED, escalation("t1", person_id=ada, notified_id=ada, cycle_id=uuid.uuid4()))
    await notifier.queued(1)
    await notifier.settle(rounds=5)
    assert notifier.inbox.mails == []


async def test_a_mail_waits_for_the_directory_to_name_its_recipient(notifier: Notifier) -> None:
    known = await notifier.person("Grace Hopper")
    await notifier.known(known)
    stranger = uuid.uuid4()
    cycle = uuid.uuid4()
    await notifier.publish(TASK_ESCALATED, escalation("t1", person_id=known, notified_id=stranger, cycle_id=cycle))
    await notifier.publish(TASK_ESCALATED, escalation("t2", person_id=stranger, notified_id=known, cycle_id=cycle))
    # The known recipient's mail is not held up by the one without an address.
    [first] = await notifier.mails(1)
    assert first["To"] == "grace@example.com"
    await notifier.settle(rounds=5)
    assert len(notifier.inbox.mails) == 1

    await notifier.publish_person(stranger, "Sam Stranger")
    mails = await notifier.mails(2)
    assert mails[1]["To"] == "sam@example.com"
