"""Issue 15.5: a rating is a JSON number wherever the reviews API shows one."""

from __future__ import annotations

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, open_session

pytestmark = pytest.mark.database


async def test_participants_rows_buckets_and_adjustments_show_ratings_as_numbers(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    await seeded.set_cycle(phase="calibration")
    await seeded.set_participant(seeded.alice, proposed_rating="3", final_rating="3")
    session_id = await open_session(seeded)

    participants = (await reviews.get(f"/review-cycles/{seeded.cycle_id}/participants", headers=seeded.hr)).json()
    alice = next(p for p in participants["items"] if p["person_id"] == seeded.alice)
    adjusted = await reviews.post(
        f"/calibration-sessions/{session_id}/adjustments",
        json={"person_id": seeded.alice, "to_rating": "4", "reason": "Led the migration"},
        headers=seeded.hr,
    )
    detail = (await reviews.get(f"/calibration-sessions/{session_id}", headers=seeded.hr)).json()

    assert (alice["proposed_rating"], alice["final_rating"], alice["potential_rating"]) == (3, 3, None)
    assert adjusted.status_code == 201, adjusted.text
    assert (adjusted.json()["from_rating"], adjusted.json()["to_rating"]) == (3, 4)
    row = next(r for r in detail["rows"] if r["person_id"] == seeded.alice)
    assert (row["proposed_rating"], row["final_rating"]) == (3, 4)
    assert [bucket["value"] for bucket in detail["distribution"]] == [1, 2, 3, 4, 5]
    values = [alice["proposed_rating"], row["final_rating"], detail["distribution"][3]["value"]]
    assert all(isinstance(value, float) for value in values), values  # not "3.000", not "3.0"
    assert detail["distribution"][3]["count"] == 1
