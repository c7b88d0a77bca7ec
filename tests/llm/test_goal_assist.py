"""Goal writing help against a scripted OpenAI-compatible server: good, malformed, slow, down, quota, audit."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.goals.conftest import Member, add_people
from tests.llm.conftest import API_KEY, configure
from tests.llm.server import ModelServer, closed_port_url, down, good, malformed, slow

pytestmark = pytest.mark.database

DRAFT = {"title": "Improve onboarding", "period": "2026-Q2"}


def smart_answer(body: dict[str, Any]) -> dict[str, Any]:
    """A rewrite that passes the SMART check, aligned to the first candidate the prompt offers."""
    payload = json.loads(body["messages"][1]["content"])
    parents = payload["candidate_parents"]
    return {
        "title": "Cut onboarding time from 10 to 5 days",
        "description": "New engineers ship their first change within a week.",
        "key_results": [{"title": "Median onboarding days", "unit": "number", "start_value": 10, "target_value": 5}],
        "milestones": [
            {"title": "Checklist agreed", "due_date": "2026-04-30"},
            {"title": "Buddy programme live", "due_date": "2026-06-15"},
        ],
        "aligned_to_id": parents[0]["id"] if parents else None,
    }


VAGUE = {
    "title": "Improve onboarding",
    "key_results": [{"title": "Onboarding", "unit": "number", "start_value": 1, "target_value": 1}],
    "milestones": [{"title": "Late", "due_date": "2026-09-30"}],
}


class Org:
    def __init__(self) -> None:
        self.lead, self.ada, self.bob, self.hr = (uuid.uuid4() for _ in range(4))


@pytest.fixture
async def org(goals: httpx.AsyncClient, auth: TokenFactory) -> tuple[Org, dict[str, str]]:
    org = Org()
    await add_people(goals, [Member(org.lead), Member(org.ada, org.lead), Member(org.bob, org.lead), Member(org.hr)])
    ids: dict[str, str] = {}
    for name, headers, body in (
        ("company", auth(Role.hr, person_id=org.hr), {"level": "company", "title": "Grow engineering onboarding"}),
        ("team", auth(Role.manager, person_id=org.lead), {"level": "team", "title": "Onboarding in one week"}),
        ("bob_private", auth(person_id=org.bob), {"title": "Secret onboarding plan of Bob", "visibility": "private"}),
        ("ada_private", auth(person_id=org.ada), {"title": "Private onboarding notes of Ada", "visibility": "private"}),
        ("old", auth(Role.hr, person_id=org.hr), {"level": "company", "title": "Onboarding 2025", "period": "2025"}),
    ):
        response = await goals.post("/goals", json={"period": "2026-Q2", **body}, headers=headers)
        assert response.status_code == 201, response.text
        ids[name] = response.json()["id"]
    return org, ids


async def assist(goals: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await goals.post("/goals/assist", json={**DRAFT, **body}, headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_a_good_answer_is_shown_checked_and_audited(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, ids = org
    model.answer(good(smart_answer))
    body = await assist(goals, auth(person_id=people.ada))
    assert body["provider"] == "model"
    assert body["fallback_reason"] is None
    assert body["suggestion"]["title"] == "Cut onboarding time from 10 to 5 days"
    assert body["suggestion_smart"]["ok"] is True
    assert body["draft_smart"]["ok"] is False  # the draft itself is vague
    # Parents: goals Ada may see, in the period, of her level or above; never Bob's private goal.
    offered = {parent["id"] for parent in body["parents"]}
    assert offered == {ids["company"], ids["team"]}
    assert body["suggestion"]["aligned_to_id"] in offered
    assert all("2026-04-01" <= m["due_date"] <= "2026-06-30" for m in body["milestones"])
    # What went to the server: the key from the secret file, the model, the prompt version's text.
    assert len(model.requests) == 1
    assert model.headers[0]["authorization"] == f"Bearer {API_KEY}"
    assert model.requests[0]["model"] == "test-model"
    assert model.requests[0]["response_format"]["type"] == "json_schema"
    sent = model.prompt()
    assert {p["id"] for p in sent["candidate_parents"]} == offered
    assert "Secret onboarding plan of Bob" not in str(model.requests[0])
    # The audit log: Ada's own, with the prompt and the answer as received.
    audit = (await goals.get("/goals/assist/audit", headers=auth(person_id=people.ada))).json()
    assert audit["total"] == 1
    entry = audit["items"][0]
    assert entry["id"] == body["audit_id"]
    assert (entry["provider"], entry["model"], entry["prompt_version"]) == ("model", "test-model", "goal_assist/v1")
    assert entry["messages"][1]["content"] == model.requests[0]["messages"][1]["content"]
    assert "Cut onboarding time" in entry["answers"][0]


async def test_a_malformed_answer_is_retried_once(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, _ = org
    model.answer(malformed(), good(smart_answer))
    body = await assist(goals, auth(person_id=people.ada))
    assert body["provider"] == "model"
    assert len(model.requests) == 2
    # The second request carries the unusable answer and what was wrong with it.
    retry = model.requests[1]["messages"]
    assert retry[2] == {"role": "assistant", "content": "Sure! Here is your goal: ship it."}
    assert "cannot be used" in retry[3]["content"]


async def test_two_unusable_answers_fall_back_and_say_so(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, _ = org
    for first, second in ((malformed(), malformed()), (good(VAGUE), good(VAGUE))):
        model.answer(first, second)
        body = await assist(goals, auth(person_id=people.ada))
        assert (body["provider"], body["fallback_reason"]) == ("local", "malformed")
        assert body["suggestion"] is None
        assert any("unusable" in note for note in body["notes"])
        assert body["milestones"]  # the local suggester still answers
        assert len(model.requests) == 2
    # The SMART check and the invented parent were named in the retry.
    retry = model.requests[1]["messages"][3]["content"]
    assert "SMART specific" in retry
    assert "SMART time_bound" in retry
    audit = (await goals.get("/goals/assist/audit", headers=auth(person_id=people.ada))).json()
    assert [item["fallback_reason"] for item in audit["items"]] == ["malformed", "malformed"]
    assert all(len(item["answers"]) == 2 for item in audit["items"])


async def test_an_invented_parent_is_unusable(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, ids = org

    def invented(body: dict[str, Any]) -> dict[str, Any]:
        return {**smart_answer(body), "aligned_to_id": ids["bob_private"]}

    model.answer(good(invented))
    body = await assist(goals, auth(person_id=people.ada))
    assert body["fallback_reason"] == "malformed"
    assert "is not one of the candidate parents" in model.requests[1]["messages"][3]["content"]


async def test_slow_and_down_servers_fall_back(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, _ = org
    configure(goals, llm_timeout=0.5)
    model.answer(slow(3.0))
    started = time.monotonic()
    body = await assist(goals, auth(person_id=people.ada))
    assert time.monotonic() - started < 2.0
    assert (body["provider"], body["fallback_reason"]) == ("local", "timeout")
    model.answer(down())
    assert (await assist(goals, auth(person_id=people.ada)))["fallback_reason"] == "down"
    configure(goals, llm_base_url=closed_port_url())
    assert (await assist(goals, auth(person_id=people.ada)))["fallback_reason"] == "down"


async def test_daily_quota_per_person(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, _ = org
    configure(goals, llm_daily_quota=2)
    model.answer(good(smart_answer))
    reasons = [(await assist(goals, auth(person_id=people.ada)))["fallback_reason"] for _ in range(3)]
    assert reasons == [None, None, "quota"]
    assert len(model.requests) == 2  # the third was never sent
    # Bob has his own quota.
    assert (await assist(goals, auth(person_id=people.bob)))["provider"] == "model"


async def test_off_unless_configured_and_switchable_per_feature(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, _ = org
    model.answer(good(smart_answer))
    configure(goals, llm_goal_assist=False)
    assert (await assist(goals, auth(person_id=people.ada)))["fallback_reason"] == "feature_off"
    configure(goals, llm_goal_assist=True, llm_base_url=None)
    assert (await assist(goals, auth(person_id=people.ada)))["fallback_reason"] == "off"
    assert model.requests == []


async def test_parents_and_audit_follow_each_callers_rights(
    goals: httpx.AsyncClient, auth: TokenFactory, model: ModelServer, org: tuple[Org, dict[str, str]]
) -> None:
    people, ids = org
    model.answer(good(smart_answer))
    # An individual goal aligns to a goal above it or to someone else's individual goal: each
    # caller is offered those they may see (never their own at the same level, never 2025's).
    shared = {ids["company"], ids["team"]}
    everything = shared | {ids["bob_private"], ids["ada_private"]}
    expected = {
        "ada (self)": (auth(person_id=people.ada), shared),
        "bob (colleague)": (auth(person_id=people.bob), shared),
        "lead (manager)": (auth(Role.manager, person_id=people.lead), everything),
        "hr": (auth(Role.hr, person_id=people.hr), everything),
        "unrelated": (auth(), shared),
    }
    for who, (headers, parents) in expected.items():
        body = await assist(goals, headers)
        assert {p["id"] for p in body["parents"]} == parents, who
        # Others' private goals are offered to the caller who may see them, never sent to the model.
        assert {p["id"] for p in model.prompt()["candidate_parents"]} == shared, who
        assert "Secret onboarding plan of Bob" not in str(model.requests[-1]), who
    # A team goal aligns only to the company goal (levels above it).
    team = await assist(goals, auth(Role.manager, person_id=people.lead), level="team")
    assert {p["id"] for p in team["parents"]} == {ids["company"]}
    # Everyone reads their own audit entries only, whatever their role.
    for headers, count in (
        (auth(person_id=people.ada), 1),
        (auth(Role.hr, person_id=people.hr), 1),
        (auth(Role.admin), 0),
        (auth(Role.manager, person_id=people.lead), 2),
    ):
        audit = (await goals.get("/goals/assist/audit", headers=headers)).json()
        assert audit["total"] == count
    assert (await goals.get("/goals/assist/audit")).status_code == 401
    assert (await goals.post("/goals/assist", json=DRAFT)).status_code == 401
    # A person the directory lists as inactive gets no writing help.
    await add_people(goals, [Member(gone := uuid.uuid4(), people.lead, active=False)])
    response = await goals.post("/goals/assist", json=DRAFT, headers=auth(person_id=gone))
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_bad_input_names_the_field(goals: httpx.AsyncClient, auth: TokenFactory) -> None:
    response = await goals.post("/goals/assist", json={"title": "Ship it", "period": "2026-Q9"}, headers=auth())
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "period" in response.text
    response = await goals.post("/goals/assist", json={"period": "2026"}, headers=auth())
    assert response.status_code == 422
    assert "title" in response.text
