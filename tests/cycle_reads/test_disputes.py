"""Issue 15.11: an employee disputes the final rating at acknowledgement; HR upholds or amends it.

The reviews app alone: the completion is recorded the way the API does after an accepted
Update (``InboxService.record_completion``) and the way the review's ``reviews.update_task``
activity does, so the one that marks the task done opens the dispute, once.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from services.reviews.cycles.activities import ReviewsActivities
from services.reviews.cycles.service import InboxService
from services.reviews.models import CycleParticipant, OutboxEvent, RatingDispute, ReviewTask
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.support.http import assert_problem
from workflows.models import TaskStatus, UpdateTaskInput

pytestmark = pytest.mark.database

REASON = "The Q3 launch I led is not in the review."


async def _events(seeded: Seeded, subject: str) -> list[dict[str, Any]]:
    async with sessionmaker_of(seeded.reviews)() as session:
        rows = await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.subject == subject))
        return [json.loads(row)["data"] for row in rows]


async def _disputed(seeded: Seeded) -> tuple[str, str]:
    """Alice acknowledges her final rating 3 with a dispute; the task id and the dispute id."""
    await seeded.set_participant(seeded.alice, proposed_rating="3", final_rating="3", rating_version=1)
    ack = await seeded.add_task(seeded.alice, "acknowledgement")
    body = {"comment": REASON, "dispute": True}
    saved = await seeded.reviews.put(f"/tasks/{ack}/draft", json=body, headers=seeded.token(seeded.alice))
    assert saved.status_code == 200, saved.text
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        task = await session.get(ReviewTask, ack)
        assert task is not None
        await InboxService(session).record_completion(task, uuid.UUID(seeded.alice))
    # The review's activity comes second: the task is done already, nothing more is opened.
    await ActivityEnvironment().run(
        ReviewsActivities(sessionmaker_of(seeded.reviews)).update_task,
        UpdateTaskInput(task_id=ack, revision=2, status=TaskStatus.done, actor_id=seeded.alice),
    )
    async with sessionmaker_of(seeded.reviews)() as session:
        disputes = list(await session.scalars(select(RatingDispute)))
    assert len(disputes) == 1
    return ack, str(disputes[0].id)


async def test_a_dispute_needs_a_reason_and_belongs_to_the_acknowledgement(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    ack = await seeded.add_task(seeded.alice, "acknowledgement")
    own = await seeded.add_task(seeded.bob, "self_assessment")
    bare = await reviews.put(f"/tasks/{ack}/draft", json={"dispute": True}, headers=seeded.token(seeded.alice))
    assert assert_problem(bare, 422)["errors"][0]["field"] == "comment"
    wrong = await reviews.put(
        f"/tasks/{own}/draft", json={"dispute": True, "comment": REASON}, headers=seeded.token(seeded.bob)
    )
    assert assert_problem(wrong, 422)["errors"][0]["field"] == "dispute"


async def test_the_dispute_opens_once_and_is_read_by_those_who_may_see_the_rating(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    ack, dispute_id = await _disputed(seeded)
    opened = await _events(seeded, "meritloop.reviews.dispute.opened")
    assert len(opened) == 1
    assert opened[0]["person_id"] == seeded.alice
    assert REASON not in json.dumps(opened)  # the reason stays in the task's answers
    completed = await _events(seeded, "meritloop.reviews.task.completed")
    assert [event["task_id"] for event in completed] == [ack]

    async def read(headers: dict[str, str]) -> int:
        return (await reviews.get(f"/disputes/{dispute_id}", headers=headers)).status_code

    readers = {
        "self": seeded.token(seeded.alice),
        "manager": seeded.token(seeded.manager),
        "skip-level": seeded.token(seeded.boss),
        "hr": seeded.hr,
        "admin": seeded.admin,
    }
    others = {
        "teammate": seeded.token(seeded.bob),
        "unrelated colleague": seeded.token(seeded.outsider),
        "unrelated manager": auth(Role.manager, person_id=uuid.UUID(seeded.outsider)),
    }
    assert {who: await read(h) for who, h in readers.items()} == dict.fromkeys(readers, 200)
    assert {who: await read(h) for who, h in others.items()} == dict.fromkeys(others, 404)

    body = (await reviews.get(f"/disputes/{dispute_id}", headers=seeded.hr)).json()
    assert (body["status"], body["disputed_rating"], body["task_id"]) == ("open", 3, ack)
    assert body["assignee_id"] == str(seeded.hr_id)
    queue = await reviews.get("/disputes", params={"status": "open"}, headers=seeded.hr)
    assert [item["id"] for item in queue.json()["items"]] == [dispute_id]
    mine = await reviews.get("/disputes", headers=seeded.token(seeded.manager))
    assert mine.json()["total"] == 1
    nothing = await reviews.get("/disputes", headers=seeded.token(seeded.bob))
    assert nothing.json()["total"] == 0
    # The reason is read where it was written: the acknowledgement's answers.
    form = await reviews.get(f"/tasks/{ack}", headers=seeded.hr)
    assert form.json()["draft"]["comment"] == REASON

    await seeded.deactivate(seeded.alice)
    assert await read(seeded.token(seeded.alice)) == 404
    assert (await reviews.get("/disputes", headers=seeded.token(seeded.alice))).json()["total"] == 0


async def test_hr_amends_the_rating_once_with_a_new_version(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    _ack, dispute_id = await _disputed(seeded)
    path = f"/disputes/{dispute_id}/resolve"
    amend = {"outcome": "amended", "rating": 4, "resolution": "The launch was not weighed; raised to 4."}
    for who in (seeded.alice, seeded.manager, seeded.boss):
        refused = await reviews.post(path, json=amend, headers=seeded.token(who))
        assert refused.status_code == 403, refused.text
    missing = await reviews.post(path, json={"outcome": "amended", "resolution": "raised"}, headers=seeded.hr)
    assert assert_problem(missing, 422)["errors"][0]["field"] == "rating"
    off_scale = await reviews.post(path, json={**amend, "rating": 3.5}, headers=seeded.hr)
    assert assert_problem(off_scale, 422)["errors"][0]["field"] == "rating"
    assert (await reviews.get(f"/disputes/{dispute_id}", headers=seeded.hr)).json()["status"] == "open"

    done = await reviews.post(path, json=amend, headers=seeded.hr)
    assert done.status_code == 200, done.text
    resolved = done.json()
    assert (resolved["status"], resolved["outcome"], resolved["resolved_rating"]) == ("resolved", "amended", 4)
    assert resolved["resolved_by"] == str(seeded.hr_id)
    async with sessionmaker_of(reviews)() as session:
        participant = await session.get(CycleParticipant, (uuid.UUID(seeded.cycle_id), uuid.UUID(seeded.alice)))
        assert participant is not None
        assert (participant.final_rating, participant.rating_version) == (Decimal(4), 2)
    ratings = await _events(seeded, "meritloop.reviews.rating.finalized")
    assert [(event["person_id"], event["rating"], event["version"]) for event in ratings] == [(seeded.alice, "4.0", 2)]
    events = await _events(seeded, "meritloop.reviews.dispute.resolved")
    assert [event["outcome"] for event in events] == ["amended"]
    assert "weighed" not in json.dumps(events)
    again = await reviews.post(path, json=amend, headers=seeded.hr)
    assert assert_problem(again, 409)["reason"] == "dispute_resolved"


async def test_hr_upholds_the_rating_and_it_stands(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    _ack, dispute_id = await _disputed(seeded)
    upheld = await reviews.post(
        f"/disputes/{dispute_id}/resolve",
        json={"outcome": "upheld", "resolution": "Calibration weighed the launch already."},
        headers=seeded.admin,
    )
    assert upheld.status_code == 200, upheld.text
    assert (upheld.json()["outcome"], upheld.json()["resolved_rating"]) == ("upheld", 3)
    assert await _events(seeded, "meritloop.reviews.rating.finalized") == []
    seen = await reviews.get(f"/disputes/{dispute_id}", headers=seeded.token(seeded.alice))
    assert seen.json()["resolution"] == "Calibration weighed the launch already."
