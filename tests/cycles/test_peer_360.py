"""A 360 cycle end to end on the real Temporal dev server, NATS, the reviews and feedback services
and the workflow worker process.

The template asks for peer feedback (3-4 peers, one question, two competencies, k = 3). Two
subjects: ``a`` nominates four colleagues, the manager approves three of them, all three answer
in the feedback service (the text goes there directly); ``b`` gets three approved peers of whom
two answer. When self-assessment ends the rounds close: ``a``'s aggregate is released into the
manager's form and the score, ``a`` reads the comments without names; ``b``'s is suppressed
(nothing, not even the count), and the late third answer is refused. No text sits in the
feedback database file or travels on the bus.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import Org, list_tasks, read_stream
from tests.reviews_config.builders import scale_body, template_body
from tests.support.stored import stored_bytes
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

FORMULA = "weighted(manager: 50, peer: 50)"
MANAGER_COMPONENT = 75.0  # ANSWERS as the manager's: craft 4, ownership 3, impact 4 on 1-5
PEER_FEEDBACK = {
    "min_peers": 3,
    "max_peers": 4,
    "questions": [{"key": "strength", "text": "What should they keep doing?"}],
    "competencies": ["craft", "ownership"],
    "min_raters": 3,
}
# a's three peers: craft 5, 2, 4 and ownership 4, 3, 3 -> mean 3.5 -> 62.5 on 0-100
A_RATINGS = ({"craft": 5, "ownership": 4}, {"craft": 2, "ownership": 3}, {"craft": 4, "ownership": 3})
A_PEER_SCORE = 62.5
SECRET_TEXTS = ("keeps-the-build-green-7731", "mentors-newcomers-4412", "writes-clear-docs-9024")


async def _projected(feedback: httpx.AsyncClient, hr: dict[str, str], people: list[str]) -> bool:
    return all([(await feedback.get(f"/people/{p}", headers=hr)).status_code == 200 for p in people])


async def _one(reviews: httpx.AsyncClient, hr: dict[str, str], cycle: str, kind: str, person: str) -> Any:
    tasks = [t for t in await list_tasks(reviews, hr, cycle, kind) if t["person_id"] == person]
    return tasks[0] if tasks else None


async def _all_tasks(reviews: httpx.AsyncClient, hr: dict[str, str], cycle: str, kind: str) -> dict[str, str]:
    """Every task of that kind by id, with its status (any status, not only the open inbox)."""
    params: dict[str, str | int] = {"scope": "all", "kind": kind, "cycle_id": cycle, "status": "any", "limit": 500}
    response = await reviews.get("/tasks", params=params, headers=hr)
    assert response.status_code == 200, response.text
    return {task["id"]: task["status"] for task in response.json()["items"]}


async def test_a_360_cycle_runs_end_to_end(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    async with (
        service_client("reviews") as reviews,
        service_client("feedback") as feedback,
        cycle_worker(),
    ):
        org = await Org(reviews, None, auth).build(reports=5)
        hr = org.hr
        reports = [p for p, m in org.people.items() if m == org.manager]
        a, b, c, d, e = reports
        scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
        body = {**template_body(scale["id"], formula=FORMULA, name="360"), "peer_feedback": PEER_FEEDBACK}
        bad = {**body, "peer_feedback": {**PEER_FEEDBACK, "competencies": ["nope"]}}
        refused = await reviews.post("/templates", json=bad, headers=hr)
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "peer_feedback.competencies.0"
        template = (await reviews.post("/templates", json=body, headers=hr)).json()
        assert template["peer_feedback"]["min_raters"] == 3
        assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200
        org.template_id = template["id"]
        await wait_until(lambda: _projected(feedback, hr, list(org.people)), timeout=30, message="feedback projection")
        cycle = await org.launch()

        # --- nomination: the employee names peers; the manager, HR and oneself are refused ----
        nomination = await wait_until(
            lambda: _one(reviews, hr, cycle, "peer_nomination", a), timeout=60, message="a's nomination task"
        )
        assert nomination["assignee_id"] == a
        url = f"/tasks/{nomination['id']}/submit"
        for peers, field in (
            ([b, c], "peer_ids"),  # fewer than min_peers
            ([b, c, org.manager], "peer_ids.2"),  # the manager never rates
            ([a, b, c], "peer_ids.0"),  # nor the subject
            ([b, c, str(org.hr_id)], "peer_ids.2"),  # nor the cycle's HR owner
            ([b, c, str(uuid.uuid4())], "peer_ids.2"),  # nobody
            ([b, c, org.boss], "peer_ids.2"),  # nor a manager above (the skip-level reads the form)
        ):
            wrong = await reviews.post(url, json={"peer_ids": peers}, headers=org.token(a))
            assert wrong.status_code == 422, wrong.text
            assert wrong.json()["errors"][0]["field"] == field
        not_mine = await reviews.post(url, json={"peer_ids": [b, c, d]}, headers=org.token(b))
        assert not_mine.status_code == 404  # another's task: not even confirmed
        done = await reviews.post(url, json={"peer_ids": [b, c, d, e]}, headers=org.token(a))
        assert done.status_code == 200, done.text

        # --- approval: the manager edits the list (drops e) ------------------------------------
        approval = await wait_until(
            lambda: _one(reviews, hr, cycle, "peer_approval", a), timeout=60, message="a's approval task"
        )
        assert approval["assignee_id"] == org.manager
        refused_by = await reviews.post(
            f"/tasks/{approval['id']}/submit", json={"peer_ids": [b, c, d]}, headers=org.token(a)
        )
        assert refused_by.status_code == 404  # the employee cannot approve (nor see) the approval
        approved = await reviews.post(
            f"/tasks/{approval['id']}/submit", json={"peer_ids": [b, c, d]}, headers=org.token(org.manager)
        )
        assert approved.status_code == 200, approved.text

        # b: nominated and approved a, c, d; only two of them will answer
        b_nomination = await wait_until(lambda: _one(reviews, hr, cycle, "peer_nomination", b), timeout=60)
        sent = await reviews.post(
            f"/tasks/{b_nomination['id']}/submit", json={"peer_ids": [a, c, d]}, headers=org.token(b)
        )
        assert sent.status_code == 200, sent.text
        b_approval = await wait_until(lambda: _one(reviews, hr, cycle, "peer_approval", b), timeout=60)
        sent = await reviews.post(
            f"/tasks/{b_approval['id']}/submit", json={"peer_ids": [a, c, d]}, headers=org.token(org.manager)
        )
        assert sent.status_code == 200, sent.text

        # --- peer tasks: one per approved peer, answered in feedback ---------------------------
        async def peer_tasks(subject: str) -> list[dict[str, Any]] | None:
            found = [t for t in await list_tasks(reviews, hr, cycle, "peer_review") if t["person_id"] == subject]
            return found if len(found) == 3 else None

        a_tasks = await wait_until(lambda: peer_tasks(a), timeout=60, message="a's three peer tasks")
        assert {t["assignee_id"] for t in a_tasks} == {b, c, d}
        assert all(t["due_at"] for t in a_tasks)
        b_tasks = await wait_until(lambda: peer_tasks(b), timeout=60, message="b's three peer tasks")

        first = a_tasks[0]
        # The task in the reviews inbox takes no answer: the text goes to feedback only.
        in_reviews = await reviews.post(
            f"/tasks/{first['id']}/submit", json={}, headers=org.token(first["assignee_id"])
        )
        assert in_reviews.status_code == 409, in_reviews.text
        # HR cannot hand a peer task to someone else (joining as a rater).
        handed = await reviews.post(f"/tasks/{first['id']}/reassign", json={"new_assignee_id": org.manager}, headers=hr)
        assert handed.status_code == 409, handed.text

        answer_url = f"/peer-reviews/{first['id']}/answer"
        payload = {"ratings": A_RATINGS[0], "answers": {"strength": SECRET_TEXTS[0]}}
        # Only the approved peer of that task: not the subject, the manager, HR, another colleague.
        for headers, expected in (
            (org.token(a), 404),
            (org.token(org.manager), 404),
            (auth(Role.hr, person_id=org.hr_id), 403),
            (auth(Role.employee, Role.admin, person_id=uuid.UUID(first["assignee_id"])), 403),
            (org.token(next(p for p in reports if p not in (a, first["assignee_id"]))), 404),
        ):
            tried = await feedback.post(answer_url, json=payload, headers=headers)
            assert tried.status_code == expected, (headers, tried.text)
        view = await feedback.get(f"/peer-reviews/{first['id']}", headers=org.token(first["assignee_id"]))
        assert view.status_code == 200, view.text
        assert view.json()["person_id"] == a
        assert [q["key"] for q in view.json()["questions"]] == ["strength"]
        assert (await feedback.get(f"/peer-reviews/{first['id']}", headers=org.token(a))).status_code == 404
        missing = await feedback.post(
            answer_url, json={"ratings": {"craft": 5}, "answers": {}}, headers=org.token(first["assignee_id"])
        )
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "ratings"
        for task, ratings, text in zip(a_tasks, A_RATINGS, SECRET_TEXTS, strict=True):
            answered = await feedback.post(
                f"/peer-reviews/{task['id']}/answer",
                json={"ratings": ratings, "answers": {"strength": text}},
                headers=org.token(task["assignee_id"]),
            )
            assert answered.status_code == 201, answered.text
        twice = await feedback.post(answer_url, json=payload, headers=org.token(first["assignee_id"]))
        assert twice.status_code == 409
        for task in b_tasks[:2]:
            answered = await feedback.post(
                f"/peer-reviews/{task['id']}/answer",
                json={"ratings": {"craft": 5, "ownership": 5}, "answers": {"strength": "b-text-5521"}},
                headers=org.token(task["assignee_id"]),
            )
            assert answered.status_code == 201, answered.text

        async def peer_tasks_done() -> bool:
            statuses = await _all_tasks(reviews, hr, cycle, "peer_review")
            return all(statuses.get(t["id"]) == "done" for t in [*a_tasks, *b_tasks[:2]])

        # The answered event (ids only) makes the reviews service complete each peer's task.
        await wait_until(peer_tasks_done, timeout=60, message="answered peer tasks done in the inbox")
        # Nothing is released while the round is open.
        assert (await feedback.get(f"/review-cycles/{cycle}/peer-reviews/me", headers=org.token(a))).status_code == 404

        # --- self-assessments end the phase: rounds close and release once -------------------
        selfs = await org.wait_tasks(cycle, "self_assessment", len(org.people))
        for task in selfs:
            await org.submit_ok(task)

        async def result(subject: str) -> dict[str, Any] | None:
            response = await feedback.get(f"/review-cycles/{cycle}/peer-reviews/me", headers=org.token(subject))
            return response.json() if response.status_code == 200 else None

        a_result = await wait_until(lambda: result(a), timeout=60, message="a's 360 released")
        assert a_result["released"] is True
        assert a_result["score"] == A_PEER_SCORE
        assert a_result["rater_count"] == 3
        assert a_result["competency_scores"] == {"craft": pytest.approx(66.67), "ownership": pytest.approx(58.33)}
        assert sorted(comment["text"] for comment in a_result["comments"]) == sorted(SECRET_TEXTS)
        assert all(set(comment) == {"question_key", "text"} for comment in a_result["comments"])  # no names
        b_result = await wait_until(lambda: result(b), timeout=60, message="b's round closed")
        assert b_result == {
            "cycle_id": cycle,
            "released": False,
            "score": None,
            "rater_count": None,
            "min_raters": None,
            "competency_scores": None,
            "comments": [],
            "released_at": None,
        }  # below k: not even the count

        # The third peer of b answers late: refused, and b's round stays suppressed.
        late = await feedback.post(
            f"/peer-reviews/{b_tasks[2]['id']}/answer",
            json={"ratings": {"craft": 1, "ownership": 1}, "answers": {}},
            headers=org.token(b_tasks[2]["assignee_id"]),
        )
        assert late.status_code == 409, late.text
        assert (await result(b)) == b_result
        # The unanswered peer task expired when the round closed: never done.
        assert (await _all_tasks(reviews, hr, cycle, "peer_review"))[b_tasks[2]["id"]] == "expired"

        # --- into the manager's form and the score ---------------------------------------------
        manager_tasks = await org.wait_tasks(cycle, "manager_review", len(org.people))
        by_person = {t["person_id"]: t for t in manager_tasks}

        async def form_of(subject: str) -> dict[str, Any] | None:
            task = by_person[subject]
            found: dict[str, Any] = (
                await reviews.get(f"/tasks/{task['id']}", headers=org.token(task["assignee_id"]))
            ).json()
            return found if subject != a or found["peer_score"] is not None else None

        a_form = await wait_until(lambda: form_of(a), timeout=30, message="a's peer score in the form")
        assert (a_form["peer_score"], a_form["peer_rater_count"]) == (A_PEER_SCORE, 3)
        b_form = await form_of(b)
        assert b_form is not None
        assert (b_form["peer_score"], b_form["peer_rater_count"]) == (None, None)
        for task in manager_tasks:
            await org.submit_ok(task)

        async def sessions() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = (
                await reviews.get(f"/review-cycles/{cycle}/calibration-sessions", headers=hr)
            ).json()
            return found or None

        (session,) = await wait_until(sessions, timeout=60, message="calibration")
        detail = (await reviews.get(f"/calibration-sessions/{session['id']}", headers=hr)).json()
        scores = {row["person_id"]: row["score"] for row in detail["rows"]}
        assert scores[a] == pytest.approx((MANAGER_COMPONENT + A_PEER_SCORE) / 2, abs=0.01)
        assert scores[b] == pytest.approx(MANAGER_COMPONENT, abs=0.01)  # no peer component below k

        # --- nothing in clear: not in the feedback database file, not on the bus -------------
        raw = await stored_bytes(settings.database_url("feedback"))
        for text in (*SECRET_TEXTS, "b-text-5521"):
            assert text.encode() not in raw
        # Nor the ratings: sealed under each round's tally key, which the release destroyed.
        for ratings in A_RATINGS:
            assert json.dumps(ratings).encode() not in raw
            assert json.dumps(ratings, separators=(",", ":")).encode() not in raw
        events: list[CloudEvent] = await read_stream(settings, stream_name("feedback"))
        answered_events = [e for e in events if e.type == "meritloop.feedback.peer-review.answered"]
        assert len(answered_events) == 5
        assert all(set(e.data) == {"id", "cycle_id", "task_id"} for e in answered_events)
        everything = b"".join(e.model_dump_json().encode() for e in events)
        for text in (*SECRET_TEXTS, "b-text-5521"):
            assert text.encode() not in everything
        aggregates = [e for e in events if e.type == "meritloop.feedback.peer-aggregate.computed"]
        assert [e.data["person_id"] for e in aggregates] == [a]
