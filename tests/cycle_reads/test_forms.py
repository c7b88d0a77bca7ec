"""Issue 15.1: a task's form carries what a person needs to fill it in."""

from __future__ import annotations

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded

pytestmark = pytest.mark.database


async def test_form_has_scale_labels_behaviours_and_company_values(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    task = await seeded.add_task(seeded.alice, "self_assessment")

    response = await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.alice))

    assert response.status_code == 200, response.text
    sections = {section["key"]: section for section in response.json()["sections"]}
    items = {item["key"]: item for section in sections.values() for item in section["items"]}
    # The scale as the rating scale has it (tests/reviews_config/builders.py: "Level n", "Described n").
    assert items["craft"]["scale"] == [
        {"value": float(v), "label": f"Level {v}", "description": f"Described {v}"} for v in range(1, 6)
    ]
    assert items["craft"]["scale_name"] == "Five points"
    assert items["craft"]["name"] == "Craft"
    assert items["craft"]["behaviours"] == [
        {"level": 1.0, "description": "Needs help with routine work."},
        {"level": 5.0, "description": "Raises the bar for the team."},
    ]
    assert items["ownership"]["company_value"] == "Ownership"
    assert items["ownership"]["behaviours"] == [{"level": None, "description": "Sees things through."}]
    assert items["impact"]["text"] == "How big was the impact?"
    assert items["impact"]["scale"][2]["label"] == "Level 3"
    assert items["notes"]["scale"] is None
    assert sections["skills"]["weight"] == 30


async def test_form_keeps_the_points_the_template_was_published_with(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    """A scale renamed after publication: the form shows the frozen points, the ones answers are checked against."""
    seeded = await Seeded(reviews, auth, settings).build()
    task = await seeded.add_task(seeded.alice, "self_assessment")
    renamed = await reviews.put(
        f"/rating-scales/{seeded.scale_id}",
        json={
            "name": "Renamed",
            "description": None,
            "points": [{"value": v, "label": f"Level {v}", "description": f"Described {v}"} for v in range(1, 6)],
        },
        headers=seeded.hr,
    )
    assert renamed.status_code == 200, renamed.text

    form = (await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.alice))).json()

    craft = next(item for section in form["sections"] for item in section["items"] if item["key"] == "craft")
    assert craft["scale_name"] == "Five points"
