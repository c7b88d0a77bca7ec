"""A manager's summary of a report's year: sourced sentences, rights, fallback."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from services.reviews.models import ReviewTask
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.llm.server import ModelServer, good

pytestmark = pytest.mark.database

GOAL = uuid.uuid4()
PEER_SCORE = 91.23


async def seed(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> Seeded:
    """Alice's 2026 cycle: goal score, a goal, final rating 4, her submitted self-assessment and her review."""
    seeded = await Seeded(reviews, auth, settings).build()
    inputs = [{"goal_id": str(GOAL), "weight": 100.0, "progress": 80.0}]
    await seeded.set_participant(
        seeded.alice, goal_score=80.0, goal_inputs=inputs, final_rating="4", peer_score=PEER_SCORE, peer_rater_count=5
    )
    await seeded.set_participant(seeded.bob, goal_score=12.0, final_rating="1")
    mine: dict[str, object] = {"answers": [{"item": "notes", "comment": "Led the billing migration."}]}
    theirs: dict[str, object] = {"answers": [{"item": "craft", "value": 4, "comment": "Strong delivery."}]}
    await seeded.add_task(seeded.alice, "self_assessment", status="done", draft=mine)
    await seeded.add_task(seeded.alice, "manager_review", status="done", draft=theirs)
    await seeded.add_task(
        seeded.bob,
        "self_assessment",
        status="done",
        draft={"answers": [{"item": "notes", "comment": "Bob's own words."}]},
    )
    return seeded


def citing(body: dict[str, Any], *, extra: str | None = None) -> dict[str, Any]:
    payload = json.loads(body["messages"][1]["content"])
    sentences = [{"item": "summary", "text": f"See {s['id']}.", "sources": [s["id"]]} for s in payload["sources"]]
    if extra is not None:
        sentences.append({"item": "summary", "text": "More.", "sources": [extra]})
    return {"sentences": sentences[:12]}


async def summary(reviews: httpx.AsyncClient, person: str, headers: dict[str, str], year: Any = 2026) -> httpx.Response:
    return await reviews.post(f"/people/{person}/year-summary", json={"year": year}, headers=headers)


async def test_a_manager_gets_a_sourced_summary_of_a_reports_year(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded = await seed(reviews, auth, settings)
    model.answer(good(citing))
    response = await summary(reviews, seeded.alice, seeded.token(seeded.manager))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "model"
    cycle = seeded.cycle_id
    ids = {source["id"] for source in body["sources"]}
    assert ids == {
        f"cycle:{cycle}:goal-score",
        f"cycle:{cycle}:goal:{GOAL}",
        f"cycle:{cycle}:rating",
        f"cycle:{cycle}:self:notes",
        f"cycle:{cycle}:review:craft",
    }
    assert all(set(sentence["sources"]) <= ids for sentence in body["sentences"])
    sent = str(model.requests[0])
    for secret in (str(PEER_SCORE), "Bob's own words.", "12 out of 100", "alice@example.com"):
        assert secret not in sent
    assert "Led the billing migration." in sent
    # Nothing for a year without cycles: no model call, a note.
    model.answer(good(citing))
    empty = (await summary(reviews, seeded.alice, seeded.token(seeded.manager), 2024)).json()
    assert (empty["sentences"], empty["provider"]) == ([], "local")
    assert model.requests == []
    audit = (await reviews.get("/review-drafts/audit", headers=seeded.token(seeded.manager))).json()
    assert [item["subject"] for item in audit["items"]] == [
        f"person:{seeded.alice}:2024",
        f"person:{seeded.alice}:2026",
    ]


async def test_an_invented_source_falls_back_to_the_local_summary(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded = await seed(reviews, auth, settings)
    model.answer(good(lambda body: citing(body, extra=f"cycle:{seeded.cycle_id}:peer")))
    body = (await summary(reviews, seeded.alice, seeded.token(seeded.boss))).json()
    assert (body["provider"], body["fallback_reason"]) == ("local", "malformed")
    texts = [sentence["text"] for sentence in body["sentences"]]
    assert texts[:2] == ["2026: goal score 80 out of 100.", f"2026: goal {GOAL}: 80 % attained, weight 100."]
    assert texts[2].startswith("2026: final rating ")
    assert [sentence["sources"] for sentence in body["sentences"]] == [
        [f"cycle:{seeded.cycle_id}:goal-score"],
        [f"cycle:{seeded.cycle_id}:goal:{GOAL}"],
        [f"cycle:{seeded.cycle_id}:rating"],
    ]
    assert len(body["sentences"]) == 3


async def test_only_the_persons_managers_may_ask(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded = await seed(reviews, auth, settings)
    model.answer(good(citing))
    expected = {
        "manager": (seeded.token(seeded.manager), 200),
        "skip-level": (seeded.token(seeded.boss), 200),
        "self": (seeded.token(seeded.alice), 403),
        "hr": (seeded.hr, 403),
        "admin": (seeded.admin, 403),
        "colleague": (seeded.token(seeded.bob), 404),
        "unrelated": (seeded.token(seeded.outsider), 404),
        "anonymous": ({}, 401),
    }
    for who, (headers, status) in expected.items():
        response = await summary(reviews, seeded.alice, headers)
        assert response.status_code == status, (who, response.text)
    assert (await summary(reviews, str(uuid.uuid4()), seeded.token(seeded.manager))).status_code == 404
    bad = await summary(reviews, seeded.alice, seeded.token(seeded.manager), "last year")
    assert bad.status_code == 422
    assert "year" in bad.text
    await seeded.deactivate(seeded.manager)
    assert (await summary(reviews, seeded.alice, seeded.token(seeded.manager))).status_code == 403
    async with sessionmaker_of(reviews)() as session:
        assert await session.get(ReviewTask, "nothing") is None  # the summary writes no task
