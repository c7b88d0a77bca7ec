"""A dispute raised after the acknowledgement was submitted without one: by the employee alone, once,
within 30 days, with its own reason, read by those who may read the dispute; through the real
service and its database (SQLite, and PostgreSQL in the database pass)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from services.reviews.cycles.service import LATE_DISPUTE_DAYS
from services.reviews.models import OutboxEvent, ReviewTask
from shared.database import utcnow
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

OPENED = "meritloop.reviews.dispute.opened"
REASON = "The Q3 launch I led is not in the calibrated rating."


async def acknowledged(seeded: Seeded, person: str, *, days_ago: int = 1) -> str:
    """``person`` acknowledged their final rating 3 without a dispute ``days_ago`` days ago."""
    await seeded.set_participant(person, proposed_rating="3", final_rating="3", rating_version=1)
    task = await seeded.add_task(person, "acknowledgement", status="done", draft={"comment": None, "dispute": False})
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        await session.execute(
            update(ReviewTask).where(ReviewTask.id == task).values(completed_at=utcnow() - timedelta(days=days_ago))
        )
    return task


async def test_the_employee_disputes_later_with_a_reason(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    task = await acknowledged(seeded, seeded.alice)
    raised = await reviews.post(
        "/disputes", json={"task_id": task, "reason": f"  {REASON}  "}, headers=seeded.token(seeded.alice)
    )
    assert raised.status_code == 201, raised.text
    dispute = raised.json()
    assert (dispute["status"], dispute["reason"], dispute["disputed_rating"]) == ("open", REASON, 3)
    assert dispute["person_id"] == seeded.alice
    assert dispute["task_id"] == task
    # The bus hears that a dispute opened, never why.
    async with sessionmaker_of(reviews)() as session:
        payloads = [
            json.loads(row)
            for row in await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.subject == OPENED))
            if dispute["id"] in row
        ]
    assert [payload["type"] for payload in payloads] == ["meritloop.reviews.dispute.opened"]
    assert REASON not in json.dumps(payloads)
    assert "Q3" not in json.dumps(payloads)

    # Once per acknowledgement.
    again = await reviews.post(
        "/disputes", json={"task_id": task, "reason": "again"}, headers=seeded.token(seeded.alice)
    )
    assert assert_problem(again, 409)["reason"] == "dispute_exists"

    # Who reads it, reason and all: HR, an admin, Alice, her manager and the skip-level; not Bob or Olga.
    readers = {
        "HR": (seeded.hr, 200),
        "admin": (seeded.admin, 200),
        "self": (seeded.token(seeded.alice), 200),
        "manager": (seeded.token(seeded.manager), 200),
        "skip-level": (seeded.token(seeded.boss), 200),
        "colleague": (seeded.token(seeded.bob), 404),
        "unrelated": (seeded.token(seeded.outsider), 404),
    }
    for who, (headers, expected) in readers.items():
        answer = await reviews.get(f"/disputes/{dispute['id']}", headers=headers)
        assert answer.status_code == expected, who
        if expected == 200:
            assert answer.json()["reason"] == REASON, who


async def test_only_the_employee_only_a_done_acknowledgement_only_within_the_window(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    alices = await acknowledged(seeded, seeded.alice)
    body = {"task_id": alices, "reason": REASON}
    # Anyone but Alice: the same 404 as for a task that is none (HR and admins included: it is hers to say).
    for headers in (
        seeded.hr,
        seeded.admin,
        seeded.token(seeded.manager),
        seeded.token(seeded.boss),
        seeded.token(seeded.bob),
        seeded.token(seeded.outsider),
    ):
        assert_problem(await reviews.post("/disputes", json=body, headers=headers), 404)
    assert_problem(
        await reviews.post("/disputes", json={**body, "task_id": "ack-none"}, headers=seeded.token(seeded.alice)), 404
    )
    assert_problem(await reviews.post("/disputes", json=body), 401)

    # Not another step of hers.
    self_assessment = await seeded.add_task(seeded.alice, "self_assessment", status="done", draft={})
    other_step = await reviews.post(
        "/disputes", json={**body, "task_id": self_assessment}, headers=seeded.token(seeded.alice)
    )
    assert_problem(other_step, 404)

    # Bob's acknowledgement is still open: he disputes on the task itself.
    await seeded.set_participant(seeded.bob, proposed_rating="3", final_rating="3", rating_version=1)
    bobs = await seeded.add_task(seeded.bob, "acknowledgement", status="open")
    still_open = await reviews.post(
        "/disputes", json={"task_id": bobs, "reason": REASON}, headers=seeded.token(seeded.bob)
    )
    assert assert_problem(still_open, 409)["reason"] == "acknowledgement_open"

    # Past the window.
    await seeded.set_participant(seeded.outsider, proposed_rating="3", final_rating="3", rating_version=1)
    late = await acknowledged(seeded, seeded.outsider, days_ago=LATE_DISPUTE_DAYS + 1)
    closed = await reviews.post(
        "/disputes", json={"task_id": late, "reason": REASON}, headers=seeded.token(seeded.outsider)
    )
    assert assert_problem(closed, 409)["reason"] == "dispute_window_closed"

    # Bad bodies name their field; nothing is stored.
    for bad, field in (
        ({"task_id": alices, "reason": "   "}, "reason"),
        ({"task_id": alices, "reason": "x" * 5001}, "reason"),
        ({"task_id": alices}, "reason"),
        ({"reason": REASON}, "task_id"),
        ({"task_id": "x" * 201, "reason": REASON}, "task_id"),
        ({**body, "rating": 5}, "rating"),
    ):
        assert field in problem_fields(await reviews.post("/disputes", json=bad, headers=seeded.token(seeded.alice)))
    listed = await reviews.get("/disputes", params={"status": "open"}, headers=seeded.hr)
    assert listed.json()["total"] == 0

    # Deactivated: refused.
    await seeded.deactivate(seeded.alice)
    assert_problem(await reviews.post("/disputes", json=body, headers=seeded.token(seeded.alice)), 403)


async def test_two_at_once_make_one_dispute(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    task = await acknowledged(seeded, seeded.alice)
    body = {"task_id": task, "reason": REASON}
    answers = await asyncio.gather(
        *(reviews.post("/disputes", json=body, headers=seeded.token(seeded.alice)) for _ in range(2))
    )
    assert sorted(answer.status_code for answer in answers) == [201, 409]
    listed = (await reviews.get("/disputes", headers=seeded.hr)).json()
    assert listed["total"] == 1
    assert uuid.UUID(listed["items"][0]["id"])
    assert (await reviews.get("/openapi.json")).json()["paths"]["/disputes"]["post"]["responses"].keys() >= {
        "201",
        "404",
        "409",
        "422",
    }
