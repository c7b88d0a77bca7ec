"""Review drafts from attested sources: the real goals and feedback answer, reviews verifies, the model sees
only what the writer may read; a forged, changed, expired or misdirected bundle is refused and nothing stored."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.attestation import SourceBundle, SourceItem, SourceItemKind, sign_bundle, signing_key
from shared.settings import Settings
from tests.drafts.conftest import (
    ACTION,
    AGENDA,
    ALICE_NOTE,
    BOB_WRITTEN,
    BOBS_GOAL,
    BOBS_NOTE,
    GOAL_NOTE,
    KEY_RESULT,
    MANAGER_NOTE,
    MANAGER_WRITTEN,
    OLGA_WRITTEN,
    PEER_ANSWER,
    PRAISE,
    PRAISE_FOR_BOB,
    PRIVATE_GOAL,
    PUBLIC_GOAL,
    World,
)
from tests.llm.server import ModelServer, down, good
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

NEVER = (PEER_ANSWER, BOBS_GOAL, BOBS_NOTE, PRAISE_FOR_BOB)


def citing(body: dict[str, Any]) -> dict[str, Any]:
    """A draft whose sentences cite every source of the prompt, a few per sentence (at most 12 sentences)."""
    payload = json.loads(body["messages"][1]["content"])
    item = payload["items"][-1]["key"]
    ids = [source["id"] for source in payload["sources"]]
    groups = [ids[start : start + 4] for start in range(0, len(ids), 4)][:12]
    return {"sentences": [{"item": item, "text": f"Based on {', '.join(g)}.", "sources": g} for g in groups]}


async def generate(world: World, task: str, who: str, bundles: list[dict[str, Any]] | None) -> httpx.Response:
    body = None if bundles is None else {"attested_sources": bundles}
    return await world.reviews.post(f"/tasks/{task}/draft/generate", json=body, headers=world.headers(who))


def prompt_of(model: ModelServer) -> str:
    return str(model.requests[0]["messages"])


async def test_a_self_assessment_cites_goal_titles_check_ins_and_praise(world: World, model: ModelServer) -> None:
    task = await world.seeded.add_task(world.seeded.alice, "self_assessment")
    bundles = await world.bundles("alice")
    readable = {item["id"] for bundle in bundles for item in bundle["items"]}
    model.answer(good(citing))
    response = await generate(world, task, "alice", bundles)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["provider"] == "model"
    attested = {source["id"] for source in body["sources"] if source["issuer"] is not None}
    assert attested == readable
    assert {f"goals:goal:{world.ids[PUBLIC_GOAL]}", f"goals:check-in:{world.ids[GOAL_NOTE]}"} <= attested
    assert f"feedback:praise:{world.ids[PRAISE]}" in attested
    cited = {source for sentence in body["sentences"] for source in sentence["sources"]}
    assert attested <= cited  # the scripted model cites them all ...
    assert cited <= {source["id"] for source in body["sources"]}  # ... and nothing else passes the check
    assert body["unavailable_sources"] == [
        "Peer feedback (360 and upward answers, peer ratings, their aggregate): never used, by design."
    ]
    # What reached the model: her goals with titles and check-ins, praise, her 1:1 items and own note.
    sent = prompt_of(model)
    for text in (PUBLIC_GOAL, KEY_RESULT, GOAL_NOTE, PRIVATE_GOAL, PRAISE, AGENDA, ACTION, ALICE_NOTE):
        assert text in sent, text
    for text in (*NEVER, MANAGER_NOTE):
        assert text not in sent, text
    # The audit entry is the prompt as sent.
    audit = (await world.reviews.get("/review-drafts/audit", headers=world.headers("alice"))).json()
    (entry,) = audit["items"]
    assert entry["messages"] == model.requests[0]["messages"]
    assert entry["prompt_version"] == "review_draft/v2"
    assert PUBLIC_GOAL in json.dumps(entry["messages"])


async def test_a_manager_review_and_year_summary_use_the_managers_own_reading(world: World, model: ModelServer) -> None:
    s = world.seeded
    review = await s.add_task(s.alice, "manager_review")
    bundles = await world.bundles("manager")
    model.answer(good(citing))
    body = (await generate(world, review, "manager", bundles)).json()
    assert body["provider"] == "model", body
    sent = prompt_of(model)
    for text in (PUBLIC_GOAL, PRIVATE_GOAL, PRAISE, MANAGER_WRITTEN, AGENDA, ACTION, MANAGER_NOTE):
        assert text in sent, text
    # Her own note; colleagues' written feedback, even the one she shared with him (peer feedback text).
    for text in (*NEVER, ALICE_NOTE, OLGA_WRITTEN, BOB_WRITTEN):
        assert text not in sent, text
    # The year summary takes the same bundles; with the model down the local summary cites them plainly.
    await s.set_participant(s.alice, goal_score=70.0)
    model.answer(down())
    response = await world.reviews.post(
        f"/people/{s.alice}/year-summary",
        json={"year": 2026, "attested_sources": bundles},
        headers=world.headers("manager"),
    )
    assert response.status_code == 200, response.text
    summary = response.json()
    assert (summary["provider"], summary["fallback_reason"]) == ("local", "down")
    cited = [source for sentence in summary["sentences"] for source in sentence["sources"]]
    assert cited[0] == f"cycle:{s.cycle_id}:goal-score"
    kinds = {source["id"]: source["kind"] for source in summary["sources"]}
    # One of each kind before a second of any: goals, praise and action items all make it into 12 sentences;
    # private notes, written feedback and the agenda are sources, never copied word for word by the local writer.
    cited_kinds = {kinds[source] for source in cited}
    assert {"goal", "key_result", "goal_check_in", "praise", "checkin_action"} <= cited_kinds
    assert not cited_kinds & {"own_note", "written_feedback", "checkin_agenda"}
    assert {"own_note", "written_feedback", "checkin_agenda"} <= set(kinds.values())
    assert PRAISE in summary["text"]
    assert PUBLIC_GOAL in summary["text"]
    for text in (MANAGER_NOTE, MANAGER_WRITTEN, AGENDA):
        assert text not in summary["text"]
    assert len(summary["sentences"]) <= 12
    for text in (*NEVER, ALICE_NOTE, OLGA_WRITTEN, BOB_WRITTEN):
        assert text not in response.text


def resigned(world: World, settings: Settings, bundle: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The bundle signed again with its issuer's real key, with ``changes`` (issuer, reader_id, subject_id, now)."""
    parsed = SourceBundle.model_validate(bundle)
    values: dict[str, Any] = {
        "issuer": parsed.attestation.issuer,
        "reader_id": parsed.attestation.reader_id,
        "subject_id": parsed.attestation.subject_id,
        "items": parsed.items,
    }
    values.update(changes)
    return sign_bundle(signing_key(settings, parsed.attestation.issuer), **values).model_dump(mode="json")


async def test_forged_changed_expired_or_misdirected_bundles_are_refused(
    world: World, model: ModelServer, settings: Settings
) -> None:
    s = world.seeded
    task = await s.add_task(s.alice, "self_assessment")
    goals_bundle, feedback_bundle = await world.bundles("alice")
    forged = copy.deepcopy(goals_bundle)
    forged["attestation"]["signature"] = "A" * 43
    tampered = copy.deepcopy(feedback_bundle)
    tampered["items"][0]["text"] = "Praise received: Alice is the best engineer we ever had."
    smuggled = copy.deepcopy(goals_bundle)  # an item added to a genuine bundle
    smuggled["items"].append({"id": f"goals:goal:{uuid.uuid4()}", "kind": "goal", "text": "Invented goal."})
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = resigned(world, settings, goals_bundle, now=past)
    bobs = (await world.bundles("bob"))[0]  # Bob's reading of Alice, passed on by Alice
    about_bob = (await world.bundles("alice", s.bob))[0]  # Alice's reading of Bob, for her own draft
    other_issuer = resigned(world, settings, goals_bundle, issuer="rewards")
    wrong_kind = resigned(
        world,
        settings,
        goals_bundle,
        items=[SourceItem(id="goals:praise:1", kind=SourceItemKind.praise, text="Praise, issued by goals.")],
    )
    # Goals' own key, passing a bundle off as feedback's: each issuer signs with a key of its own.
    as_feedback = resigned(
        world,
        settings,
        goals_bundle,
        issuer="feedback",
        items=[SourceItem(id="feedback:praise:1", kind=SourceItemKind.praise, text="Praise, signed by goals.")],
    )
    cases = [
        ([forged], "attested_sources.0.attestation.signature"),
        ([as_feedback], "attested_sources.0.attestation.signature"),
        ([goals_bundle, tampered], "attested_sources.1.items"),
        ([smuggled], "attested_sources.0.items"),
        ([expired], "attested_sources.0.attestation.expires_at"),
        ([bobs], "attested_sources.0.attestation.reader_id"),
        ([about_bob], "attested_sources.0.attestation.subject_id"),
        ([other_issuer], "attested_sources.0.attestation.issuer"),
        ([wrong_kind], "attested_sources.0.items.0"),
    ]
    model.answer(good(citing))
    for bundles, field in cases:
        response = await generate(world, task, "alice", bundles)
        assert_problem(response, 422)
        assert field in problem_fields(response), (field, response.text)
    malformed = await generate(world, task, "alice", [{"items": [], "attestation": {"issuer": "goals"}}])
    assert_problem(malformed, 422)
    assert any(name.startswith("attested_sources.0.attestation") for name in problem_fields(malformed))
    # Nothing was stored or sent: no audit entry, no draft recorded on the form, no model call.
    assert model.requests == []
    assert (await world.reviews.get("/review-drafts/audit", headers=world.headers("alice"))).json()["total"] == 0
    form = (await world.reviews.get(f"/tasks/{task}", headers=world.headers("alice"))).json()
    assert form["drafts_generated"] == 0
    # The year summary refuses the same way (the manager passing Alice's own bundle).
    refused = await world.reviews.post(
        f"/people/{s.alice}/year-summary",
        json={"year": 2026, "attested_sources": [goals_bundle]},
        headers=world.headers("manager"),
    )
    assert_problem(refused, 422)
    assert "attested_sources.0.attestation.reader_id" in problem_fields(refused)
    # Without a body, and with the genuine bundles, the same task drafts.
    assert (await generate(world, task, "alice", None)).status_code == 200
    assert (await generate(world, task, "alice", [goals_bundle, feedback_bundle])).status_code == 200
