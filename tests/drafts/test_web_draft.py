"""The web app's "Write a first draft": it fetches the signed bundles with the person's token and passes them on."""

from __future__ import annotations

import re

import pytest

from shared.settings import Settings
from tests.drafts.conftest import ALICE_NOTE, GOAL_NOTE, MANAGER_NOTE, PEER_ANSWER, PRAISE, PUBLIC_GOAL, World
from tests.llm.server import ModelServer, down
from tests.web.conftest import csrf_of, sign_in_as, web_client

pytestmark = pytest.mark.database


async def test_the_task_page_writes_a_first_draft_from_attested_sources(
    world: World, settings: Settings, model: ModelServer
) -> None:
    task = await world.seeded.add_task(world.seeded.alice, "self_assessment")
    app = world.web_app(settings)
    model.answer(down())  # the local writer: the page must carry the attested texts itself
    async with app.router.lifespan_context(app), web_client(app) as web:
        await sign_in_as(web, world.seeded.alice)
        page = await web.get(f"/tasks/{task}")
        assert page.status_code == 200, page.text
        assert 'value="generate"' in page.text
        posted = {"csrf_token": csrf_of(page.text), "action": "generate", "comment:impact": "My own words stay."}
        response = await web.post(f"/tasks/{task}", data=posted)
        assert response.status_code == 200, response.text
        notes = re.search(r'name="comment:notes"[^>]*>([^<]*)</textarea>', response.text)
        assert notes is not None, response.text
        drafted = notes.group(1)
        for text in (PUBLIC_GOAL, GOAL_NOTE, PRAISE):
            assert text in drafted, text
        assert "My own words stay." in response.text  # what the person typed is kept
        for text in (PEER_ANSWER, MANAGER_NOTE):
            assert text not in response.text
        assert ALICE_NOTE in response.text  # her own note is among the sources she may read
    form = (await world.reviews.get(f"/tasks/{task}", headers=world.headers("alice"))).json()
    assert form["drafts_generated"] == 1
    assert form["draft"] is None  # nothing saved until she saves it
