"""A rating dispute's reminder before its due date and its escalation at it (reviews' dispute sweep).

The sweep runs with a ``now`` of the test's choosing, twice at once where it matters, against
the service's real database (SQLite, and PostgreSQL in the database pass).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from services.reviews.cycles.dispute_sweep import sweep_once
from services.reviews.cycles.service import DisputeService
from services.reviews.models import OutboxEvent, RatingDispute, ReviewTask
from shared.auth import Role
from shared.database import utcnow
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycle_reads.support import Seeded, sessionmaker_of
from tests.cycles.support import add_person
from tests.support.http import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

REASON = "The Q3 launch I led is not in the review."
ANSWER = "The rating reflects the calibrated evidence."
REMINDED = "meritloop.reviews.dispute.reminded"
ESCALATED = "meritloop.reviews.dispute.escalated"
BASE_FIELDS = {"dispute_id", "cycle_id", "person_id", "assignee_id", "status", "outcome", "due_at"}


async def _events(seeded: Seeded, subject: str) -> list[dict[str, Any]]:
    async with sessionmaker_of(seeded.reviews)() as session:
        rows = await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.subject == subject))
        return [json.loads(row) for row in rows]


async def _dispute(seeded: Seeded, person: str | None = None) -> RatingDispute:
    """``person`` (Alice) acknowledges her final rating 3 with a dispute, as the completion opens it."""
    person = person or seeded.alice
    await seeded.set_participant(person, proposed_rating="3", final_rating="3", rating_version=1)
    ack = await seeded.add_task(person, "acknowledgement", draft={"comment": REASON, "dispute": True})
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        task = await session.get(ReviewTask, ack)
        assert task is not None
        return await DisputeService(session).open(task)


async def _row(seeded: Seeded, dispute_id: uuid.UUID) -> RatingDispute:
    async with sessionmaker_of(seeded.reviews)() as session:
        found = await session.get(RatingDispute, dispute_id)
        assert found is not None
        return found


async def _move_due(seeded: Seeded, dispute_id: uuid.UUID, due_at: datetime) -> None:
    async with sessionmaker_of(seeded.reviews)() as session, session.begin():
        await session.execute(update(RatingDispute).where(RatingDispute.id == dispute_id).values(due_at=due_at))


async def _twice_at_once(seeded: Seeded, settings: Settings, now: datetime) -> list[tuple[int, int]]:
    maker = sessionmaker_of(seeded.reviews)
    return list(await asyncio.gather(sweep_once(maker, settings, now=now), sweep_once(maker, settings, now=now)))


async def _with_hr_owner(reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings) -> tuple[Seeded, str]:
    """The cycle's HR owner is Hanna, in the directory under the boss."""
    seeded = await Seeded(reviews, auth, settings).build()
    hanna = await add_person(reviews, seeded.hr, "hanna", "HR", seeded.boss)
    await seeded.set_cycle(hr_owner_id=uuid.UUID(hanna))
    return seeded, hanna


async def test_the_sweep_reminds_once_and_escalates_once_even_run_twice_at_once(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, hanna = await _with_hr_owner(reviews, auth, settings)
    dispute = await _dispute(seeded)
    assert str(dispute.assignee_id) == hanna
    due = dispute.due_at

    # Outside the lead time (2 days by default): nothing yet.
    assert await _twice_at_once(seeded, settings, due - timedelta(days=3)) == [(0, 0), (0, 0)]
    assert await _events(seeded, REMINDED) == []

    within = due - timedelta(days=1)
    rounds = await _twice_at_once(seeded, settings, within)
    assert sorted(rounds) == [(0, 0), (0, 1)], "one of the two sweeps reminds, the other finds it done"
    [reminder] = await _events(seeded, REMINDED)
    assert (await _row(seeded, dispute.id)).reminded_at == within
    assert reminder["data"]["assignee_id"] == hanna
    assert reminder["data"]["reminded_at"] == within.isoformat()
    assert set(reminder["data"]) == BASE_FIELDS | {"reminded_at"}

    # A later sweep before the due date reminds no more.
    assert await sweep_once(sessionmaker_of(reviews), settings, now=due - timedelta(minutes=1)) == (0, 0)

    late = due + timedelta(minutes=1)
    rounds = await _twice_at_once(seeded, settings, late)
    assert sorted(rounds) == [(0, 0), (1, 0)]
    [escalation] = await _events(seeded, ESCALATED)
    row = await _row(seeded, dispute.id)
    assert (row.escalated_at, row.reminded_at, row.status) == (late, within, "open")
    # Hanna's manager in the directory hears of it.
    assert escalation["data"]["notified_ids"] == [seeded.boss]
    assert set(escalation["data"]) == BASE_FIELDS | {"escalated_at", "escalation", "notified_ids"}
    assert escalation["data"]["escalation"] == 1
    # Escalated again only after MERITLOOP_REVIEWS_DISPUTE_REESCALATION_DAYS (7 by default).
    assert await sweep_once(sessionmaker_of(reviews), settings, now=late + timedelta(days=3)) == (0, 0)
    assert len(await _events(seeded, ESCALATED)) == 1
    assert len(await _events(seeded, REMINDED)) == 1

    # Ids and times only: not the employee's reason, not a rating.
    carried = json.dumps([reminder, escalation])
    assert REASON not in carried
    assert "rating" not in carried


async def test_a_dispute_left_open_is_escalated_again_one_manager_higher_each_time(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    # The HR owner's line: Hanna, then Victor, then Cecilia at the top.
    seeded = await Seeded(reviews, auth, settings).build()
    cecilia = await add_person(reviews, seeded.hr, "cecilia", "Board", None)
    victor = await add_person(reviews, seeded.hr, "victor", "HR", cecilia)
    hanna = await add_person(reviews, seeded.hr, "hanna", "HR", victor)
    await seeded.set_cycle(hr_owner_id=uuid.UUID(hanna))
    dispute = await _dispute(seeded)
    again = timedelta(days=settings.reviews_dispute_reescalation_days)
    assert again == timedelta(days=7)

    first = dispute.due_at + timedelta(minutes=1)
    assert sorted(await _twice_at_once(seeded, settings, first)) == [(0, 0), (1, 0)]
    # Not again before the interval has passed since the last escalation.
    assert await sweep_once(sessionmaker_of(reviews), settings, now=first + again - timedelta(minutes=1)) == (0, 0)
    second = first + again
    assert sorted(await _twice_at_once(seeded, settings, second)) == [(0, 0), (1, 0)], "once, though swept twice"
    third = second + again + timedelta(hours=5)
    assert await sweep_once(sessionmaker_of(reviews), settings, now=third) == (1, 0)

    events = sorted(await _events(seeded, ESCALATED), key=lambda e: int(e["data"]["escalation"]))
    told = [(e["data"]["escalation"], e["data"]["escalated_at"], e["data"]["notified_ids"]) for e in events]
    assert told == [
        (1, first.isoformat(), [victor]),
        (2, second.isoformat(), [cecilia]),
        (3, third.isoformat(), [cecilia]),  # nobody above her: the top of the line is told again
    ]
    assert len({e["id"] for e in events}) == 3, "each escalation is an event of its own for the duplicate window"
    row = await _row(seeded, dispute.id)
    assert (row.escalations, row.escalated_at, row.status) == (3, third, "open")
    shown = (await reviews.get(f"/disputes/{dispute.id}", headers=seeded.hr)).json()
    assert (shown["escalations"], shown["escalated_at"]) == (3, third.isoformat().replace("+00:00", "Z"))

    # Resolved, the escalations stop.
    resolved = await reviews.post(
        f"/disputes/{dispute.id}/resolve", json={"outcome": "upheld", "resolution": ANSWER}, headers=seeded.hr
    )
    assert resolved.status_code == 200, resolved.text
    assert await sweep_once(sessionmaker_of(reviews), settings, now=third + 3 * again) == (0, 0)
    assert len(await _events(seeded, ESCALATED)) == 3


async def test_with_no_interval_a_dispute_is_escalated_once(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    settings.reviews_dispute_reescalation_days = 0
    seeded, _hanna = await _with_hr_owner(reviews, auth, settings)
    dispute = await _dispute(seeded)
    assert await sweep_once(sessionmaker_of(reviews), settings, now=dispute.due_at) == (1, 0)
    assert await sweep_once(sessionmaker_of(reviews), settings, now=dispute.due_at + timedelta(days=60)) == (0, 0)
    assert (await _row(seeded, dispute.id)).escalations == 1


async def test_migration_0015_counts_an_earlier_escalation_as_the_first(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, _hanna = await _with_hr_owner(reviews, auth, settings)
    escalated = await _dispute(seeded)
    waiting = await _dispute(seeded, seeded.bob)
    await _move_due(seeded, waiting.id, escalated.due_at + timedelta(days=30))
    assert await sweep_once(sessionmaker_of(reviews), settings, now=escalated.due_at) == (1, 0)

    url = settings.database_url("reviews")
    await downgrade_async("reviews", url, "0014")  # the count is gone; escalated_at stays
    await upgrade_async("reviews", url)
    assert ((await _row(seeded, escalated.id)).escalations, (await _row(seeded, waiting.id)).escalations) == (1, 0)
    # Counted as the first, so the next is the second, to the manager above the first one told.
    assert await sweep_once(sessionmaker_of(reviews), settings, now=escalated.due_at + timedelta(days=7)) == (1, 0)
    assert ((await _row(seeded, escalated.id)).escalations, (await _row(seeded, waiting.id)).escalations) == (2, 0)
    told = sorted(
        (event["data"]["escalation"], event["data"]["dispute_id"]) for event in await _events(seeded, ESCALATED)
    )
    assert told == [(1, str(escalated.id)), (2, str(escalated.id))]


async def test_a_dispute_found_past_due_is_escalated_without_a_late_reminder(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, _hanna = await _with_hr_owner(reviews, auth, settings)
    dispute = await _dispute(seeded)
    assert await sweep_once(sessionmaker_of(reviews), settings, now=dispute.due_at + timedelta(days=1)) == (1, 0)
    assert await _events(seeded, REMINDED) == []
    assert (await _row(seeded, dispute.id)).reminded_at is None


async def test_a_resolved_dispute_is_neither_reminded_nor_escalated(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, _hanna = await _with_hr_owner(reviews, auth, settings)
    dispute = await _dispute(seeded)
    resolved = await reviews.post(
        f"/disputes/{dispute.id}/resolve", json={"outcome": "upheld", "resolution": ANSWER}, headers=seeded.hr
    )
    assert resolved.status_code == 200, resolved.text
    for now in (dispute.due_at - timedelta(days=1), dispute.due_at + timedelta(days=1)):
        assert await sweep_once(sessionmaker_of(reviews), settings, now=now) == (0, 0)
    row = await _row(seeded, dispute.id)
    assert (row.reminded_at, row.escalated_at) == (None, None)
    assert await _events(seeded, REMINDED) == await _events(seeded, ESCALATED) == []


async def test_without_a_manager_above_the_assignee_the_creator_or_the_assignee_is_named(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    # The HR owner is the cycle's creator and not in the directory: nobody to tell, the dispute is marked.
    seeded = await Seeded(reviews, auth, settings).build()
    dispute = await _dispute(seeded)
    assert dispute.assignee_id == seeded.hr_id
    assert await sweep_once(sessionmaker_of(reviews), settings, now=dispute.due_at) == (1, 0)
    [escalation] = await _events(seeded, ESCALATED)
    assert escalation["data"]["notified_ids"] == []
    # A cycle created by someone else: that person is told.
    creator = await add_person(reviews, seeded.hr, "carla", "HR", None)
    await seeded.set_cycle(created_by=uuid.UUID(creator))
    second = await _dispute(seeded, seeded.bob)
    assert await sweep_once(sessionmaker_of(reviews), settings, now=second.due_at) == (1, 0)
    notified = {e["data"]["dispute_id"]: e["data"]["notified_ids"] for e in await _events(seeded, ESCALATED)}
    assert notified[str(second.id)] == [creator]
    # The creator left: with nobody above her, the HR owner at the top of the directory hears it herself.
    await seeded.deactivate(creator)
    hana = await add_person(reviews, seeded.hr, "hana", "HR", None)
    await seeded.set_cycle(hr_owner_id=uuid.UUID(hana))
    third = await _dispute(seeded, seeded.manager)
    assert str(third.assignee_id) == hana
    assert await sweep_once(sessionmaker_of(reviews), settings, now=third.due_at) == (1, 0)
    notified = {e["data"]["dispute_id"]: e["data"]["notified_ids"] for e in await _events(seeded, ESCALATED)}
    assert notified[str(third.id)] == [hana]


async def test_the_queue_shows_what_is_overdue_to_those_who_may_read_it(
    reviews: httpx.AsyncClient, auth: TokenFactory, settings: Settings
) -> None:
    seeded, _hanna = await _with_hr_owner(reviews, auth, settings)
    late = await _dispute(seeded)
    on_time = await _dispute(seeded, seeded.bob)
    # Alice's dispute fell due an hour ago (by the clock the route reads).
    await _move_due(seeded, late.id, utcnow() - timedelta(hours=1))
    assert await sweep_once(sessionmaker_of(reviews), settings) == (1, 0)

    async def overdue_ids(headers: dict[str, str], value: str = "true") -> list[str]:
        response = await reviews.get("/disputes", params={"overdue": value}, headers=headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

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
    assert {who: await overdue_ids(h) for who, h in readers.items()} == {key: [str(late.id)] for key in readers}
    assert {who: await overdue_ids(h) for who, h in others.items()} == {key: [] for key in others}
    assert await overdue_ids(seeded.hr, "false") == [str(on_time.id)]
    assert await overdue_ids(seeded.token(seeded.bob), "false") == [str(on_time.id)]

    items = {item["id"]: item for item in (await reviews.get("/disputes", headers=seeded.hr)).json()["items"]}
    assert items[str(late.id)]["overdue"] is True
    assert items[str(late.id)]["escalated_at"] is not None
    assert items[str(late.id)]["reminded_at"] is None
    assert (items[str(on_time.id)]["overdue"], items[str(on_time.id)]["escalated_at"]) == (False, None)
    one = (await reviews.get(f"/disputes/{late.id}", headers=seeded.token(seeded.alice))).json()
    assert one["overdue"] is True

    # Resolved, it is no longer overdue though its due date has passed.
    resolved = await reviews.post(
        f"/disputes/{late.id}/resolve", json={"outcome": "upheld", "resolution": ANSWER}, headers=seeded.hr
    )
    assert resolved.json()["overdue"] is False
    assert await overdue_ids(seeded.hr) == []

    await seeded.deactivate(seeded.alice)
    assert await overdue_ids(seeded.token(seeded.alice), "false") == []

    bad = await reviews.get("/disputes", params={"overdue": "sometimes"}, headers=seeded.hr)
    assert assert_problem(bad, 422)["errors"][0]["field"] == "overdue"


async def test_the_filter_and_the_fields_are_in_the_openapi(reviews: httpx.AsyncClient) -> None:
    spec = (await reviews.get("/openapi.json")).json()
    parameters = {p["name"]: p for p in spec["paths"]["/disputes"]["get"]["parameters"]}
    assert "overdue" in parameters
    assert "422" in spec["paths"]["/disputes"]["get"]["responses"]
    fields = spec["components"]["schemas"]["DisputeRead"]["properties"]
    assert {"reminded_at", "escalated_at", "escalations", "overdue"} <= set(fields)


async def test_the_app_sweeps_by_itself_beside_its_health_checks(
    service_client: ServiceClientFactory, auth: TokenFactory, settings: Settings
) -> None:
    settings.reviews_dispute_sweep_interval = 0.2
    async with service_client("reviews") as client:
        seeded = await Seeded(client, auth, settings).build()
        dispute = await _dispute(seeded)
        await _move_due(seeded, dispute.id, utcnow() - timedelta(hours=1))

        async def escalated() -> datetime | None:
            assert (await client.get("/readyz")).status_code == 200
            return (await _row(seeded, dispute.id)).escalated_at

        await wait_until(escalated, timeout=10, message="the app's sweep escalated the dispute")
        assert len(await _events(seeded, ESCALATED)) == 1
