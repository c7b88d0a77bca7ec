"""Issue 15.10: GET /review-cycles/{id} says how far the background work of the current phase has come."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session

pytestmark = pytest.mark.database


async def _activity(seeded: Seeded) -> dict[str, Any]:
    response = await seeded.reviews.get(f"/review-cycles/{seeded.cycle_id}", headers=seeded.hr)
    assert response.status_code == 200, response.text
    activity: dict[str, Any] = response.json()["activity"]
    return activity


async def test_activity_follows_each_phase_until_settled(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    launched = await _activity(seeded)
    assert (launched["participants"], launched["settled"], launched["tasks_created"]) == (4, False, {})

    await seeded.set_cycle(phase="self_assessment")
    await seeded.add_task(seeded.alice, "self_assessment")
    await seeded.add_task(seeded.bob, "self_assessment")
    half = await _activity(seeded)
    assert (half["phase_step"], half["phase_tasks_expected"], half["tasks_created"]) == (
        "self_assessment",
        4,
        {"self_assessment": 2},
    )
    assert half["settled"] is False
    await seeded.add_task(seeded.manager, "self_assessment")
    await seeded.add_task(seeded.outsider, "self_assessment", status="done")
    await seeded.set_participant(seeded.alice, goal_score=70.0, goal_score_revision=1)
    full = await _activity(seeded)
    assert (full["settled"], full["goal_scores_received"]) == (True, 1)

    # Someone leaves: they no longer count, their tasks neither.
    await seeded.set_participant(seeded.outsider, closed_reason="participant_left")
    await seeded.set_cycle(phase="calibration")
    calibrating = await _activity(seeded)
    assert (calibrating["participants"], calibrating["tasks_created"]) == (3, {"self_assessment": 3})
    assert (calibrating["phase_step"], calibrating["settled"]) == (None, False)  # no session yet
    await open_session(seeded)
    await seeded.set_participant(seeded.alice, final_rating="4", rating_version=1)
    opened = await _activity(seeded)
    assert (opened["settled"], opened["calibration_sessions"], opened["ratings_published"]) == (True, 1, 1)


async def test_a_draft_has_no_activity(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    await seeded.set_cycle(status="draft")
    response = await reviews.get(f"/review-cycles/{seeded.cycle_id}", headers=seeded.hr)
    assert response.json()["activity"] is None
