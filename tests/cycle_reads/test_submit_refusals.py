"""Issue 15.4: who gets which refusal when submitting a task that is not theirs.

The rule (docs/review-cycles.md): a task you may not read does not exist for you (404, so its
existence does not leak); a task you may read but do not own (HR, admins, the managers above
the person) answers 403 ``wrong_actor``, without asking the workflow.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded
from tests.cycles.support import ANSWERS

pytestmark = pytest.mark.database


async def test_submitting_someone_elses_task_is_404_or_403_by_what_you_may_read(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    task = await seeded.add_task(seeded.alice, "self_assessment")
    done = await seeded.add_task(seeded.bob, "self_assessment", status="done")

    async def submit(task_id: str, headers: dict[str, str]) -> httpx.Response:
        return await reviews.post(f"/tasks/{task_id}/submit", json=ANSWERS, headers=headers)

    readers = {
        "manager": seeded.token(seeded.manager),
        "skip-level": seeded.token(seeded.boss),
        "hr": seeded.hr,
        "admin": seeded.admin,
    }
    strangers = {
        "teammate": seeded.token(seeded.bob),
        "unrelated colleague": seeded.token(seeded.outsider),
        "unrelated manager": auth(Role.manager, person_id=uuid.UUID(seeded.outsider)),
        "a stranger with any id": auth(Role.employee),
    }
    for who, headers in readers.items():
        answer = await submit(task, headers)
        assert answer.status_code == 403, (who, answer.text)
        assert answer.json()["reason"] == "wrong_actor", who
        assert answer.headers["content-type"].startswith("application/problem+json")
    for who, headers in strangers.items():
        answer = await submit(task, headers)
        assert answer.status_code == 404, (who, answer.text)
        assert "reason" not in answer.json(), who
    # The owner passes the actor check: her finished task is refused for being done, not for her.
    own = await submit(done, seeded.token(seeded.bob))
    assert own.status_code == 409, own.text
    assert own.json()["reason"] == "task_done"
    # Nothing a refused submit sent was kept as a draft.
    form = await reviews.get(f"/tasks/{task}", headers=seeded.token(seeded.alice))
    assert form.json()["draft"] is None

    await seeded.deactivate(seeded.manager)
    gone = await submit(task, seeded.token(seeded.manager))
    assert gone.status_code == 403, gone.text  # still refused; issue 12 turns a leaver's token away entirely
