"""Issue 15.3: finished work stays readable: my past tasks, my team's, a cycle's per-person outcome."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.cycle_reads.support import Seeded

pytestmark = pytest.mark.database


async def _tasks(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get("/tasks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _closed_cycle(seeded: Seeded) -> dict[str, str]:
    """A finished cycle: alice and the manager done throughout, bob missed his self-assessment,
    olga was removed by HR during self-assessment."""
    ids = {
        "alice_self": await seeded.add_task(seeded.alice, "self_assessment", status="done"),
        "alice_review": await seeded.add_task(seeded.alice, "manager_review", status="done"),
        "alice_ack": await seeded.add_task(seeded.alice, "acknowledgement", status="done"),
        "bob_self": await seeded.add_task(seeded.bob, "self_assessment", status="expired"),
        "bob_review": await seeded.add_task(seeded.bob, "manager_review", status="done"),
        "bob_ack": await seeded.add_task(seeded.bob, "acknowledgement", status="done"),
        "mgr_self": await seeded.add_task(seeded.manager, "self_assessment", status="done"),
        "olga_self": await seeded.add_task(seeded.outsider, "self_assessment", status="closed"),
    }
    await seeded.set_participant(seeded.outsider, closed_reason="removed")
    await seeded.set_cycle(status="closed", phase="closed")
    return ids


async def test_history_of_a_closed_cycle_by_scope_status_and_kind(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    ids = await _closed_cycle(seeded)
    cycle = seeded.cycle_id

    # The inbox (no status) is empty once everything is finished; the history is not.
    assert (await _tasks(reviews, seeded.hr, scope="all", cycle_id=cycle))["total"] == 0
    everything = await _tasks(reviews, seeded.hr, scope="all", cycle_id=cycle, status="any", limit=3)
    assert (everything["total"], len(everything["items"])) == (8, 3)
    rest = await _tasks(reviews, seeded.hr, scope="all", cycle_id=cycle, status="any", limit=3, offset=3)
    seen = {t["id"] for t in everything["items"]} | {t["id"] for t in rest["items"]}
    assert len(seen) == 6  # pages do not overlap
    expired = await _tasks(reviews, seeded.hr, scope="all", cycle_id=cycle, status="expired")
    assert [t["id"] for t in expired["items"]] == [ids["bob_self"]]
    finished = await _tasks(reviews, seeded.hr, scope="all", status=["expired", "closed"], kind="self_assessment")
    assert {t["id"] for t in finished["items"]} == {ids["bob_self"], ids["olga_self"]}

    # My past reviews: the employee's own tasks, any status.
    mine = await _tasks(reviews, seeded.token(seeded.alice), status="any")
    assert {t["id"] for t in mine["items"]} == {ids["alice_self"], ids["alice_ack"]}

    # A team's past reviews: the manager sees the tasks about their reports, filtered by kind and person.
    team = await _tasks(reviews, seeded.token(seeded.manager), scope="reports", status="done", kind="manager_review")
    assert {t["id"] for t in team["items"]} == {ids["alice_review"], ids["bob_review"]}
    bobs = await _tasks(reviews, seeded.token(seeded.manager), scope="reports", status="any", person_id=seeded.bob)
    assert {t["id"] for t in bobs["items"]} == {ids["bob_self"], ids["bob_review"], ids["bob_ack"]}
    # The skip-level sees the whole tree below them; an employee may not list reports.
    tree = await _tasks(reviews, seeded.token(seeded.boss), scope="reports", status="any", cycle_id=cycle)
    assert tree["total"] == 8
    refused = await reviews.get("/tasks", params={"scope": "reports"}, headers=seeded.token(seeded.alice))
    assert refused.status_code == 403


async def test_participants_of_a_closed_cycle_say_how_each_review_ended(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    before = (await reviews.get(f"/review-cycles/{seeded.cycle_id}/participants", headers=seeded.hr)).json()
    assert {p["closed_reason"] for p in before["items"]} == {None}  # running: nothing has ended
    await _closed_cycle(seeded)

    after = (await reviews.get(f"/review-cycles/{seeded.cycle_id}/participants", headers=seeded.hr)).json()

    by_person = {p["person_id"]: p for p in after["items"]}
    assert by_person[seeded.alice]["closed_reason"] == "completed"
    assert by_person[seeded.outsider]["closed_reason"] == "removed"  # the stored reason wins
    assert by_person[seeded.bob]["tasks"] == {
        "self_assessment": "expired",
        "manager_review": "done",
        "acknowledgement": "done",
    }


async def test_participants_of_a_cancelled_cycle_are_cancelled(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded = await Seeded(reviews, auth, settings).build()
    await seeded.set_cycle(status="cancelled", phase="closed")

    after = (await reviews.get(f"/review-cycles/{seeded.cycle_id}/participants", headers=seeded.hr)).json()

    assert {p["closed_reason"] for p in after["items"]} == {"cancelled"}
