"""Review drafts against a scripted model server: citations, fallback, quota, audit, rights."""

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
from tests.llm.conftest import configure
from tests.llm.server import ModelServer, down, good

pytestmark = pytest.mark.database

GOAL_A, GOAL_B = uuid.uuid4(), uuid.uuid4()
PEER_SCORE = 87.65  # must never reach a prompt


async def seed(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> tuple[Seeded, str, str]:
    """Alice's open self-assessment (with a saved answer) and her manager's open review, after hers was submitted."""
    seeded = await Seeded(reviews, auth, settings).build()
    inputs = [
        {"goal_id": str(GOAL_A), "weight": 60.0, "progress": 50.0},
        {"goal_id": str(GOAL_B), "weight": 40.0, "progress": 100.0},
    ]
    await seeded.set_participant(
        seeded.alice, goal_score=70.0, goal_inputs=inputs, peer_score=PEER_SCORE, peer_rater_count=4
    )
    own = {"answers": [{"item": "impact", "value": 4, "comment": "Shipped the billing service."}]}
    self_task = await seeded.add_task(seeded.alice, "self_assessment", draft=own)
    return seeded, self_task, await seeded.add_task(seeded.alice, "manager_review")


def citing(body: dict[str, Any], *, extra: str | None = None) -> dict[str, Any]:
    """A draft citing the prompt's sources, one sentence each (``extra``: one more cited id)."""
    payload = json.loads(body["messages"][1]["content"])
    item = payload["items"][-1]["key"]
    sentences = [{"item": item, "text": f"Based on {s['id']}.", "sources": [s["id"]]} for s in payload["sources"]]
    if extra is not None:
        sentences.append({"item": item, "text": "Something else.", "sources": [extra]})
    return {"sentences": sentences}


async def generate(reviews: httpx.AsyncClient, task: str, headers: dict[str, str]) -> httpx.Response:
    return await reviews.post(f"/tasks/{task}/draft/generate", headers=headers)


async def test_a_self_assessment_draft_cites_only_what_the_person_may_read(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded, task, _ = await seed(reviews, auth, settings)
    model.answer(good(citing))
    response = await generate(reviews, task, seeded.token(seeded.alice))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["provider"], body["fallback_reason"], body["step"]) == ("model", None, "self_assessment")
    ids = {source["id"] for source in body["sources"]}
    assert ids == {"goal-score", f"goal:{GOAL_A}", f"goal:{GOAL_B}", "own:impact"}
    assert body["sentences"]
    assert all(set(sentence["sources"]) <= ids and sentence["sources"] for sentence in body["sentences"])
    assert body["answers"] == [
        {"item": "notes", "value": None, "comment": " ".join(s["text"] for s in body["sentences"])}
    ]
    assert any("Praise received" in line for line in body["unavailable_sources"])
    # Nothing sensitive left: no peer score, no name, no e-mail address.
    sent = str(model.requests[0])
    for secret in (str(PEER_SCORE), "peer_score", "alice@example.com", "rater"):
        assert secret not in sent
    assert "Shipped the billing service." in sent  # her own answer is hers to use
    # The form records it; the audit log has the prompt and the answer, for Alice only.
    form = (await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.alice))).json()
    assert form["drafts_generated"] == 1
    assert form["draft_generated_at"] is not None
    manager_view = (await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.manager))).json()
    assert manager_view["drafts_generated"] == 1
    audit = (await reviews.get("/review-drafts/audit", headers=seeded.token(seeded.alice))).json()
    assert audit["total"] == 1
    entry = audit["items"][0]
    assert (entry["id"], entry["subject"], entry["prompt_version"]) == (body["audit_id"], task, "review_draft/v2")
    assert entry["messages"] == model.requests[0]["messages"]
    assert "Based on goal-score." in entry["answers"][0]
    for headers in (seeded.token(seeded.manager), seeded.hr, seeded.admin):
        assert (await reviews.get("/review-drafts/audit", headers=headers)).json()["total"] == 0


async def test_a_citation_of_anything_else_is_refused_then_the_local_draft_answers(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded, task, _ = await seed(reviews, auth, settings)
    model.answer(good(lambda body: citing(body, extra=f"goal:{uuid.uuid4()}")))
    body = (await generate(reviews, task, seeded.token(seeded.alice))).json()
    assert (body["provider"], body["fallback_reason"]) == ("local", "malformed")
    assert "are not among the given source ids" in model.requests[1]["messages"][3]["content"]
    ids = {source["id"] for source in body["sources"]}
    assert body["sentences"][0]["text"] == "My goal score for the cycle period is 70 out of 100."
    assert all(set(sentence["sources"]) <= ids for sentence in body["sentences"])
    assert len(body["sentences"]) == 3  # the score and both goals


async def test_a_manager_review_draws_on_the_submitted_self_assessment(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded, own, review = await seed(reviews, auth, settings)
    answers: dict[str, object] = {
        "answers": [{"item": "craft", "value": 5}, {"item": "notes", "comment": "I grew a lot."}]
    }
    await seeded.add_task(seeded.bob, "self_assessment", draft={"answers": [{"item": "craft", "value": 1}]})
    await seeded.set_participant(seeded.bob, goal_score=12.0)  # another person's: never a source
    async with sessionmaker_of(reviews)() as session, session.begin():
        submitted = await session.get(ReviewTask, own)
        assert submitted is not None
        submitted.status, submitted.draft = "done", answers
    model.answer(down())
    body = (await generate(reviews, review, seeded.token(seeded.manager))).json()
    assert (body["provider"], body["fallback_reason"]) == ("local", "down")
    ids = {source["id"] for source in body["sources"]}
    assert {"self:craft", "self:notes"} <= ids
    assert "goal-score" in ids
    texts = [sentence["text"] for sentence in body["sentences"]]
    assert "Your goal score for the cycle period is 70 out of 100." in texts
    assert "You rated yourself Level 5 (5) on 'Craft'." in texts
    # Bob's goal score (12) is another person's: never a source, never in a sentence. Sentences may
    # carry random ids, so look for the score as the draft words it.
    assert all("is 12 out of 100" not in text for text in texts), texts
    assert all(not source["id"].endswith(str(seeded.bob)) for source in body["sources"])


async def test_quota_and_feature_switch(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded, task, _ = await seed(reviews, auth, settings)
    model.answer(good(citing))
    configure(reviews, llm_daily_quota=1)
    reasons = [(await generate(reviews, task, seeded.token(seeded.alice))).json()["fallback_reason"] for _ in range(2)]
    assert reasons == [None, "quota"]
    configure(reviews, llm_review_drafts=False)
    assert (await generate(reviews, task, seeded.token(seeded.alice))).json()["fallback_reason"] == "feature_off"
    assert len(model.requests) == 1
    form = (await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.alice))).json()
    assert form["drafts_generated"] == 3


async def test_only_the_writer_of_an_open_task_may_ask(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings, model: ModelServer
) -> None:
    seeded, task, review = await seed(reviews, auth, settings)
    model.answer(good(citing))
    expected = {
        "self": (seeded.token(seeded.alice), 200),
        "manager": (seeded.token(seeded.manager), 403),  # reads the task, does not write it
        "skip-level": (seeded.token(seeded.boss), 403),
        "hr": (seeded.hr, 403),
        "admin": (seeded.admin, 403),
        "colleague": (seeded.token(seeded.bob), 404),
        "unrelated": (auth(person_id=uuid.UUID(seeded.outsider)), 404),
        "anonymous": ({}, 401),
    }
    for who, (headers, status) in expected.items():
        response = await generate(reviews, task, headers)
        assert response.status_code == status, (who, response.text)
        if status != 200:
            assert response.headers["content-type"].startswith("application/problem+json"), who
    assert (await generate(reviews, review, seeded.token(seeded.manager))).status_code == 200
    assert (await generate(reviews, "no-such-task", seeded.token(seeded.alice))).status_code == 404
    ack = await seeded.add_task(seeded.bob, "acknowledgement")
    assert (await generate(reviews, ack, seeded.token(seeded.bob))).status_code == 409
    done = await seeded.add_task(seeded.bob, "self_assessment", status="done")
    assert (await generate(reviews, done, seeded.token(seeded.bob))).status_code == 409
    await seeded.deactivate(seeded.alice)
    assert (await generate(reviews, task, seeded.token(seeded.alice))).status_code == 403
    assert (await reviews.get("/review-drafts/audit")).status_code == 401
    assert (await reviews.get("/review-drafts/audit", headers=seeded.token(seeded.manager))).json()["total"] == 1
