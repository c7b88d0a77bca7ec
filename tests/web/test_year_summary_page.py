"""A manager's year summary page over the real reviews, goals and feedback services (the organisation of
tests/drafts): the team page links it, only managers above the person get a summary (from the bundles
the page fetches with their own token), everyone else is refused as reviews would, and each sentence
points at the sources it cites."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.settings import Settings
from tests.drafts.conftest import (  # noqa: F401 (the organisation and the scripted model server)
    ALICE_NOTE,
    BOB_WRITTEN,
    OLGA_WRITTEN,
    PEER_ANSWER,
    PRAISE,
    PUBLIC_GOAL,
    World,
    model,
    settings,
    world,
)
from tests.llm.server import ModelServer, down
from tests.support.waiting import wait_until
from tests.web.conftest import csrf_of, forged_session, sign_in_as, web_client
from web.summary_pages import YEAR_ERROR

pytestmark = pytest.mark.database

CITES = re.compile(r'<a href="#source-(\d+)">')


def bearer(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def clients(world: World, settings: Settings) -> AsyncIterator[dict[str, httpx.AsyncClient]]:  # noqa: F811
    app = world.web_app(settings)
    s = world.seeded
    async with app.router.lifespan_context(app):
        found: dict[str, httpx.AsyncClient] = {}
        for who in ("boss", "manager", "alice", "bob", "outsider"):
            found[who] = web_client(app)
            await sign_in_as(found[who], world.person(who))
        found["hr"], found["admin"] = web_client(app), web_client(app)
        forged_session(found["hr"], s.hr_id, bearer(s.hr), ["hr", "employee"])
        forged_session(found["admin"], s.admin_id, bearer(s.admin), ["admin", "employee"])
        try:
            yield found
        finally:
            for client in found.values():
                await client.aclose()


async def write(client: httpx.AsyncClient, person: str, year: str) -> httpx.Response:
    token = csrf_of((await client.get("/inbox")).text)
    return await client.post(f"/team/{person}/year-summary", data={"csrf_token": token, "year": year})


async def test_the_year_summary_page_by_role(
    world: World,  # noqa: F811
    clients: dict[str, httpx.AsyncClient],
    model: ModelServer,  # noqa: F811
) -> None:
    s = world.seeded
    await s.set_participant(s.alice, goal_score=70.0)
    model.answer(down())  # the local writer: its sentences carry the attested texts themselves
    page = f"/team/{s.alice}/year-summary"

    team = await clients["manager"].get("/team")
    assert f'href="{page}"' in team.text
    # Managers above Alice (direct and skip-level) open the page; the person, HR and admins get 403;
    # a colleague and an unrelated person 404, as reviews answers.
    expected = {"manager": 200, "boss": 200, "alice": 403, "hr": 403, "admin": 403, "bob": 404, "outsider": 404}
    for who, status in expected.items():
        assert (await clients[who].get(page)).status_code == status, who
        if status != 200:
            assert (await write(clients[who], s.alice, "2026")).status_code == status, who
    assert (await clients["manager"].get("/team/not-a-person/year-summary")).status_code == 404
    assert (await clients["manager"].get(f"/team/{uuid.uuid4()}/year-summary")).status_code == 404
    assert (await clients["manager"].post(page, data={"year": "2026"})).status_code == 403  # no CSRF token
    assert model.requests == []  # nothing was summarised for anyone refused

    shown = await clients["manager"].get(page)
    assert 'id="year" name="year" min="2000" max="2100" value="2026"' in shown.text
    for year in ("1999", "twenty", ""):
        wrong = await write(clients["manager"], s.alice, year)
        assert wrong.status_code == 422, year
        assert f'<p class="error" id="error-year">{YEAR_ERROR}</p>' in wrong.text
        assert 'aria-describedby="error-year"' in wrong.text

    summary = await write(clients["manager"], s.alice, "2026")
    assert summary.status_code == 200, summary.text
    html = summary.text
    assert "Summary of 2026" in html
    assert "Written without the language model" in html
    sentences = html.split('<ol class="sentences">')[1].split("</ol>")[0]
    for text in (PUBLIC_GOAL, PRAISE):
        assert text in sentences, text
    sources = html.split('<ol class="sources">')[1].split("</ol>")[0]
    numbered = re.findall(r'<li id="source-(\d+)">', sources)
    cited = set(CITES.findall(sentences))
    assert cited
    assert cited <= set(numbered)  # every citation points at a listed source
    first_cited = CITES.findall(sentences)[0]
    assert f'<li id="source-{first_cited}">' in sources
    assert "70" in sources.split(f'<li id="source-{first_cited}">')[1].split("</li>")[0]  # the goal score
    assert "(from goals)" in sources
    assert "(from feedback)" in sources
    # What the manager may not read about Alice is nowhere: her own note, colleagues' words, peer answers.
    for text in (ALICE_NOTE, OLGA_WRITTEN, BOB_WRITTEN, PEER_ANSWER):
        assert text not in html, text
    skip_level = await write(clients["boss"], s.alice, "2026")
    assert skip_level.status_code == 200, skip_level.text
    assert PUBLIC_GOAL in skip_level.text

    # The skip-level is deactivated while signed in: refused, page and summary.
    gone = await world.reviews.patch(f"/people/{s.boss}", json={"active": False}, headers=s.hr)
    assert gone.status_code == 200, gone.text

    async def refused() -> bool:
        return (await clients["boss"].get(page)).status_code == 403

    await wait_until(refused, timeout=10, message="the deactivated skip-level is refused")
    assert (await write(clients["boss"], s.alice, "2026")).status_code == 403
