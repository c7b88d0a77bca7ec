"""Cycle scoring driven by the real request event over NATS, and the scores it publishes."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy
from sqlalchemy import select

from services.goals.models import CycleScore, OutboxEvent
from services.goals.repository import CycleScoreRepository, GoalRepository
from services.goals.scoring import CycleScoring
from shared.auth import Role
from shared.cycles import (
    CYCLE_SCORE_COMPUTED,
    SCORES_STREAM,
    CycleScoreComputed,
    chunk_request,
    score_event_id,
)
from shared.events import CloudEvent, service_stream
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.goals.conftest import sessionmaker_of
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def publish_request(js: JetStreamContext, data: dict[str, Any], event_id: uuid.UUID | None = None) -> uuid.UUID:
    """Stand in for the reviews service: a CloudEvent with Nats-Msg-Id, as its relay publishes."""
    event = CloudEvent(
        id=event_id or uuid.uuid4(),
        source="/meritloop/reviews",
        type="meritloop.reviews.cycle.goal-scores-requested",
        subject=str(data["cycle_id"]),
        data=data,
    )
    await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    return event.id


async def score_events(js: JetStreamContext, cycle_id: uuid.UUID) -> list[tuple[uuid.UUID, CycleScoreComputed]]:
    """Every score event of the cycle now in the goals stream."""
    sub = await js.pull_subscribe(
        CYCLE_SCORE_COMPUTED,
        stream=SCORES_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
    )
    found: list[tuple[uuid.UUID, CycleScoreComputed]] = []
    try:
        while True:
            try:
                messages = await sub.fetch(500, timeout=0.3)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            for message in messages:
                event = CloudEvent.from_bytes(message.data)
                data = CycleScoreComputed.model_validate(event.data)
                if data.cycle_id == cycle_id:
                    found.append((event.id, data))
                await message.ack()
    finally:
        await sub.unsubscribe()
    return found


async def test_a_cycle_request_event_produces_one_score_event_per_participant(
    goals: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    ada, bob, cyd, dan = (uuid.uuid4() for _ in range(4))

    async def goal(owner: uuid.UUID, *, period: str, weight: float | None, progress: float) -> None:
        body = {"title": "Ship the billing service v2", "period": period, "weight": weight}
        created = await goals.post("/goals", json=body, headers=auth(person_id=owner))
        assert created.status_code == 201, created.text
        if progress:
            path = f"/goals/{created.json()['id']}/check-ins"
            assert (await goals.post(path, json={"value": progress}, headers=auth(person_id=owner))).is_success

    await goal(ada, period="2026-Q1", weight=60, progress=100)
    await goal(ada, period="2026-Q2", weight=40, progress=50)
    await goal(ada, period="2026-Q3", weight=100, progress=100)  # ends after the cycle: not scored
    await goal(bob, period="2026-Q2", weight=70, progress=100)
    await goal(bob, period="2026-Q2", weight=20, progress=100)  # 90 in all
    await goal(cyd, period="2026-H1", weight=None, progress=30)
    await goal(cyd, period="2026-Q2", weight=None, progress=70)
    cancelled = await goals.post(
        "/goals", json={"title": "Dropped", "period": "2026-Q2", "weight": 50}, headers=auth(person_id=cyd)
    )
    override = {"status": "cancelled", "reason": "reorganisation"}
    await goals.put(f"/goals/{cancelled.json()['id']}/status", json=override, headers=auth(person_id=cyd))

    cycle = uuid.uuid4()
    requests = chunk_request(cycle, date(2026, 1, 1), date(2026, 6, 30), [ada, bob, cyd, dan], size=2)
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        # The reviews service is not running here: create its stream as it would.
        await js.add_stream(service_stream("reviews"))
        first_ids = [await publish_request(js, part.model_dump(mode="json")) for part in requests]

        async def all_scored() -> list[tuple[uuid.UUID, CycleScoreComputed]] | None:
            found = await score_events(js, cycle)
            return found if len(found) == 4 else None

        events = await wait_until(all_scored, timeout=20, message="four score events")
        scores = {data.person_id: data for _, data in events}
        assert scores[ada].score == 80.0  # 60 * 100 % + 40 * 50 %
        assert (scores[ada].goal_count, scores[ada].weights_ok, scores[ada].weight_total) == (2, True, 100.0)
        assert (scores[bob].score, scores[bob].weights_ok, scores[bob].error) == (None, False, "weights_not_100")
        assert scores[bob].weight_total == 90.0
        assert (scores[cyd].score, scores[cyd].goal_count) == (50.0, 2)  # no weights: equal; cancelled left out
        assert (scores[dan].score, scores[dan].goal_count, scores[dan].error) == (None, 0, "no_goals")
        assert all(data.revision == 1 for data in scores.values())
        # Each goal behind a score travels as id, weight and progress (never a title).
        assert sorted((goal.weight, goal.progress) for goal in scores[ada].goals) == [(40.0, 50.0), (60.0, 100.0)]
        assert len(scores[cyd].goals) == 2
        assert scores[dan].goals == []
        for event_id, data in events:
            assert event_id == score_event_id(cycle, data.person_id, data.formula_version, 1)

        stored = (await goals.get(f"/cycles/{cycle}/scores", headers=auth(Role.hr))).json()
        assert stored["total"] == 4
        by_person = {item["person_id"]: item for item in stored["items"]}
        assert by_person[str(bob)]["message"] == "The goal weights add up to 90, not 100."
        assert by_person[str(ada)]["score"] == 80.0

        # The same request delivered again (same message id) is dropped by JetStream; a new
        # request for the same cycle computes again under the next revision.
        await publish_request(js, requests[0].model_dump(mode="json"), event_id=first_ids[0])
        await publish_request(js, requests[0].model_dump(mode="json"))

        async def rescored() -> list[tuple[uuid.UUID, CycleScoreComputed]] | None:
            found = await score_events(js, cycle)
            return found if len(found) >= 6 else None

        events = await wait_until(rescored, timeout=20, message="two more score events")
        await asyncio.sleep(0.5)
        events = await score_events(js, cycle)
        assert len(events) == 6
        revisions = sorted((str(data.person_id), data.revision) for _, data in events)
        assert revisions.count((str(ada), 2)) == 1
        assert (
            await goals.get(f"/cycles/{cycle}/scores", params={"person_id": str(ada)}, headers=auth(Role.hr))
        ).json()["items"][0]["revision"] == 2
    finally:
        await nc.close()


async def test_scores_over_the_api(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    ada = uuid.uuid4()
    body = {"title": "Ship the billing service v2", "period": "2026-Q2", "weight": 100}
    created = (await goals.post("/goals", json=body, headers=auth(person_id=ada))).json()
    await goals.post(f"/goals/{created['id']}/check-ins", json={"value": 40}, headers=auth(person_id=ada))
    cycle = uuid.uuid4()
    request = {"period_start": "2026-04-01", "period_end": "2026-06-30", "participant_ids": [str(ada), str(ada)]}
    response = await goals.post(f"/cycles/{cycle}/scores", json=request, headers=auth(Role.hr))
    assert response.status_code == 200, response.text
    (score,) = response.json()
    assert (score["score"], score["revision"], score["formula_version"]) == (40.0, 1, "weighted-attainment/1")
    again = (await goals.post(f"/cycles/{cycle}/scores", json=request, headers=auth(Role.hr))).json()
    assert (again[0]["score"], again[0]["revision"]) == (40.0, 2)
    bad = {**request, "period_end": "2026-01-01"}
    response = await goals.post(f"/cycles/{cycle}/scores", json=bad, headers=auth(Role.hr))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "period_end"


async def test_scoring_reads_and_writes_agree_with_the_core_statements_and_json_dumps(
    goals: httpx.AsyncClient, auth: TokenFactory
) -> None:
    """On SQLite the scoring reads, deletes and counts revisions through the driver: the rows it
    finds must be those of the Core statements (``scored_rows``, a select of the scores), and
    what it writes must be byte for byte what ``json.dumps`` writes of the same values."""
    ada, bob, cyd, dan = (uuid.uuid4() for _ in range(4))
    for owner, period, goal_weight, check_in in [
        (ada, "2026-Q1", 60, 100),
        (ada, "2026-Q2", 40, 50),
        (ada, "2026-Q3", 100, 100),  # ends after the period
        (bob, "2026-Q2", 70, 12.5),
        (bob, "2026-Q2", 20, 100),
        (cyd, "2026-H1", None, 30),
        (cyd, "2026-Q2", None, 70),
    ]:
        body = {"title": "Ship the billing service v2", "period": period, "weight": goal_weight}
        created = await goals.post("/goals", json=body, headers=auth(person_id=owner))
        assert created.status_code == 201, created.text
        path = f"/goals/{created.json()['id']}/check-ins"
        assert (await goals.post(path, json={"value": check_in}, headers=auth(person_id=owner))).is_success
    cancelled = await goals.post(
        "/goals", json={"title": "Dropped", "period": "2026-Q2", "weight": 50}, headers=auth(person_id=cyd)
    )
    override = {"status": "cancelled", "reason": "reorganisation"}
    await goals.put(f"/goals/{cancelled.json()['id']}/status", json=override, headers=auth(person_id=cyd))
    team = {"title": "Team goal", "period": "2026-Q2", "level": "team"}
    assert (await goals.post("/goals", json=team, headers=auth(Role.manager, person_id=dan))).status_code == 201

    people = [dan, cyd, ada, bob]
    start, end = date(2026, 1, 1), date(2026, 6, 30)
    cycle = uuid.uuid4()
    async with sessionmaker_of(goals)() as session:
        repository = GoalRepository.from_session(session)
        expected: dict[uuid.UUID, list[tuple[str, float | None, float]]] = {person: [] for person in people}
        for owner, goal_id, weight, progress in await repository.scored_rows(people, start, end):
            expected[owner].append((str(goal_id), weight, progress))
        found = await repository.scored_per_owner(people, start, end)
        assert [list(goals) for goals in found] == [expected[person] for person in people]
        assert [len(goals) for goals in found] == [0, 2, 2, 2]

    for revision in (1, 2):
        async with sessionmaker_of(goals)() as session, session.begin():
            await CycleScoring(session).compute(cycle, start, end, people)
        async with sessionmaker_of(goals)() as session:
            stored = (await session.execute(select(CycleScore).where(CycleScore.cycle_id == cycle))).scalars().all()
            assert sorted((score.person_id, score.revision) for score in stored) == sorted(
                (person, revision) for person in people
            )
            assert await CycleScoreRepository.from_session(session).revisions(cycle, [bob, uuid.uuid4()]) == [
                revision,
                0,
            ]
            for score in stored:
                assert score.inputs == json.dumps([list(goal) for goal in expected[score.person_id]])
            payloads = (
                await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.subject == CYCLE_SCORE_COMPUTED))
            ).all()
            mine = [
                json.loads(payload) for payload in payloads if json.loads(payload)["data"]["cycle_id"] == str(cycle)
            ]
            assert len(mine) == 4 * revision
            for payload in payloads:
                assert json.dumps(json.loads(payload)) == payload  # json.dumps' layout, byte for byte
            latest = {
                event["data"]["person_id"]: event["data"] for event in mine if event["data"]["revision"] == revision
            }
            assert latest[str(bob)]["goals"] == [
                {"goal_id": goal_id, "weight": weight, "progress": progress}
                for goal_id, weight, progress in expected[bob]
            ]
            assert (latest[str(bob)]["error"], latest[str(bob)]["weight_total"]) == ("weights_not_100", 90.0)
