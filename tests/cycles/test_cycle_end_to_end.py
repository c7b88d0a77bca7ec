"""A whole review cycle for 28 people through the four services, the real Temporal dev server and NATS.

Everyone has two goals in the goals service (weights 60/40, progress 50%/100%: a goal score
of 70). HR launches the cycle; during self-assessment the reports rate three teammates each
in the feedback service (Eng gives 1s, Sales 5s); everyone completes their tasks with their
own token; the manager sees the goal score and the peers' aggregate in the form; the
template's formula combines goals, manager, competencies and peer, so the peer aggregate
moves the proposed ratings; calibration adjusts two ratings; managers submit and HR approves
pay in the rewards service; everyone acknowledges; the cycle closes. Every task, final state
and event is checked.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest

from shared.auth import Role
from shared.database import utcnow
from shared.events import CloudEvent, stream_name
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import ANSWERS, add_goals, add_person, read_stream, ready
from tests.reviews_config.builders import scale_body, template_body
from tests.rewards.support import MATRIX, band, import_csv
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

FORMULA = "weighted(goals: 40, manager: 30, competencies: 10, peer: 20)"
# With ANSWERS and a goal score of 70: goals 70, manager 75, competencies 66.67 (see the docstring).
SCORE_PEERS_LOW = (40 * 70 + 30 * 75 + 10 * 200 / 3 + 20 * 0) / 100  # Eng reports, peers gave 1 -> 0
SCORE_PEERS_HIGH = (40 * 70 + 30 * 75 + 10 * 200 / 3 + 20 * 100) / 100  # Sales reports, peers gave 5 -> 100
SCORE_NO_PEERS = (40 * 70 + 30 * 75 + 10 * 200 / 3) / 80  # managers: nobody rated them, peer re-normalised away


async def test_cycle_end_to_end(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings, cycle_worker: WorkerFactory
) -> None:
    hr_id = uuid.uuid4()
    hr = auth(Role.hr, person_id=hr_id)
    async with (
        service_client("reviews") as reviews,
        service_client("rewards") as rewards,
        service_client("goals") as goals,
        service_client("feedback") as feedback,
        cycle_worker(),
    ):
        # --- the organisation: a boss, 4 managers in 2 departments, 6 reports each ---------
        boss = await add_person(reviews, hr, "boss", "Exec", None)
        managers: dict[str, str] = {}
        reports: dict[str, str] = {}  # person -> manager
        for index in range(4):
            dept = "Eng" if index < 2 else "Sales"
            manager = await add_person(reviews, hr, f"mgr{index}", dept, boss)
            managers[manager] = dept
            for number in range(6):
                reports[await add_person(reviews, hr, f"emp{index}-{number}", dept, manager)] = manager
        people = {**{m: boss for m in managers}, **reports}  # participant -> manager
        assert len(people) == 28

        def token(person: str) -> dict[str, str]:
            roles = (Role.manager,) if person in managers or person == boss else (Role.employee,)
            return auth(*roles, person_id=uuid.UUID(person))

        # --- configuration: scale, template, pay data -----------------------------------------
        scale = (await reviews.post("/rating-scales", json=scale_body(), headers=hr)).json()
        template = (
            await reviews.post("/templates", json=template_body(scale["id"], formula=FORMULA), headers=hr)
        ).json()
        assert (await reviews.post(f"/templates/{template['id']}/publish", headers=hr)).status_code == 200
        pay_band = band("G1", "EUR", "40000", "50000", "60000")
        assert (await rewards.post("/pay-bands", json=pay_band, headers=hr)).status_code == 201
        day = (utcnow() - timedelta(days=30)).date().isoformat()

        async def pay_imported() -> bool:
            # rewards learns people from the reviews stream: under load the last ones come later
            imported = await import_csv(rewards, hr, *[(p, "EUR", "50000", "G1", day) for p in people])
            if imported.status_code == 422 and "no person with this id" in imported.text:
                return False
            assert imported.status_code in (200, 201), imported.text
            return True

        await wait_until(pay_imported, timeout=30, interval=0.2, message="rewards knows the people")
        assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201

        # --- goals: two per participant, scored 70 once the cycle asks --------------------------
        for person in people:

            async def projected(who: str = person) -> bool:
                return await _known((goals, feedback), hr, who)

            await wait_until(projected, message="goals and feedback know the person")
            await add_goals(goals, hr, person, token(person))

        # --- HR creates and launches the cycle -------------------------------------------------
        start = utcnow()
        deadlines = {
            phase: (start + timedelta(days=10 * (i + 1))).isoformat()
            for i, phase in enumerate(
                ["self_assessment", "manager_review", "calibration", "pay_approval", "acknowledgement"]
            )
        }
        cycle_body: dict[str, Any] = {
            "name": "2026 annual review",
            "period_start": "2026-01-01",
            "period_end": "2026-12-31",
            "template_id": template["id"],
            "filters": {"departments": ["Eng", "Sales"]},
            "deadlines": deadlines,
            "reminder_every_hours": 48,
            "escalation": [{"after_hours": 0, "notify": "manager"}, {"after_hours": 24, "notify": "hr"}],
        }
        created = await reviews.post("/review-cycles", json=cycle_body, headers=hr)
        assert created.status_code == 201, created.text
        cycle = created.json()["id"]
        launched = await reviews.post(f"/review-cycles/{cycle}/launch", headers=hr)
        assert launched.status_code == 200, launched.text
        assert launched.json()["participant_count"] == 28

        # --- peer ratings while self-assessment runs: each report rates three teammates -------
        peer_ratings = f"/review-cycles/{cycle}/peer-ratings"

        async def peer_ratings_open() -> bool:
            return (await feedback.get(peer_ratings, headers=hr)).status_code == 200

        await wait_until(peer_ratings_open, timeout=30, message="feedback opens peer ratings")
        teams: dict[str, list[str]] = {}
        for person, manager in reports.items():
            teams.setdefault(manager, []).append(person)
        peer_rated: dict[str, float] = {}  # report -> expected peer score
        for manager, team in teams.items():
            rating = 1 if managers[manager] == "Eng" else 5
            for index, receiver in enumerate(team):
                for offset in (1, 2, 3):
                    giver = team[(index + offset) % len(team)]
                    given = await feedback.put(
                        f"{peer_ratings}/{receiver}", json={"rating": rating}, headers=token(giver)
                    )
                    assert given.status_code == 201, given.text
                peer_rated[receiver] = 0.0 if rating == 1 else 100.0
        assert (await feedback.get(peer_ratings, headers=hr)).json()["total"] == 0  # HR reads nobody's ratings

        # --- self-assessments, each with the employee's own token ------------------------------
        selfs = await wait_until(
            lambda: ready(reviews, hr, cycle, "self_assessment", 28), timeout=60, message="self-assessment tasks"
        )
        assert {t["assignee_id"] for t in selfs} == set(people)
        first = selfs[0]
        # HR is not the assignee: the workflow's validator refuses, the API answers 403.
        wrong = await reviews.post(f"/tasks/{first['id']}/submit", json=ANSWERS, headers=hr)
        assert wrong.status_code == 403, wrong.text
        assert wrong.json()["reason"] == "wrong_actor"
        for task in selfs:
            mine = await reviews.get("/tasks", params={"kind": "self_assessment"}, headers=token(task["assignee_id"]))
            assert [t["id"] for t in mine.json()["items"]] == [task["id"]]
            form = await reviews.get(f"/tasks/{task['id']}", headers=token(task["assignee_id"]))
            assert form.status_code == 200, form.text
            assert form.json()["sections"]
            draft = await reviews.put(f"/tasks/{task['id']}/draft", json=ANSWERS, headers=token(task["assignee_id"]))
            assert draft.status_code == 200, draft.text
            done = await reviews.post(f"/tasks/{task['id']}/submit", json=ANSWERS, headers=token(task["assignee_id"]))
            assert done.status_code == 200, done.text
            assert done.json()["status"] == "done"
        again = await reviews.post(f"/tasks/{first['id']}/submit", json=ANSWERS, headers=token(first["assignee_id"]))
        assert again.status_code == 409, again.text
        assert again.json()["reason"] == "task_done"

        # --- manager reviews: two people get a higher and a lower rating --------------------
        reviews_due = await wait_until(
            lambda: ready(reviews, hr, cycle, "manager_review", 28), timeout=60, message="manager reviews"
        )
        for task in reviews_due:
            assert task["assignee_id"] == people[task["person_id"]]

            async def scored_form(current: dict[str, Any] = task) -> dict[str, Any] | None:
                found: dict[str, Any] = (
                    await reviews.get(f"/tasks/{current['id']}", headers=token(current["assignee_id"]))
                ).json()
                peers_in = current["person_id"] not in peer_rated or found["peer_score"] is not None
                return found if found["goal_score"] is not None and peers_in else None

            manager_form = await wait_until(scored_form, timeout=30, message="goal and peer scores in the form")
            assert manager_form["goal_score"] == pytest.approx(70.0)
            assert manager_form["peer_score"] == peer_rated.get(task["person_id"])
            assert manager_form["peer_rater_count"] == (3 if task["person_id"] in peer_rated else None)
            done = await reviews.post(f"/tasks/{task['id']}/submit", json=ANSWERS, headers=token(task["assignee_id"]))
            assert done.status_code == 200, done.text

        # --- calibration: two sessions, two adjustments, both finalized ----------------------
        sessions = await wait_until(lambda: _sessions(reviews, hr, cycle), timeout=60, message="calibration")
        assert sorted(s["org_unit"] for s in sessions) == ["Eng", "Sales"]
        adjusted: dict[str, str] = {}
        for calibration in sessions:
            detail = (await reviews.get(f"/calibration-sessions/{calibration['id']}", headers=hr)).json()
            assert len(detail["rows"]) == 14
            for scored in detail["rows"]:
                peer = peer_rated.get(scored["person_id"])
                expected_score = SCORE_NO_PEERS if peer is None else SCORE_PEERS_LOW if peer == 0 else SCORE_PEERS_HIGH
                assert scored["score"] == pytest.approx(expected_score, abs=0.01), scored
                assert float(scored["proposed_rating"]) == (3 if peer == 0 else 4), scored
            row = detail["rows"][0]
            target = "5" if calibration["org_unit"] == "Eng" else "2"
            missing_reason = await reviews.post(
                f"/calibration-sessions/{calibration['id']}/adjustments",
                json={"person_id": row["person_id"], "to_rating": target, "reason": ""},
                headers=hr,
            )
            assert missing_reason.status_code == 422
            adjustment = await reviews.post(
                f"/calibration-sessions/{calibration['id']}/adjustments",
                json={"person_id": row["person_id"], "to_rating": target, "reason": "Calibrated against peers"},
                headers=hr,
            )
            assert adjustment.status_code == 201, adjustment.text
            assert adjustment.json()["from_rating"] == row["proposed_rating"]
            adjusted[row["person_id"]] = target
            final = await reviews.post(f"/calibration-sessions/{calibration['id']}/finalize", headers=hr)
            assert final.status_code == 200, final.text

        # --- pay: managers review and submit, HR approves each unit in rewards --------------
        pay_reviews = await wait_until(
            lambda: ready(reviews, hr, cycle, "pay_review", 28), timeout=90, message="pay review tasks"
        )
        for task in pay_reviews:
            done = await reviews.post(f"/tasks/{task['id']}/submit", json={}, headers=token(task["assignee_id"]))
            assert done.status_code == 200, done.text
        for manager in [*managers, boss]:
            submitted = await rewards.post(
                f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=token(manager)
            )
            assert submitted.status_code == 200, submitted.text
        for unit in ("Eng", "Sales"):
            approved = await rewards.post(f"/cycles/{cycle}/org-units/{unit}/approve", headers=hr)
            assert approved.status_code == 200, approved.text

        # --- acknowledgement: everyone sees their final rating and acknowledges ------------
        acks = await wait_until(
            lambda: ready(reviews, hr, cycle, "acknowledgement", 28), timeout=90, message="acknowledgements"
        )
        for task in acks:
            form = (await reviews.get(f"/tasks/{task['id']}", headers=token(task["assignee_id"]))).json()
            expected = adjusted.get(task["person_id"])
            if expected is not None:
                assert float(form["final_rating"]) == float(expected)
            assert form["manager_review"] is not None
            # Those calibrated down to 2 dispute it; the rest acknowledge without a word.
            ack: dict[str, Any] = {"comment": "I disagree", "dispute": True} if expected == "2" else {}
            done = await reviews.post(f"/tasks/{task['id']}/submit", json=ack, headers=token(task["assignee_id"]))
            assert done.status_code == 200, done.text
        disputing = sorted(person for person, rating in adjusted.items() if rating == "2")
        assert disputing

        async def closed() -> dict[str, Any] | None:
            found: dict[str, Any] = (await reviews.get(f"/review-cycles/{cycle}", headers=hr)).json()
            return found if found["status"] == "closed" else None

        final_cycle = await wait_until(closed, timeout=90, message="cycle closed")
        assert final_cycle["phase"] == "closed"
        progress = (await reviews.get(f"/review-cycles/{cycle}/progress", headers=hr)).json()
        for step in ("self_assessment", "manager_review", "pay_review", "acknowledgement"):
            assert progress["steps"][step] == {"done": 28}, progress
        assert (await reviews.get(f"/review-cycles/{cycle}/overdue", headers=hr)).json()["total"] == 0

        # --- disputes: one per disputed acknowledgement, in HR's queue; HR upholds one -----
        queue = (await reviews.get("/disputes", params={"cycle_id": cycle, "status": "open"}, headers=hr)).json()
        assert sorted(item["person_id"] for item in queue["items"]) == disputing
        upheld = await reviews.post(
            f"/disputes/{queue['items'][0]['id']}/resolve",
            json={"outcome": "upheld", "resolution": "Calibration weighed it."},
            headers=hr,
        )
        assert upheld.status_code == 200, upheld.text
        assert upheld.json()["outcome"] == "upheld"

        # --- events: each task created and completed once; a final rating per person --------
        async def all_events() -> list[CloudEvent] | None:
            events = await read_stream(settings, stream_name("reviews"))
            kinds = Counter(event.type for event in events)
            return events if kinds["meritloop.reviews.task.completed"] == 4 * 28 else None

        events = await wait_until(all_events, timeout=30, message="events relayed")
        kinds = Counter(event.type for event in events)
        assert kinds["meritloop.reviews.task.created"] == 4 * 28
        assert kinds["meritloop.reviews.rating.finalized"] == 28
        assert kinds["meritloop.reviews.cycle.pay-approval-opened"] == 1
        assert kinds["meritloop.reviews.dispute.opened"] == len(disputing)
        phases = [e.data["phase"] for e in events if e.type == "meritloop.reviews.cycle.phase-opened"]
        assert phases == [
            "self_assessment",
            "manager_review",
            "calibration",
            "pay_approval",
            "acknowledgement",
            "closed",
        ]
        created_ids = [e.data["task_id"] for e in events if e.type == "meritloop.reviews.task.created"]
        assert len(set(created_ids)) == len(created_ids)
        for event in events:  # nothing about answers or comments travels
            assert "answers" not in event.data
            assert "comment" not in event.data
        peer_events = [
            e
            for e in await read_stream(settings, stream_name("feedback"))
            if e.type == "meritloop.feedback.peer-aggregate.computed" and e.data["cycle_id"] == cycle
        ]
        assert sorted(e.data["person_id"] for e in peer_events) == sorted(peer_rated)
        assert all(set(e.data) >= {"score", "rater_count"} and "giver_id" not in e.data for e in peer_events)
        statements = await rewards.get(f"/me/statements/{cycle}", headers=token(next(iter(reports))))
        assert statements.status_code == 200, statements.text


async def _sessions(client: httpx.AsyncClient, hr: dict[str, str], cycle: str) -> Any:
    response = await client.get(f"/review-cycles/{cycle}/calibration-sessions", headers=hr)
    found = response.json() if response.status_code == 200 else []
    return found if len(found) == 2 else None


async def _known(clients: tuple[httpx.AsyncClient, ...], hr: dict[str, str], person: str) -> bool:
    """Every one of these services has the person in its projection."""
    return all([(await client.get(f"/people/{person}", headers=hr)).status_code == 200 for client in clients])
