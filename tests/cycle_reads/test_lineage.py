"""Issue 15.2: a participant's score record, to those who may see the score, and only to them."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.reviews.cycles.service import CalibrationService
from services.reviews.models import ReviewCycle
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session, sessionmaker_of
from tests.cycles.support import ANSWERS

pytestmark = pytest.mark.database


async def _scored(seeded: Seeded) -> None:
    """Alice's self-assessment and manager review done, then scored as calibration opens."""
    await seeded.add_task(seeded.alice, "self_assessment", status="done", draft=ANSWERS)
    await seeded.add_task(seeded.alice, "manager_review", status="done", draft=ANSWERS)
    await seeded.set_participant(
        seeded.alice, goal_score=70.0, goal_inputs=[{"goal_id": str(uuid.uuid4()), "weight": 1, "progress": 70}]
    )
    await seeded.set_cycle(phase="calibration")
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        cycle = await session.get(ReviewCycle, uuid.UUID(seeded.cycle_id))
        assert cycle is not None
        await CalibrationService(session).score_participants(cycle)


async def _lineage(seeded: Seeded, headers: dict[str, str]) -> httpx.Response:
    return await seeded.reviews.get(
        f"/review-cycles/{seeded.cycle_id}/participants/{seeded.alice}/score", headers=headers
    )


async def test_the_score_record_shows_formula_inputs_weights_and_replays(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    await _scored(seeded)
    session_id = await open_session(seeded)

    response = await _lineage(seeded, seeded.hr)

    assert response.status_code == 200, response.text
    lineage: dict[str, Any] = response.json()
    record = lineage["record"]
    # template_body: weighted(goals: 40, competencies: 30, manager: 15, self: 15); ANSWERS give
    # craft 4 (weight 2), ownership 3, impact 4 -> competencies 66.6667, manager 75, self 75.
    assert record["formula"] == "weighted(goals: 40, competencies: 30, manager: 15, self: 15)"
    assert record["formula_version"].startswith("v1:")
    assert record["inputs"]["components"] == {
        "goals": 70.0,
        "competencies": pytest.approx(66.6667),
        "self": 75.0,
        "manager": 75.0,
        "peer": None,
    }
    shares = {term["expression"]: term["share"] for term in record["inputs"]["weights"][0]["terms"]}
    assert shares == {"goals": 0.4, "competencies": 0.3, "manager": 0.15, "self": 0.15}
    assert record["score"] == pytest.approx(0.4 * 70 + 0.3 * 200 / 3 + 0.15 * 75 + 0.15 * 75, abs=1e-3)
    assert lineage["reproduces"] is True
    assert lineage["proposed_rating"] == 4  # 70.75 on 1-5 -> 3.83 -> 4
    assert (lineage["final_rating"], lineage["final_rating_label"], lineage["calibrated"]) == (4, "Level 4", False)
    assert len(lineage["goals"]) == 1
    # Calibration rows link to it and carry the formula version.
    detail = (await reviews.get(f"/calibration-sessions/{session_id}", headers=seeded.hr)).json()
    row = next(r for r in detail["rows"] if r["person_id"] == seeded.alice)
    assert row["score_url"] == f"/review-cycles/{seeded.cycle_id}/participants/{seeded.alice}/score"
    assert row["formula_version"] == record["formula_version"]
    assert row["score"] == record["score"]


async def test_who_may_read_a_score_record(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    await _scored(seeded)

    async def status(headers: dict[str, str]) -> int:
        return (await _lineage(seeded, headers)).status_code

    allowed = {
        "hr": seeded.hr,
        "admin": seeded.admin,
        "manager": seeded.token(seeded.manager),
        "skip-level": seeded.token(seeded.boss),
    }
    refused = {
        "self before the rating is shown": seeded.token(seeded.alice),
        "teammate": seeded.token(seeded.bob),
        "unrelated colleague": seeded.token(seeded.outsider),
        "unrelated manager": auth(Role.manager, person_id=uuid.UUID(seeded.outsider)),
        "a stranger with any id": auth(Role.employee),
    }
    assert {who: await status(h) for who, h in allowed.items()} == dict.fromkeys(allowed, 200)
    assert {who: await status(h) for who, h in refused.items()} == dict.fromkeys(refused, 404)

    # Acknowledgement shows the employee their rating: from then on they see how it was computed.
    ack = await seeded.add_task(seeded.alice, "acknowledgement")
    assert await status(seeded.token(seeded.alice)) == 200
    form = (await reviews.get(f"/tasks/{ack}", headers=seeded.token(seeded.alice))).json()
    assert form["score_url"] == f"/review-cycles/{seeded.cycle_id}/participants/{seeded.alice}/score"
    assert form["final_rating"] == 4

    # People who left see nothing, whatever their token says.
    await seeded.deactivate(seeded.manager)
    await seeded.deactivate(seeded.alice)
    assert await status(seeded.token(seeded.manager)) == 404
    assert await status(seeded.token(seeded.alice)) == 404
    assert await status(seeded.token(seeded.boss)) == 200  # the chain above still reaches the boss
    unknown = await reviews.get(
        f"/review-cycles/{seeded.cycle_id}/participants/{uuid.uuid4()}/score", headers=seeded.hr
    )
    assert unknown.status_code == 404
