"""Final ratings applied together leave what they leave applied one at a time.

The rewards consumer hands a run of ``rating.finalized`` events to ``apply_ratings`` at once
(``Subscription.batch_handler``); a failing run falls back to ``apply_rating`` per event. The
two must agree on every proposal and every event, whatever the batch holds: repeats, stale and
newer versions of one person, people without pay data or a department, an approved unit.
"""

from __future__ import annotations

import json
import traceback
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any, cast

import httpx
import pytest
from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.rewards.consumers import PayDataError, on_review_events
from services.rewards.models import OrgUnitApproval, OutboxEvent, PayProposal
from services.rewards.proposals.service import ProposalService
from shared.auth import Role
from shared.calibration import RATING_FINALIZED, ProposalStatus, RatingFinalized, rating_event_id
from shared.database import utcnow
from shared.events import CloudEvent
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, import_csv, insert_people, someone, today

pytestmark = pytest.mark.database

COMPARED = (
    "status",
    "org_unit",
    "rating",
    "rating_version",
    "currency",
    "current_salary",
    "compa_ratio",
    "matrix_row",
    "matrix_bucket",
    "guideline_target_pct",
    "proposed_pct",
    "proposed_salary",
    "increase_amount",
    "bonus_amount",
    "needs_data_reason",
    "submitted_at",
)


def rating(cycle: uuid.UUID, person: Someone, value: str, version: int = 1, *, unit: bool = True) -> dict[str, Any]:
    return RatingFinalized(
        cycle_id=cycle,
        person_id=person.id,
        rating=Decimal(value),
        scale_min=Decimal(1),
        scale_max=Decimal(5),
        rating_label=f"rated {value}",
        org_unit=person.department if unit else None,
        manager_id=person.manager_id,
        finalized_at=utcnow(),
        version=version,
    ).model_dump(mode="json")


async def proposals_of(sessionmaker: async_sessionmaker[AsyncSession], cycle: uuid.UUID) -> dict[uuid.UUID, Any]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(PayProposal).where(PayProposal.cycle_id == cycle))
        return {row.person_id: tuple(getattr(row, name) for name in COMPARED) for row in rows}


async def announced(sessionmaker: async_sessionmaker[AsyncSession], cycle: uuid.UUID) -> Counter[tuple[str, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(OutboxEvent.payload).where(OutboxEvent.subject.like("%.proposal.%")))
        events = [json.loads(payload) for payload in rows]
    ours = [event for event in events if event["data"]["cycle_id"] == str(cycle)]
    return Counter((event["type"], event["data"]["person_id"]) for event in ours)


async def test_ratings_applied_together_match_ratings_applied_one_by_one(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    mia = someone("Mia", "Eng")
    ada, bob, cy = someone("Ada", "Eng", mia), someone("Bob", "Eng", mia), someone("Cy", "Eng", mia)
    dee, eve = someone("Dee", "Ops", mia), someone("Eve", "Sales", mia)
    await insert_people(rewards, mia, ada, bob, cy, dee, eve)
    await add_bands(rewards, hr, band("L1", "EUR", "40000", "50000", "60000"))
    past = today() - timedelta(days=30)
    salaries = ((ada, "45000.00"), (bob, "50000.00"), (dee, "58000.00"), (eve, "41000.00"))  # Cy has none
    imported = await import_csv(rewards, hr, *((p.id, "EUR", salary, "L1", past) for p, salary in salaries))
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    sessionmaker: async_sessionmaker[AsyncSession] = rewards.app.state.sessionmaker  # type: ignore[attr-defined]

    one_by_one, together = uuid.uuid4(), uuid.uuid4()
    for cycle in (one_by_one, together):
        # Bob's first proposal is submitted already; Sales is approved already.
        async with sessionmaker() as session, session.begin():
            bobs = await ProposalService(session).apply_rating(rating(cycle, bob, "3"))
            assert bobs is not None
            bobs.status, bobs.submitted_by, bobs.submitted_at = ProposalStatus.submitted.value, mia.id, utcnow()
            session.add(
                OrgUnitApproval(
                    cycle_id=cycle, org_unit="Sales", approved_by=uuid.uuid4(), approved_at=utcnow(), approved_count=0
                )
            )

    def ratings(cycle: uuid.UUID) -> list[dict[str, Any]]:
        return [
            rating(cycle, ada, "4.5"),
            rating(cycle, bob, "4", version=2),  # returns the submitted proposal to draft
            rating(cycle, cy, "3"),  # no pay record: needs data
            rating(cycle, ada, "2", version=2),  # newer, in the same batch
            rating(cycle, ada, "4.5"),  # stale after it
            rating(cycle, dee, "3", unit=False),  # the unit comes from the people projection
            rating(cycle, eve, "4"),  # Sales is approved: ignored
            rating(cycle, bob, "4", version=2),  # a repeat
        ]

    for payload in ratings(one_by_one):
        async with sessionmaker() as session, session.begin():
            await ProposalService(session).apply_rating(payload)
    async with sessionmaker() as session, session.begin():
        applied = await ProposalService(session).apply_ratings(ratings(together))
        assert [None if proposal is None else proposal.person_id for proposal in applied] == [
            ada.id,
            bob.id,
            cy.id,
            ada.id,
            ada.id,
            dee.id,
            None,
            bob.id,
        ]

    singly, batched = await proposals_of(sessionmaker, one_by_one), await proposals_of(sessionmaker, together)
    assert batched == singly
    column = {name: index for index, name in enumerate(COMPARED)}
    assert batched[ada.id][column["rating_version"]] == 2
    assert batched[ada.id][column["rating"]] == Decimal(2)
    assert batched[bob.id][column["status"]] == "draft"
    assert batched[bob.id][column["submitted_at"]] is None
    assert batched[cy.id][column["status"]] == "needs_data"
    assert batched[dee.id][column["org_unit"]] == "Ops"
    assert eve.id not in batched
    expected_events = Counter(
        {
            ("meritloop.rewards.proposal.created", str(ada.id)): 1,
            ("meritloop.rewards.proposal.created", str(bob.id)): 1,
            ("meritloop.rewards.proposal.returned", str(bob.id)): 1,
            ("meritloop.rewards.proposal.created", str(cy.id)): 1,
            ("meritloop.rewards.proposal.created", str(dee.id)): 1,
        }
    )
    assert await announced(sessionmaker, one_by_one) == expected_events
    assert await announced(sessionmaker, together) == expected_events


async def test_a_finalized_cycle_takes_no_batch(rewards: httpx.AsyncClient, js: JetStreamContext) -> None:
    ada = someone("Ada", "Eng")
    await insert_people(rewards, ada)
    sessionmaker: async_sessionmaker[AsyncSession] = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    cycle = uuid.uuid4()
    async with sessionmaker() as session, session.begin():
        service = ProposalService(session)
        (await service.cycles.get_or_create(cycle)).finalized_at = utcnow()
        applied = await service.apply_ratings([rating(cycle, ada, "4"), rating(cycle, ada, "3", version=2)])
        assert applied == [None, None]
    assert await proposals_of(sessionmaker, cycle) == {}


async def test_a_database_error_in_a_batch_is_stripped_of_its_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing(_self: ProposalService, _payloads: list[dict[str, Any]]) -> None:
        raise IntegrityError("INSERT INTO pay_proposals ...", {"current_salary": "48123.45"}, Exception("duplicate"))

    monkeypatch.setattr(ProposalService, "apply_ratings", failing)
    cycle = uuid.uuid4()
    events = [
        CloudEvent(
            id=rating_event_id(cycle, uuid.uuid4(), 1),
            source="/meritloop/reviews",
            type=RATING_FINALIZED,
            data={"cycle_id": str(cycle)},
        )
        for _ in range(2)
    ]
    with pytest.raises(PayDataError) as raised:
        await on_review_events(cast(AsyncSession, object()), events)
    shown = "".join(traceback.format_exception(raised.value))
    assert "48123.45" not in shown
    assert "IntegrityError" in str(raised.value)
    assert str(events[0].id) in str(raised.value)
