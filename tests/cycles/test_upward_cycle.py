"""Upward feedback asked for by a review cycle, on the real Temporal dev server, NATS, the reviews
and feedback services and the workflow worker process.

The launch opens one pulse in feedback for the cycle's participants (told by the reviews
service's events, ids only); each answers about their own manager; at its closing time the
pulse closes by itself and releases the manager with k or more answers, nothing for the one
below. A redelivered or repeated launch opens no second pulse, a cycle without the option
opens none, and a cancelled cycle's pulse releases nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import func, select

from services.feedback.models import InboxEvent, UpwardAnswer, UpwardPulse
from services.reviews.cycles.schemas import CYCLE_EXAMPLE, CycleWrite
from shared.database import utcnow
from shared.events import CloudEvent, stream_name
from shared.peer_ratings import CYCLE_CANCELLED, CYCLE_LAUNCHED
from shared.settings import Settings
from shared.upward_feedback import UPWARD_SCOPED, cycle_pulse_id
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, add_person, phase_deadlines, read_stream, reviews_events
from tests.support.stored import stored_bytes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

UPWARD = "/upward-feedback"
COMMENTS = ("upward-sets-clear-goals-3817", "upward-unblocks-us-5092", "upward-protects-focus-7264")


def cycle_body(org: Org, upward: dict[str, Any] | None, **deadlines: datetime) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "upward",
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "template_id": org.template_id,
        "filters": {"departments": ["Eng"]},
        "deadlines": phase_deadlines(utcnow(), **deadlines),
    }
    if upward is not None:
        body["upward_feedback"] = upward
    return body


async def create(org: Org, upward: dict[str, Any] | None) -> str:
    created = await org.reviews.post("/review-cycles", json=cycle_body(org, upward), headers=org.hr)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def launch(org: Org, cycle: str) -> None:
    launched = await org.reviews.post(f"/review-cycles/{cycle}/launch", headers=org.hr)
    assert launched.status_code == 200, launched.text


async def projected(feedback: httpx.AsyncClient, hr: dict[str, str], people: list[str]) -> bool:
    return all([(await feedback.get(f"/people/{p}", headers=hr)).status_code == 200 for p in people])


async def inbox(feedback: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    response = await feedback.get(f"{UPWARD}/inbox", headers=headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def feedback_count(feedback: httpx.AsyncClient, model: Any, *where: Any) -> int:
    async with feedback.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def handled(feedback: httpx.AsyncClient, event: CloudEvent) -> bool:
    inboxed = InboxEvent.consumer == "feedback-upward-cycles", InboxEvent.event_id == event.id
    return await feedback_count(feedback, InboxEvent, *inboxed) == 1


async def launched_event(settings: Settings, cycle: str) -> CloudEvent:
    async def found() -> CloudEvent | None:
        events = [e for e in await reviews_events(settings) if e.type == CYCLE_LAUNCHED and e.subject == cycle]
        return events[0] if events else None

    event: CloudEvent = await wait_until(found, message="cycle.launched on the bus")
    return event


async def republish(settings: Settings, event: CloudEvent) -> None:
    """Past JetStream's duplicate window, as a redelivery reaches the consumer."""
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().publish(event.type, event.to_bytes(), headers={"Nats-Msg-Id": f"{event.id}-again"})
    finally:
        await nc.close()


async def test_a_cycle_with_upward_feedback_opens_one_pulse_released_at_k_when_it_closes(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    settings.feedback_reminder_interval = 0.2
    async with service_client("reviews") as reviews, service_client("feedback") as feedback, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=4)
        hr = org.hr
        outsider = await add_person(reviews, hr, "outsider", "Ops", org.boss)
        reports = [p for p, m in org.people.items() if m == org.manager]
        everyone = [*org.people, org.boss, outsider]
        await wait_until(lambda: projected(feedback, hr, everyone), timeout=30, message="feedback projection")
        closes_at = utcnow() + timedelta(seconds=40)
        cycle = await create(org, {"closes_at": closes_at.isoformat(), "min_raters": 3})
        read = (await reviews.get(f"/review-cycles/{cycle}", headers=hr)).json()
        assert read["upward_feedback"]["min_raters"] == 3
        await launch(org, cycle)
        pulse = str(cycle_pulse_id(uuid.UUID(cycle)))

        async def asked(person: str) -> bool:
            return pulse in await inbox(feedback, org.token(person))

        async def everyone_asked() -> bool:
            return all([await asked(person) for person in org.people])

        await wait_until(everyone_asked, timeout=30, message="every participant is asked")
        assert not await asked(outsider)  # not a participant
        refused = await feedback.post(f"{UPWARD}/{pulse}/answers", json={"rating": 1}, headers=org.token(outsider))
        assert refused.status_code == 403, refused.text

        # Three of the manager's four reports answer (k = 3); the manager answers about the boss alone.
        for person, rating, comment in zip(reports, (5, 4, 3), COMMENTS, strict=False):
            body = {"rating": rating, "comment": comment}
            answered = await feedback.post(f"{UPWARD}/{pulse}/answers", json=body, headers=org.token(person))
            assert answered.status_code == 201, answered.text
        answered = await feedback.post(f"{UPWARD}/{pulse}/answers", json={"rating": 2}, headers=org.token(org.manager))
        assert answered.status_code == 201, answered.text
        early = await feedback.get(f"{UPWARD}/{pulse}/results/me", headers=org.token(org.manager))
        assert early.status_code == 404  # nothing before the closing time
        # HR takes the fourth report out of the cycle: they are asked no more.
        removed = await reviews.delete(f"/review-cycles/{cycle}/participants/{reports[3]}", headers=hr)
        assert removed.status_code == 200, removed.text

        async def out_of_scope() -> bool:
            return not await asked(reports[3])

        await wait_until(out_of_scope, timeout=30, message="the removed participant is no longer asked")
        refused = await feedback.post(f"{UPWARD}/{pulse}/answers", json={"rating": 1}, headers=org.token(reports[3]))
        assert refused.status_code == 403, refused.text

        # Launching again, and the launch event redelivered: still one pulse.
        await launch(org, cycle)
        event = await launched_event(settings, cycle)
        await republish(settings, event)
        assert await feedback_count(feedback, UpwardPulse, UpwardPulse.cycle_id == uuid.UUID(cycle)) == 1
        # What travelled: ids and times only; the scope names exactly the participants.
        assert set(event.data) == {"cycle_id", "participants", "upward_feedback"}
        assert set(event.data["upward_feedback"]) == {"closes_at", "min_raters", "follows"}
        assert event.data["upward_feedback"]["follows"] is None, "HR chose the closing time: it moves only by HR"
        scopes = [e for e in await reviews_events(settings) if e.type == UPWARD_SCOPED and e.subject == cycle]
        assert [set(e.data) for e in scopes] == [{"cycle_id", "person_ids", "chunk", "chunks"}]
        assert sorted(scopes[0].data["person_ids"]) == sorted(org.people)

        async def closed() -> bool:
            return bool((await feedback.get(f"{UPWARD}/{pulse}", headers=hr)).json()["status"] == "closed")

        await wait_until(closed, timeout=60, interval=0.5, message="the pulse closed at its time")
        assert await feedback_count(feedback, UpwardPulse, UpwardPulse.cycle_id == uuid.UUID(cycle)) == 1
        mine = (await feedback.get(f"{UPWARD}/{pulse}/results/me", headers=org.token(org.manager))).json()
        assert (mine["released"], mine["score"], mine["rater_count"]) == (True, 75.0, 3)
        assert sorted(mine["comments"]) == sorted(COMMENTS)
        boss = (await feedback.get(f"{UPWARD}/{pulse}/results/me", headers=org.token(org.boss))).json()
        assert boss == {"pulse_id": pulse, "released": False, "score": None, "rater_count": None, "comments": []}
        units = (await feedback.get(f"{UPWARD}/{pulse}/results/org-units", headers=hr)).json()
        assert units == [{"org_unit": "Eng", "score": 75.0, "rater_count": 3, "managers": 1}]
        late = await feedback.post(f"{UPWARD}/{pulse}/answers", json={"rating": 1}, headers=org.token(reports[0]))
        assert late.status_code == 409
        # The comments are nowhere in clear: not in feedback's database, not on the bus.
        raw = await stored_bytes(settings.database_url("feedback"))
        on_bus = b""
        for name in ("reviews", "feedback"):
            on_bus += b"".join(e.to_bytes() for e in await read_stream(settings, stream_name(name)))
        for text in COMMENTS:
            assert text.encode() not in raw
            assert text.encode() not in on_bus


async def test_no_pulse_without_the_option_and_a_cancelled_cycle_releases_nothing(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    settings.feedback_reminder_interval = 0.2
    async with service_client("reviews") as reviews, service_client("feedback") as feedback, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=3)
        hr = org.hr
        reports = [p for p, m in org.people.items() if m == org.manager]
        await wait_until(lambda: projected(feedback, hr, list(org.people)), timeout=30, message="feedback projection")
        plain = await create(org, None)
        await launch(org, plain)
        plain_launch = await launched_event(settings, plain)
        await wait_until(lambda: handled(feedback, plain_launch), timeout=30, message="the plain launch handled")
        assert await feedback_count(feedback, UpwardPulse, UpwardPulse.cycle_id == uuid.UUID(plain)) == 0
        assert not any(e.type == UPWARD_SCOPED for e in await reviews_events(settings))

        closes_at = utcnow() + timedelta(seconds=20)
        cycle = await create(org, {"closes_at": closes_at.isoformat()})
        await launch(org, cycle)
        pulse = str(cycle_pulse_id(uuid.UUID(cycle)))
        for person in reports:

            async def asked(person: str = person) -> bool:
                return pulse in await inbox(feedback, org.token(person))

            await wait_until(asked, timeout=30, message="the reports are asked")
            answered = await feedback.post(
                f"{UPWARD}/{pulse}/answers",
                json={"rating": 5, "comment": "upward-cancelled-4410"},
                headers=org.token(person),
            )
            assert answered.status_code == 201, answered.text
        cancelled = await reviews.post(f"/review-cycles/{cycle}/cancel", json={}, headers=hr)
        assert cancelled.status_code == 200, cancelled.text

        async def cancelled_in_feedback() -> bool:
            return bool((await feedback.get(f"{UPWARD}/{pulse}", headers=hr)).json()["status"] == "cancelled")

        await wait_until(cancelled_in_feedback, timeout=60, message="the pulse cancelled with its cycle")
        assert any(e.type == CYCLE_CANCELLED and e.subject == cycle for e in await reviews_events(settings))
        assert await feedback_count(feedback, UpwardAnswer, UpwardAnswer.pulse_id == uuid.UUID(pulse)) == 0
        # Past its closing time nothing is released: no results, no answers taken.
        await asyncio.sleep(max(0.0, (closes_at - utcnow()).total_seconds()) + 1)
        assert (await feedback.get(f"{UPWARD}/{pulse}", headers=hr)).json()["status"] == "cancelled"
        assert (await feedback.get(f"{UPWARD}/{pulse}/results/me", headers=org.token(org.manager))).status_code == 404
        assert (await feedback.get(f"{UPWARD}/{pulse}/results/org-units", headers=hr)).status_code == 404
        late = await feedback.post(f"{UPWARD}/{pulse}/answers", json={"rating": 1}, headers=org.token(reports[0]))
        assert late.status_code == 409
        assert pulse not in await inbox(feedback, org.token(reports[0]))


async def test_the_option_is_validated_naming_the_field(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings
) -> None:
    settings.feedback_peer_min_raters = 4
    async with service_client("reviews") as reviews:
        org = await Org(reviews, None, auth).build(reports=1)
        now = utcnow()
        acknowledgement = now + timedelta(days=50)  # phase_deadlines: 10 days apart, acknowledgement last
        cases: list[tuple[dict[str, Any], str]] = [
            ({"closes_at": (now - timedelta(hours=1)).isoformat()}, "upward_feedback.closes_at"),
            ({"closes_at": (acknowledgement + timedelta(days=1)).isoformat()}, "upward_feedback.closes_at"),
            ({"closes_at": "2027-01-10T12:00:00"}, "upward_feedback.closes_at"),  # no offset
            ({"min_raters": 2}, "upward_feedback.min_raters"),  # never below 3
            ({"min_raters": 3}, "upward_feedback.min_raters"),  # below feedback's minimum (4 here)
            ({"title": "Upward"}, "upward_feedback.title"),  # no such option
        ]
        for option, field in cases:
            body = cycle_body(org, option, acknowledgement=acknowledgement)
            refused = await reviews.post("/review-cycles", json=body, headers=org.hr)
            assert refused.status_code == 422, (option, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in refused.json()["errors"]] == [field], option
        # Left out, the closing time is the self-assessment deadline.
        body = cycle_body(org, {"min_raters": 4})
        created = await reviews.post("/review-cycles", json=body, headers=org.hr)
        assert created.status_code == 201, created.text
        upward = created.json()["upward_feedback"]
        assert datetime.fromisoformat(upward["closes_at"]) == datetime.fromisoformat(
            body["deadlines"]["self_assessment"]
        )
        assert upward["min_raters"] == 4
        assert upward["follows"] == "self_assessment", "it closes with the self-assessment's later deadlines"
        # A closing time that passed before the launch: the launch is refused, the cycle stays a draft.
        soon = await reviews.post(
            "/review-cycles",
            json=cycle_body(org, {"closes_at": (utcnow() + timedelta(seconds=1)).isoformat(), "min_raters": 4}),
            headers=org.hr,
        )
        assert soon.status_code == 201, soon.text
        await asyncio.sleep(1.5)
        refused = await reviews.post(f"/review-cycles/{soon.json()['id']}/launch", headers=org.hr)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["upward_feedback.closes_at"]
        assert (await reviews.get(f"/review-cycles/{soon.json()['id']}", headers=org.hr)).json()["status"] == "draft"


def test_the_documented_example_is_valid_inside_the_documented_cycle() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "review-cycles.md").read_text()
    section = doc[doc.index("### Worked example: upward feedback\n") :]
    section = section[: section.index("\n## ")]
    (block,) = [json.loads(text) for text in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]
    cycle = CycleWrite.model_validate({**CYCLE_EXAMPLE, **block})
    assert cycle.upward_feedback is not None
    assert cycle.upward_feedback.closes_at is not None
    assert cycle.upward_feedback.min_raters == 4
    # Inside the cycle, before the self-assessment deadline, as the text says.
    assert cycle.upward_feedback.closes_at < cycle.deadlines.self_assessment <= cycle.deadlines.acknowledgement


async def test_a_pulse_left_at_its_default_time_closes_with_the_extended_self_assessment(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with service_client("reviews") as reviews, service_client("feedback") as feedback, cycle_worker():
        org = await Org(reviews, None, auth).build(reports=3)
        await wait_until(lambda: projected(feedback, org.hr, list(org.people)), timeout=30, message="projection")
        cycle = await create(org, {"min_raters": 3})
        await launch(org, cycle)
        pulse = str(cycle_pulse_id(uuid.UUID(cycle)))
        await wait_until(lambda: inbox_has(feedback, org, pulse), timeout=30, message="the pulse opened")
        first = (await feedback.get(f"{UPWARD}/{pulse}", headers=org.hr)).json()["closes_at"]

        later = (datetime.fromisoformat(first) + timedelta(days=5)).replace(microsecond=0)
        extended = await reviews.post(
            f"/review-cycles/{cycle}/deadlines",
            json={"step": "self_assessment", "new_deadline": later.isoformat()},
            headers=org.hr,
        )
        assert extended.status_code == 200, extended.text

        async def closes_at() -> datetime | None:
            read = (await feedback.get(f"{UPWARD}/{pulse}", headers=org.hr)).json()
            moved = datetime.fromisoformat(read["closes_at"])
            return moved if moved == later else None

        await wait_until(closes_at, timeout=30, message="the pulse closing with the new self-assessment deadline")


async def inbox_has(feedback: httpx.AsyncClient, org: Org, pulse: str) -> bool:
    return all([pulse in await inbox(feedback, org.token(person)) for person in org.people])
