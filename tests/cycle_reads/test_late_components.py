"""A goal score that reaches the reviews service after calibration scored the review (over NATS,
through the reviews service's own consumer): while the person's session is open the score record and
the proposed rating follow it, and the final rating too unless HR set it; a stale revision changes
nothing, and once the session is final the published rating stays."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import nats
import pytest

from services.reviews.cycles.service import CalibrationService
from services.reviews.models import ReviewCycle
from shared.cycles import CYCLE_SCORE_COMPUTED, SCORES_STREAM, CycleScoreComputed, score_event_id
from shared.database import utcnow
from shared.events import CloudEvent, service_stream
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session, sessionmaker_of
from tests.cycles.support import ANSWERS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database


async def publish_goal_score(settings: Settings, cycle_id: str, person: str, score: float, revision: int) -> None:
    """Stand in for the goals service: ``meritloop.goals.cycle-score.computed``."""
    data = CycleScoreComputed(
        cycle_id=uuid.UUID(cycle_id),
        person_id=uuid.UUID(person),
        score=score,
        goal_count=1,
        weights_ok=True,
        revision=revision,
        computed_at=utcnow(),
    )
    event = CloudEvent(
        id=score_event_id(data.cycle_id, data.person_id, data.formula_version, revision),
        source="/meritloop/goals",
        type=CYCLE_SCORE_COMPUTED,
        subject=person,
        data=data.model_dump(mode="json"),
    )
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})
    finally:
        await nc.close()


async def lineage(seeded: Seeded, person: str) -> dict[str, Any]:
    response = await seeded.reviews.get(
        f"/review-cycles/{seeded.cycle_id}/participants/{person}/score", headers=seeded.hr
    )
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_a_late_goal_score_scores_the_review_again_until_its_session_is_final(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    nc = await nats.connect(settings.nats_url)
    try:
        await nc.jetstream().add_stream(service_stream("goals"))
    finally:
        await nc.close()
    assert service_stream("goals").name == SCORES_STREAM
    seeded = await Seeded(reviews, auth, settings).build()
    for person in (seeded.alice, seeded.bob):
        await seeded.add_task(person, "self_assessment", status="done", draft=ANSWERS)
        await seeded.add_task(person, "manager_review", status="done", draft=ANSWERS)
        await seeded.set_participant(person, goal_score=70.0, goal_score_revision=1)
    await seeded.set_cycle(phase="calibration")
    async with sessionmaker_of(reviews)() as session, session.begin():
        cycle = await session.get(ReviewCycle, uuid.UUID(seeded.cycle_id))
        assert cycle is not None
        await CalibrationService(session).score_participants(cycle)
    session_id = await open_session(seeded)
    for person in (seeded.alice, seeded.bob):
        scored = await lineage(seeded, person)
        assert scored["record"]["inputs"]["components"]["goals"] == 70.0
        assert (scored["proposed_rating"], scored["final_rating"]) == (4, 4)  # 70.75 on 1-5
    # HR sets Bob's rating in the session.
    adjusted = await reviews.post(
        f"/calibration-sessions/{session_id}/adjustments",
        json={"person_id": seeded.bob, "to_rating": 5, "reason": "Carried the release"},
        headers=seeded.hr,
    )
    assert adjusted.status_code == 201, adjusted.text

    # Both goal scores are redone at 0 (goals found a weighting error) after calibration scored them.
    for person in (seeded.alice, seeded.bob):
        await publish_goal_score(settings, seeded.cycle_id, person, 0.0, revision=2)

    async def rescored() -> bool:
        goals = [
            (await lineage(seeded, p))["record"]["inputs"]["components"]["goals"] for p in (seeded.alice, seeded.bob)
        ]
        return goals == [0.0, 0.0]

    await wait_until(rescored, timeout=30, message="the reviews service scores both again")
    alice = await lineage(seeded, seeded.alice)
    # 0.4 * 0 + 0.3 * 66.67 + 0.15 * 75 + 0.15 * 75 = 42.5 -> 2.7 on 1-5 -> 3, and the final follows.
    assert alice["record"]["score"] == pytest.approx(42.5, abs=1e-3)
    assert (alice["proposed_rating"], alice["final_rating"], alice["reproduces"]) == (3, 3, True)
    bob = await lineage(seeded, seeded.bob)
    assert (bob["proposed_rating"], bob["final_rating"]) == (3, 5)  # HR's rating stands
    rows = (await reviews.get(f"/calibration-sessions/{session_id}", headers=seeded.hr)).json()["rows"]
    assert {r["person_id"]: r["proposed_rating"] for r in rows if r["person_id"] in (seeded.alice, seeded.bob)} == {
        seeded.alice: 3,
        seeded.bob: 3,
    }

    # A stale revision (1) arriving late changes nothing.
    await publish_goal_score(settings, seeded.cycle_id, seeded.alice, 100.0, revision=1)
    # The session is finalized: a newer score is kept for the forms, the published rating stays.
    async with sessionmaker_of(reviews)() as session, session.begin():
        await CalibrationService(session).finalize(uuid.UUID(session_id), seeded.hr_id)
    await publish_goal_score(settings, seeded.cycle_id, seeded.alice, 100.0, revision=3)

    async def stored() -> bool:
        async with sessionmaker_of(reviews)() as session:
            cycle = await session.get(ReviewCycle, uuid.UUID(seeded.cycle_id))
            assert cycle is not None
            participant = await CalibrationService(session).cycles.participant(cycle.id, uuid.UUID(seeded.alice))
            return participant is not None and participant.goal_score_revision == 3

    await wait_until(stored, timeout=30, message="the newest goal score is stored")
    final = await lineage(seeded, seeded.alice)
    assert final["record"]["inputs"]["components"]["goals"] == 0.0
    assert (final["proposed_rating"], final["final_rating"]) == (3, 3)
