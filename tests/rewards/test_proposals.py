"""Final ratings arrive by event, become pay proposals, managers edit and submit, HR approves.

Runs the rewards service for real (database, NATS, outbox relay, consumers); the reviews
service does not run, so the tests publish its events onto MERITLOOP_REVIEWS themselves.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from shared.auth import Role
from shared.calibration import (
    CYCLE_REWARDS_FINALIZED,
    PAY_APPROVAL_OPENED,
    PROPOSAL_APPROVED,
    PROPOSAL_CREATED,
    PROPOSAL_RETURNED,
    PROPOSAL_SUBMITTED,
    PayApprovalOpened,
)
from shared.events import CloudEvent
from tests.conftest import TokenFactory
from tests.rewards.support import (
    MATRIX,
    Someone,
    add_bands,
    band,
    import_csv,
    publish_people,
    publish_rating,
    rewards_stream,
    someone,
    today,
)
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

# Nothing about pay may travel: no field name that smells of money, no amount or percentage.
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T[0-9:.]+(Z|[+-]\d{2}:\d{2})?")
FORBIDDEN_KEYS = ("salary", "amount", "pct", "percent", "budget", "payroll", "increase", "guideline", "compa")


async def proposals(client: httpx.AsyncClient, cycle: uuid.UUID, headers: dict[str, str], **params: Any) -> list[Any]:
    response = await client.get(f"/cycles/{cycle}/proposals", params={"limit": 500, **params}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


async def proposal_of(
    client: httpx.AsyncClient, cycle: uuid.UUID, hr: dict[str, str], person: Someone
) -> dict[str, Any] | None:
    found: dict[str, Any] | None = None
    for item in await proposals(client, cycle, hr):
        if item["person_id"] == str(person.id):
            found = item
    return found


async def wait_for_proposal(
    client: httpx.AsyncClient, cycle: uuid.UUID, hr: dict[str, str], person: Someone, version: int = 1
) -> dict[str, Any]:
    async def arrived() -> dict[str, Any] | None:
        found = await proposal_of(client, cycle, hr, person)
        return found if found is not None and found["rating_version"] >= version else None

    return await wait_until(arrived, message=f"proposal of {person.name} v{version}")


async def test_pay_approval_from_final_ratings_to_statements(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    rewards.headers["Authorization"] = hr["Authorization"]  # for the people-projection probe
    boss = someone("Boss", "Board")
    mia = someone("Mia", "Eng", boss)  # manager of Eng
    sam = someone("Sam", "Sales", boss)  # manager of Sales
    ada, bob = someone("Ada", "Eng", mia), someone("Bob", "Eng", mia)
    cy, dee = someone("Cy", "Sales", sam), someone("Dee", "Sales", sam)
    await publish_people(js, rewards, boss, mia, sam, ada, bob, cy, dee)
    as_mia, as_sam = auth(Role.manager, person_id=mia.id), auth(Role.manager, person_id=sam.id)
    as_ada = auth(Role.employee, person_id=ada.id)

    await add_bands(
        rewards, hr, band("L1", "EUR", "40000", "50000", "60000"), band("S1", "USD", "45000", "60000", "75000")
    )
    past = today() - timedelta(days=30)
    salaries = (("Ada", "45000.00"), ("Bob", "50000.00"), ("Cy", "66000.00"), ("Dee", "54321.99"))
    imported = await import_csv(
        rewards,
        hr,
        (ada.id, "EUR", "45000.00", "L1", past),
        (bob.id, "EUR", "50000.00", "L1", past),
        (cy.id, "USD", "66000.00", "S1", past),
    )
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    policy = await rewards.patch(f"/cycles/{cycle}", json={"budget_pct": "4", "manager_due": str(past)}, headers=hr)
    assert policy.status_code == 200, policy.text

    # Final ratings arrive; each person gets exactly one proposal.
    first = await publish_rating(js, cycle, ada, "4.5")
    await publish_rating(js, cycle, bob, "3")
    await publish_rating(js, cycle, cy, "4")
    await publish_rating(js, cycle, dee, "2")
    proposal_a = await wait_for_proposal(rewards, cycle, hr, ada)
    assert proposal_a["status"] == "draft"
    assert Decimal(proposal_a["compa_ratio"]) == Decimal("0.9")  # 45000 / 50000 -> bucket "at"
    assert {k: Decimal(v) for k, v in proposal_a["guideline"].items()} == {"min": 3, "target": 4, "max": 5}
    assert Decimal(proposal_a["proposed_pct"]) == Decimal(4)
    assert Decimal(proposal_a["proposed_salary"]) == Decimal("46800.00")
    assert Decimal(proposal_a["increase_amount"]) == Decimal("1800.00")
    assert (proposal_a["org_unit"], proposal_a["display_name"], proposal_a["rating_label"]) == (
        "Eng",
        "Ada",
        "rated 4.5",
    )
    proposal_c = await wait_for_proposal(rewards, cycle, hr, cy)
    assert (proposal_c["currency"], Decimal(proposal_c["compa_ratio"])) == ("USD", Decimal("1.1"))  # top bucket
    assert Decimal(proposal_c["proposed_pct"]) == Decimal(3)
    proposal_d = await wait_for_proposal(rewards, cycle, hr, dee)
    assert proposal_d["status"] == "needs_data"
    assert "no current compensation record" in proposal_d["needs_data_reason"]
    assert proposal_d["proposed_pct"] is None

    # Redelivery (a new message id for the same event) and an equal version change nothing;
    # a newer version recomputes, an older one after it is ignored.
    await publish_rating(js, cycle, ada, "4.5", msg_id="redelivered")
    await publish_rating(js, cycle, bob, "4.2", version=3)
    await wait_for_proposal(rewards, cycle, hr, bob, version=3)
    await publish_rating(js, cycle, bob, "1", version=2)
    barrier, other_cycle = someone("Barrier", "Eng", mia), uuid.uuid4()
    await publish_rating(js, other_cycle, barrier, "3")  # handled after the stale one: a barrier
    await wait_for_proposal(rewards, other_cycle, hr, barrier)
    proposal_b = await proposal_of(rewards, cycle, hr, bob)
    assert proposal_b is not None
    assert (proposal_b["rating_version"], proposal_b["rating"]) == (3, 4.2)  # ratings are JSON numbers
    assert Decimal(proposal_b["proposed_pct"]) == Decimal(4)
    everyone = await proposals(rewards, cycle, hr)
    assert len(everyone) == 4
    assert sum(item["person_id"] == str(ada.id) for item in everyone) == 1
    assert (await proposal_of(rewards, cycle, hr, ada)) == proposal_a
    assert first.id  # the first delivery's event id is the one in the inbox

    # Managers see their direct reports, or everyone below them.
    mine = await proposals(rewards, cycle, as_mia, manager="me")
    assert {item["display_name"] for item in mine} == {"Ada", "Bob"}
    below_boss = await proposals(rewards, cycle, auth(Role.manager, person_id=boss.id), manager="me", scope="all")
    assert {item["display_name"] for item in below_boss} == {"Ada", "Bob", "Cy", "Dee"}
    assert await proposals(rewards, cycle, auth(Role.manager, person_id=boss.id), manager="me") == []
    assert_problem(await rewards.get(f"/proposals/{proposal_c['id']}", headers=as_mia), 404)
    assert_problem(
        await rewards.patch(f"/proposals/{proposal_c['id']}", json={"proposed_pct": "3"}, headers=as_mia), 404
    )
    assert_problem(await rewards.get(f"/cycles/{cycle}/proposals", headers=as_mia), 403)
    assert_problem(await rewards.get(f"/cycles/{cycle}/proposals", params={"manager": "me"}, headers=as_ada), 403)
    assert_problem(await rewards.get(f"/me/statements/{cycle}", headers=as_ada), 404)

    # Editing: within the guideline; outside it only with a justification; within the budget.
    edit = await rewards.patch(f"/proposals/{proposal_a['id']}", json={"proposed_pct": "3.5"}, headers=as_mia)
    assert edit.status_code == 200, edit.text
    edited = edit.json()
    assert Decimal(edited["proposal"]["proposed_salary"]) == Decimal("46575.00")
    assert edited["proposal"]["outside_guideline"] is False
    # Eng payroll 95000; budget 4 % = 3800; Ada 1575 + Bob 2000 = 3575.
    assert {k: Decimal(v) for k, v in edited["budget"].items() if k not in ("currency", "basis")} == {
        "payroll": Decimal("95000"),
        "proposed_increase": Decimal("3575"),
        "budget": Decimal("3800"),
        "remaining": Decimal("225"),
    }
    assert edited["budget"]["basis"] == "percent"
    outside = {"proposed_pct": "5.5"}
    assert problem_fields(await rewards.patch(f"/proposals/{proposal_a['id']}", json=outside, headers=as_mia)) == {
        "justification"
    }
    over = {"proposed_pct": "5.5", "justification": "Took over the on-call rota."}
    assert problem_fields(await rewards.patch(f"/proposals/{proposal_a['id']}", json=over, headers=as_mia)) == {
        "proposed_pct"
    }
    justified = {"proposed_pct": "2", "justification": "Promoted in spring already."}
    low = await rewards.patch(f"/proposals/{proposal_a['id']}", json=justified, headers=as_mia)
    assert low.status_code == 200, low.text
    assert (low.json()["proposal"]["outside_guideline"], low.json()["proposal"]["justification"]) == (
        True,
        "Promoted in spring already.",
    )
    assert problem_fields(
        await rewards.patch(f"/proposals/{proposal_a['id']}", json={"proposed_pct": "101"}, headers=as_mia)
    ) == {"proposed_pct"}

    # HR cannot approve before every proposal of the unit is submitted.
    body = assert_problem(await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr), 409)
    assert body["not_submitted"] == {"draft": 2}
    submitted = await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)
    assert submitted.json() == {
        "cycle_id": str(cycle),
        "manager_id": str(mia.id),
        "submitted": 2,
        "already_submitted": 0,
        "needs_data": 0,
    }
    assert_problem(
        await rewards.patch(f"/proposals/{proposal_a['id']}", json={"proposed_pct": "3"}, headers=as_mia), 409
    )
    # HR returns the unit with a reason; Mia changes Ada's proposal and submits again.
    returned = await rewards.post(
        f"/cycles/{cycle}/org-units/Eng/reject", json={"reason": "Ada's increase is too low."}, headers=hr
    )
    assert returned.json()["returned"] == 2
    back = await rewards.get(f"/proposals/{proposal_a['id']}", headers=as_mia)
    assert (back.json()["status"], back.json()["return_reason"]) == ("draft", "Ada's increase is too low.")
    assert (
        await rewards.patch(f"/proposals/{proposal_a['id']}", json={"proposed_pct": "4"}, headers=as_mia)
    ).status_code == 200
    assert (await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_mia)).json()[
        "submitted"
    ] == 2

    summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    assert (summary["count"], summary["status_counts"]["submitted"], summary["approved"]) == (2, 2, False)
    assert summary["manager_overdue"] is False  # nothing left in draft
    [eur] = summary["currencies"]
    assert (eur["currency"], Decimal(eur["payroll"]), Decimal(eur["budget"])) == ("EUR", Decimal(95000), Decimal(3800))
    assert_problem(await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=as_mia), 403)

    approved = await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr)
    assert approved.json() == {"cycle_id": str(cycle), "org_unit": "Eng", "approved": 2, "cycle_finalized": False}
    assert_problem(await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr), 409)
    assert_problem(await rewards.post(f"/cycles/{cycle}/org-units/Eng/reject", json={"reason": "x"}, headers=hr), 409)
    statement = await rewards.get(f"/me/statements/{cycle}", headers=as_ada)
    assert statement.status_code == 200, statement.text
    assert {k: statement.json()[k] for k in ("currency", "rating_label")} == {
        "currency": "EUR",
        "rating_label": "rated 4.5",
    }
    assert [Decimal(statement.json()[k]) for k in ("previous_salary", "new_salary", "increase_pct", "rating")] == [
        Decimal("45000"),
        Decimal("46800"),
        Decimal("4"),
        Decimal("4.5"),
    ]

    # Sales: Dee needs data until HR imports her pay and refreshes the cycle.
    sales = (await rewards.get(f"/cycles/{cycle}/org-units/Sales/summary", headers=hr)).json()
    assert (sales["status_counts"]["needs_data"], sales["manager_overdue"]) == (1, True)
    early = (await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_sam)).json()
    assert (early["submitted"], early["needs_data"]) == (1, 1)
    assert assert_problem(await rewards.post(f"/cycles/{cycle}/org-units/Sales/approve", headers=hr), 409)[
        "not_submitted"
    ] == {"needs_data": 1}
    assert (await import_csv(rewards, hr, (dee.id, "USD", "54321.99", "S1", past))).status_code == 200
    refreshed = await rewards.post(f"/cycles/{cycle}/proposals/refresh", headers=hr)
    assert refreshed.json() == {"cycle_id": str(cycle), "completed": 1, "still_needs_data": 0}
    completed = await proposal_of(rewards, cycle, hr, dee)
    assert completed is not None
    proposal_d = completed
    assert (proposal_d["status"], Decimal(proposal_d["compa_ratio"]), Decimal(proposal_d["proposed_pct"])) == (
        "draft",
        Decimal("0.9054"),
        Decimal("0.5"),
    )
    assert Decimal(proposal_d["proposed_salary"]) == Decimal("54593.60")  # 54321.99 * 1.005 = 54593.59995
    assert (await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=as_sam)).json()[
        "submitted"
    ] == 1
    final = await rewards.post(f"/cycles/{cycle}/org-units/Sales/approve", headers=auth(Role.admin))
    assert final.json()["cycle_finalized"] is True
    cycle_state = (await rewards.get(f"/cycles/{cycle}", headers=hr)).json()
    assert (cycle_state["approved_count"], cycle_state["org_units"], cycle_state["approved_org_units"]) == (
        4,
        ["Eng", "Sales"],
        ["Eng", "Sales"],
    )
    assert all(item["status"] == "approved" for item in await proposals(rewards, cycle, hr))

    # The events: one per step and proposal, one finalisation, and nothing about pay.
    async def all_published() -> list[tuple[Any, bytes]] | None:
        events = await rewards_stream(js)
        return events if sum(e.type == CYCLE_REWARDS_FINALIZED for e, _ in events) else None

    events = await wait_until(all_published, message="cycle-rewards.finalized")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for event, _raw in events:
        if event.data.get("cycle_id") == str(cycle):
            by_type.setdefault(event.type, []).append(event.data)
    assert len(by_type[PROPOSAL_CREATED]) == 4
    assert len(by_type[PROPOSAL_SUBMITTED]) == 2 + 2 + 1 + 1
    assert len(by_type[PROPOSAL_RETURNED]) == 2
    assert len(by_type[PROPOSAL_APPROVED]) == 4
    assert by_type[CYCLE_REWARDS_FINALIZED] == [{"cycle_id": str(cycle), "approved_count": 4}]
    assert {data["status"] for data in by_type[PROPOSAL_APPROVED]} == {"approved"}
    assert {
        tuple(sorted(data)) for t in by_type if t.startswith("meritloop.rewards.proposal") for data in by_type[t]
    } == {("cycle_id", "id", "org_unit", "person_id", "status")}
    for event, raw in events:
        assert not any(word in key for key in event.data for word in FORBIDDEN_KEYS), event.data
        # Ids and timestamps hold digits by chance; any amount left in the rest is a leak.
        text = TIMESTAMP.sub("", UUID.sub("", raw.decode()))
        for _name, amount in salaries:
            assert amount.split(".")[0] not in text, event.data
        for amount in ("46800", "46575", "54593", "3800", "1800", "1575"):
            assert amount not in text, event.data


async def test_pay_approval_opened_sets_the_policy_and_unit_routes_are_for_hr(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr, cycle = auth(Role.hr), uuid.uuid4()
    assert_problem(await rewards.get(f"/cycles/{cycle}", headers=hr), 404)
    data = PayApprovalOpened(cycle_id=cycle, budget_pct=Decimal("3.5"), hr_due=today(), org_units=["Eng"])
    event = CloudEvent(source="/meritloop/reviews", type=PAY_APPROVAL_OPENED, data=data.model_dump(mode="json"))
    await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})

    async def opened() -> dict[str, Any] | None:
        response = await rewards.get(f"/cycles/{cycle}", headers=hr)
        return response.json() if response.status_code == 200 else None

    state = await wait_until(opened, message="pay cycle opened")
    assert (Decimal(state["budget_pct"]), state["hr_due"], state["manager_due"]) == (Decimal("3.5"), str(today()), None)
    changed = await rewards.patch(f"/cycles/{cycle}", json={"budget_pct": None}, headers=hr)
    assert (changed.status_code, changed.json()["budget_pct"], changed.json()["hr_due"]) == (200, None, str(today()))
    assert problem_fields(await rewards.patch(f"/cycles/{cycle}", json={"budget_pct": "120"}, headers=hr)) == {
        "budget_pct"
    }

    manager = auth(Role.manager)
    for method, path in (
        ("GET", f"/cycles/{cycle}"),
        ("GET", f"/cycles/{cycle}/org-units/Eng/summary"),
        ("POST", f"/cycles/{cycle}/org-units/Eng/approve"),
        ("POST", f"/cycles/{cycle}/proposals/refresh"),
    ):
        assert_problem(await rewards.request(method, path, headers=manager), 403)
    assert_problem(
        await rewards.post(f"/cycles/{cycle}/org-units/Eng/reject", json={"reason": "x"}, headers=manager), 403
    )
    assert_problem(await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr), 404)
    assert_problem(await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr), 404)
    assert_problem(
        await rewards.post(f"/cycles/{cycle}/proposals/submit", params={"manager": "me"}, headers=manager), 404
    )
    assert problem_fields(await rewards.get(f"/cycles/{cycle}/proposals", params={"manager": "x"}, headers=hr)) == {
        "manager"
    }
    assert_problem(await rewards.get(f"/proposals/{uuid.uuid4()}", headers=hr), 404)
