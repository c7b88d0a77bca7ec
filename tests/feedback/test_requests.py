"""Feedback requests: asking, the inbox, answering, declining, reminders, and who may do what."""

from __future__ import annotations

import operator
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.feedback.events import reminder_event_id
from services.feedback.models import FeedbackRequestRecipient, OutboxEvent
from services.feedback.reminders import sweep_once
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.support import read_stream
from tests.feedback.support import ROLES, Org, ensure_directory_stream, make_org
from tests.support.bus import published
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

REQUESTED = "meritloop.feedback.feedback.requested"
ANSWERED = "meritloop.feedback.feedback-request.answered"
DECLINED = "meritloop.feedback.feedback-request.declined"
REMINDER_DUE = "meritloop.feedback.feedback-request.reminder-due"


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


async def ask(
    client: httpx.AsyncClient, org: Org, *recipients: str, question: str | None = None, due: int = 10
) -> dict[str, Any]:
    body: dict[str, Any] = {"recipient_ids": [str(org.id(who)) for who in recipients], "due_on": in_days(due)}
    if question is not None:
        body["question"] = question
    response = await client.post("/feedback-requests", json=body, headers=org.headers("receiver"))
    assert response.status_code == 201, response.text
    request: dict[str, Any] = response.json()
    return request


async def test_ask_answer_and_decline(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    request = await ask(client, org, "giver", "colleague", question="How did my demo land?")
    assert request["requester_id"] == str(org.receiver.id)
    assert request["question"] == "How did my demo land?"
    assert [entry["status"] for entry in request["recipients"]] == ["open", "open"]
    event, raw, _ = await published(settings.nats_url, REQUESTED, request["id"])
    assert sorted(event.data["recipient_ids"]) == sorted([str(org.giver.id), str(org.colleague.id)])
    assert event.data["due_on"] == in_days(10)
    assert b"demo" not in raw

    inbox = (await client.get("/feedback-requests/inbox", headers=org.headers("giver"))).json()
    assert inbox["total"] == 1
    (entry,) = inbox["items"]
    assert (entry["request_id"], entry["question"], entry["status"]) == (request["id"], "How did my demo land?", "open")

    answered = await client.post(
        f"/feedback-requests/{request['id']}/answer",
        json={"text": "Crisp and well paced"},
        headers=org.headers("giver"),
    )
    assert answered.status_code == 201, answered.text
    item = answered.json()
    assert (item["giver_id"], item["receiver_id"], item["request_id"]) == (
        str(org.giver.id),
        str(org.receiver.id),
        request["id"],
    )
    event, raw, _ = await published(settings.nats_url, ANSWERED, item["id"])
    assert event.data == {"id": item["id"], "request_id": request["id"], "person_id": str(org.giver.id)}
    assert b"Crisp" not in raw
    assert_problem(
        await client.post(
            f"/feedback-requests/{request['id']}/answer", json={"text": "again"}, headers=org.headers("giver")
        ),
        409,
    )
    assert_problem(await client.post(f"/feedback-requests/{request['id']}/decline", headers=org.headers("giver")), 409)

    declined = await client.post(f"/feedback-requests/{request['id']}/decline", headers=org.headers("colleague"))
    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    await published(settings.nats_url, DECLINED, request["id"])

    # The requester reads the answer as feedback received, and statuses (not answers) on the request.
    received = (await client.get("/feedback/received", headers=org.headers("receiver"))).json()
    assert [(entry["text"], entry["request_id"]) for entry in received["items"]] == [
        ("Crisp and well paced", request["id"])
    ]
    sent = (await client.get("/feedback-requests", headers=org.headers("receiver"))).json()
    assert sent["total"] == 1
    statuses = {entry["person_id"]: entry["status"] for entry in sent["items"][0]["recipients"]}
    assert statuses == {str(org.giver.id): "answered", str(org.colleague.id): "declined"}
    assert "Crisp" not in str(sent)

    open_only = (
        await client.get("/feedback-requests/inbox", params={"status": "open"}, headers=org.headers("giver"))
    ).json()
    assert open_only["total"] == 0


async def test_inbox_is_paginated_soonest_due_first(client: httpx.AsyncClient, org: Org) -> None:
    ids = [(await ask(client, org, "giver", due=due))["id"] for due in (9, 3, 5)]
    seen: list[str] = []
    for offset in (0, 2):
        page = (
            await client.get(
                "/feedback-requests/inbox", params={"limit": 2, "offset": offset}, headers=org.headers("giver")
            )
        ).json()
        assert (page["total"], page["limit"], page["offset"]) == (3, 2, offset)
        seen += [entry["request_id"] for entry in page["items"]]
    assert seen == [ids[1], ids[2], ids[0]]
    sent = (await client.get("/feedback-requests", params={"limit": 1}, headers=org.headers("receiver"))).json()
    assert (sent["total"], [entry["id"] for entry in sent["items"]]) == (3, [ids[2]])


async def test_bad_requests_name_the_field(client: httpx.AsyncClient, org: Org, settings: Settings) -> None:
    headers = org.headers("receiver")

    async def fields(body: dict[str, Any]) -> set[str]:
        return problem_fields(await client.post("/feedback-requests", json=body, headers=headers))

    giver = str(org.giver.id)
    assert await fields({"recipient_ids": [], "due_on": in_days(3)}) == {"recipient_ids"}
    assert await fields({"recipient_ids": [giver], "due_on": in_days(0)}) == {"due_on"}
    assert await fields({"recipient_ids": [giver], "due_on": "soon"}) == {"due_on"}
    assert await fields({"recipient_ids": [giver], "due_on": in_days(3), "question": "q" * 1001}) == {"question"}
    assert await fields({"recipient_ids": [str(org.receiver.id)], "due_on": in_days(3)}) == {"recipient_ids"}
    assert await fields({"recipient_ids": [giver, str(org.gone.id)], "due_on": in_days(3)}) == {"recipient_ids.1"}
    assert await fields({"recipient_ids": [str(uuid.uuid4())], "due_on": in_days(3)}) == {"recipient_ids.0"}
    too_many = [str(uuid.uuid4()) for _ in range(settings.feedback_max_request_recipients + 1)]
    assert await fields({"recipient_ids": too_many, "due_on": in_days(3)}) == {"recipient_ids"}
    request = await ask(client, org, "giver")
    empty = await client.post(
        f"/feedback-requests/{request['id']}/answer", json={"text": " "}, headers=org.headers("giver")
    )
    assert problem_fields(empty) == {"text"}
    assert (await client.get("/feedback-requests", headers=headers)).json()["total"] == 1


async def test_who_can_call_each_route(client: httpx.AsyncClient, org: Org) -> None:
    """The requester asks the giver; everyone tries every request route."""
    request = await ask(client, org, "giver", question="Secret question about my promotion case")
    question = "Secret question about my promotion case"
    for who in ROLES:
        headers = org.headers(who)
        inbox = await client.get("/feedback-requests/inbox", headers=headers)
        sent = await client.get("/feedback-requests", headers=headers)
        if who == "gone":
            assert_problem(inbox, 403)
            assert_problem(sent, 403)
        else:
            assert (question in inbox.text) is (who == "giver"), who
            assert (question in sent.text) is (who == "receiver"), who
        if who in ("giver", "receiver"):
            continue
        # Only the person asked may answer or decline; for anyone else the request does not exist.
        answer = await client.post(
            f"/feedback-requests/{request['id']}/answer", json={"text": "sneaky"}, headers=headers
        )
        decline = await client.post(f"/feedback-requests/{request['id']}/decline", headers=headers)
        wanted = 403 if who == "gone" else 404
        assert_problem(answer, wanted)
        assert_problem(decline, wanted)
        created = await client.post(
            "/feedback-requests",
            json={
                "recipient_ids": [str(org.colleague.id if who != "colleague" else org.giver.id)],
                "due_on": in_days(4),
            },
            headers=headers,
        )
        assert created.status_code == (403 if who == "gone" else 201), (who, created.text)
    # The requester is not asked: answering their own request is not theirs to do.
    own = await client.post(
        f"/feedback-requests/{request['id']}/answer", json={"text": "me"}, headers=org.headers("receiver")
    )
    assert_problem(own, 404)
    assert (
        await client.post(
            f"/feedback-requests/{request['id']}/answer", json={"text": "fine"}, headers=org.headers("giver")
        )
    ).status_code == 201


async def test_reminders_are_published_once_before_the_due_date(
    service_client: ServiceClientFactory, settings: Settings, auth: TokenFactory
) -> None:
    settings.feedback_reminder_interval = 0.2
    settings.feedback_reminder_days = 2
    await ensure_directory_stream(settings.nats_url)
    async with service_client("feedback") as client:
        org = await make_org(settings.nats_url, client, auth)
        soon = await ask(client, org, "giver", "colleague", due=2)
        later = await ask(client, org, "giver", due=9)
        answered = await ask(client, org, "manager", due=1)
        reply = await client.post(
            f"/feedback-requests/{answered['id']}/answer", json={"text": "done"}, headers=org.headers("manager")
        )
        assert reply.status_code == 201

        # The in-process sweep publishes one reminder per open recipient due within two days.
        async def reminders_on_the_bus() -> list[CloudEvent] | None:
            found = [
                event
                for event in await read_stream(settings, stream_name("feedback"))
                if event.type == REMINDER_DUE and event.data["request_id"] == soon["id"]
            ]
            return found if len(found) >= 2 else None

        on_bus = await wait_until(reminders_on_the_bus, message="two reminders published")
        expected = [
            {
                "id": str(reminder_event_id(uuid.UUID(soon["id"]), person)),
                "request_id": soon["id"],
                "person_id": str(person),
                "due_on": in_days(2),
            }
            for person in (org.giver.id, org.colleague.id)
        ]
        # The background sweep may have run between asking the manager and their answer: then that
        # request, open at the time, was rightly reminded once. Nothing else may be.
        early = (uuid.UUID(answered["id"]), org.manager.id)
        key = operator.itemgetter("person_id")
        assert sorted((event.data for event in on_bus), key=key) == sorted(expected, key=key)
        assert {str(event.id) for event in on_bus} == {entry["id"] for entry in expected}

        sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]

        async def swept_clean() -> bool:
            return await sweep_once(sessionmaker, settings) == 0

        # A further sweep finds nothing: the reminded, the answered and the far-off are left alone.
        await wait_until(swept_clean, message="nothing left to remind")
        async with sessionmaker() as session:
            reminded = set(
                (
                    await session.execute(
                        select(FeedbackRequestRecipient.request_id, FeedbackRequestRecipient.person_id).where(
                            FeedbackRequestRecipient.reminded_at.is_not(None)
                        )
                    )
                ).tuples()
            )
            reminders = await session.scalar(select(func.count()).where(OutboxEvent.subject == REMINDER_DUE))
        soon_reminded = {(uuid.UUID(soon["id"]), org.giver.id), (uuid.UUID(soon["id"]), org.colleague.id)}
        assert reminded - {early} == soon_reminded
        assert uuid.UUID(later["id"]) not in {request for request, _ in reminded}
        assert reminders == len(reminded)  # each reminded once


async def test_a_request_about_a_goal_makes_every_answer_about_it(
    client: httpx.AsyncClient, org: Org, settings: Settings
) -> None:
    goal, other = uuid.uuid4(), uuid.uuid4()
    body = {"recipient_ids": [str(org.giver.id), str(org.colleague.id)], "due_on": in_days(10), "goal_id": str(goal)}
    asked = await client.post("/feedback-requests", json=body, headers=org.headers("receiver"))
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert request["goal_id"] == str(goal)
    event, _, _ = await published(settings.nats_url, REQUESTED, request["id"])
    assert "goal_id" not in event.data  # the bus hears who was asked, not about what
    (entry,) = (await client.get("/feedback-requests/inbox", headers=org.headers("giver"))).json()["items"]
    assert entry["goal_id"] == str(goal)

    # An answer naming another goal is refused; one naming none is about the request's goal.
    refused = await client.post(
        f"/feedback-requests/{request['id']}/answer",
        json={"text": "Strong quarter", "goal_id": str(other)},
        headers=org.headers("giver"),
    )
    assert problem_fields(refused) == {"goal_id"}
    answered = await client.post(
        f"/feedback-requests/{request['id']}/answer", json={"text": "Strong quarter"}, headers=org.headers("giver")
    )
    assert answered.status_code == 201, answered.text
    assert answered.json()["goal_id"] == str(goal)
    same = await client.post(
        f"/feedback-requests/{request['id']}/answer",
        json={"text": "Agreed", "goal_id": str(goal)},
        headers=org.headers("colleague"),
    )
    assert same.json()["goal_id"] == str(goal)
    received = (await client.get("/feedback/received", headers=org.headers("receiver"))).json()
    assert {item["goal_id"] for item in received["items"]} == {str(goal)}
    # A request without a goal: the answer may name one of its own, as before.
    plain = await ask(client, org, "giver")
    assert plain["goal_id"] is None
    free = await client.post(
        f"/feedback-requests/{plain['id']}/answer",
        json={"text": "On the roadmap", "goal_id": str(other)},
        headers=org.headers("giver"),
    )
    assert free.json()["goal_id"] == str(other)
