"""Bonus, merit and bonus pools per unit, least data for managers, and total-reward statements.

The rewards service runs for real; final ratings arrive as events on the reviews stream.

Eng holds Ada and Bob (Mia's reports) and Cy (Sam's). Band L: midpoint 50,000.
Ada 50,000 (L2, rating 4.5, compa 1.0 -> merit 4 % = 2,000), Bob 40,000 (L1, rating 3, compa
0.8 -> 3 % = 1,200, hired 2026-07-02), Cy 60,000 (L2, rating 4, compa 1.2 -> 3 % = 1,800).
Bonus plan: L1 5 %, L2 10 %; multipliers [1,3) 0.5, [3,4) 1.0, [4,5] 1.5; period 2026; at
company factor 1.2: Ada 50,000 x 10 % x 1.5 x 1.2 = 9,000; Bob 40,000 x 5 % x 1.0 x 1.2 x
183/365 (0.5014) = 1,203.36; Cy 60,000 x 10 % x 1.5 x 1.2 = 10,800.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from services.rewards.models import Person
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, insert_people, publish_rating, someone, today
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

HEADER = "person_id,currency,base_salary,grade,effective_date,job_level,hire_date"


def plan(factor: str) -> dict[str, Any]:
    return {
        "targets": {"L1": "5", "L2": "10"},
        "multipliers": [
            {"min": "1", "max": "3", "multiplier": "0.5"},
            {"min": "3", "max": "4", "multiplier": "1.0"},
            {"min": "4", "max": "5", "multiplier": "1.5"},
        ],
        "company_factor": factor,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
        "max_deviation_pct": "20",
    }


async def proposals_by_name(client: httpx.AsyncClient, cycle: uuid.UUID, hr: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/cycles/{cycle}/proposals", params={"limit": 500}, headers=hr)
    assert response.status_code == 200, response.text
    return {item["display_name"]: item for item in response.json()["items"]}


async def wait_for(client: httpx.AsyncClient, cycle: uuid.UUID, hr: dict[str, str], count: int) -> dict[str, Any]:
    async def arrived() -> dict[str, Any] | None:
        found = await proposals_by_name(client, cycle, hr)
        return found if len(found) == count else None

    return await wait_until(arrived, message=f"{count} proposals")


class Org:
    def __init__(self) -> None:
        self.boss = someone("Boss", "Board")
        self.mia = someone("Mia", "Eng", self.boss)
        self.sam = someone("Sam", "Eng", self.boss)
        self.ada = someone("Ada", "Eng", self.mia)
        self.bob = someone("Bob", "Eng", self.mia)
        self.cy = someone("Cy", "Eng", self.sam)
        self.colleague = someone("Col", "Eng", self.sam)
        self.gone = someone("Gone", "Eng", self.boss)

    def everyone(self) -> tuple[Someone, ...]:
        return (self.boss, self.mia, self.sam, self.ada, self.bob, self.cy, self.colleague, self.gone)


async def setup(rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory) -> tuple[Org, uuid.UUID]:
    hr = auth(Role.hr)
    org = Org()
    await insert_people(rewards, *org.everyone())
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        gone = await session.get(Person, org.gone.id)
        assert gone is not None
        gone.active = False
    await add_bands(rewards, hr, band("L", "EUR", "40000", "50000", "60000"))
    past = today() - timedelta(days=30)
    body = "\n".join(
        [
            HEADER,
            f"{org.ada.id},EUR,50000,L,{past},L2,2020-01-01",
            f"{org.bob.id},EUR,40000,L,{past},L1,2026-07-02",
            f"{org.cy.id},EUR,60000,L,{past},L2,2019-05-01",
        ]
    )
    imported = await rewards.post(
        "/compensation/import", content=body.encode(), headers={**hr, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    policy = await rewards.patch(f"/cycles/{cycle}", json={"budget_pct": "4", "bonus_budget_pct": "15"}, headers=hr)
    assert policy.status_code == 200, policy.text
    assert policy.json()["bonus_budget_pct"] == "15.00"
    first = await rewards.put(f"/cycles/{cycle}/bonus-plan", json=plan("1.0"), headers=hr)
    assert first.status_code == 201, first.text
    for person, rating in ((org.ada, "4.5"), (org.bob, "3"), (org.cy, "4")):
        await publish_rating(js, cycle, person, rating)
    await wait_for(rewards, cycle, hr, 3)
    return org, cycle


async def test_bonus_pools_least_data_and_statements(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    org, cycle = await setup(rewards, js, auth)
    as_mia = auth(Role.manager, person_id=org.mia.id)

    found = await proposals_by_name(rewards, cycle, hr)
    assert Decimal(found["Ada"]["bonus_computed"]) == Decimal("7500.00")  # factor 1.0

    # Bad plans name the field; a new plan recomputes every draft's bonus.
    broken = {**plan("1.2"), "period_end": "2025-12-31"}
    assert problem_fields(await rewards.put(f"/cycles/{cycle}/bonus-plan", json=broken, headers=hr)) == {"period_end"}
    gap = plan("1.2")
    gap["multipliers"][1]["min"] = "3.5"
    assert problem_fields(await rewards.put(f"/cycles/{cycle}/bonus-plan", json=gap, headers=hr)) == {
        "multipliers[1].min"
    }
    replaced = await rewards.put(f"/cycles/{cycle}/bonus-plan", json=plan("1.2"), headers=hr)
    assert replaced.status_code == 200
    assert (replaced.json()["revision"], replaced.json()["recomputed"]) == (2, 3)
    found = await proposals_by_name(rewards, cycle, hr)
    ada, bob, cy = found["Ada"], found["Bob"], found["Cy"]
    assert (ada["job_level"], Decimal(ada["bonus_multiplier"]), Decimal(ada["bonus_proration"])) == (
        "L2",
        Decimal("1.5"),
        Decimal(1),
    )
    assert Decimal(ada["bonus_computed"]) == Decimal("9000.00")
    assert Decimal(bob["bonus_proration"]) == Decimal("0.5014")  # 183 of 365 days
    assert Decimal(bob["bonus_computed"]) == Decimal("1203.36")
    assert Decimal(cy["bonus_amount"]) == Decimal("10800.00")
    assert [Decimal(p["increase_amount"]) for p in (ada, bob, cy)] == [2000, 1200, 1800]

    # HR sees the unit: payroll 150,000; merit 4 % = 6,000 (5,000 proposed); bonus 15 % = 22,500.
    summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    [merit] = summary["currencies"]
    [bonus] = summary["bonus"]
    assert [Decimal(merit[key]) for key in ("payroll", "budget", "proposed_increase")] == [150000, 6000, 5000]
    assert (Decimal(bonus["budget"]), Decimal(bonus["proposed_increase"])) == (Decimal(22500), Decimal("21003.36"))

    # Mia moves Ada's bonus within 20 % of the computed one, with a reason; beyond it, never.
    url = f"/proposals/{ada['id']}"
    assert problem_fields(
        await rewards.patch(url, json={"proposed_pct": "4", "bonus_amount": "10000"}, headers=as_mia)
    ) == {"bonus_reason"}
    too_far = {"proposed_pct": "4", "bonus_amount": "11000", "bonus_reason": "Shipped the platform."}
    assert problem_fields(await rewards.patch(url, json=too_far, headers=as_mia)) == {"bonus_amount"}
    edited = await rewards.patch(
        url,
        json={"proposed_pct": "4", "bonus_amount": "10000", "bonus_reason": "Shipped the platform."},
        headers=as_mia,
    )
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert body["proposal"]["bonus_reason"] == "Shipped the platform."
    # Least data: Mia's answer totals her own reports (Ada and Bob: 90,000), not the unit's.
    assert body["budget_scope"] == "own_reports"
    assert [Decimal(body["budget"][key]) for key in ("payroll", "budget")] == [90000, 3600]
    assert Decimal(body["bonus_budget"]["budget"]) == 13500
    assert Decimal(body["bonus_budget"]["proposed_increase"]) == Decimal("11203.36")
    assert body["budget_pct"] is None
    assert "150000" not in edited.text
    as_hr_edit = await rewards.patch(
        url, json={"proposed_pct": "4", "bonus_amount": "10000", "bonus_reason": "Ok."}, headers=hr
    )
    assert as_hr_edit.json()["budget_scope"] == "org_unit"
    assert Decimal(as_hr_edit.json()["budget"]["payroll"]) == 150000

    # Over the unit's bonus pool (10,500 + 1,203.36 + 10,800 > 22,500): blocked by default,
    # without telling a manager the unit's amounts; in warn mode, accepted with a reason.
    over = {"proposed_pct": "4", "bonus_amount": "10500", "bonus_reason": "Shipped the platform."}
    refused = await rewards.patch(url, json=over, headers=as_mia)
    assert problem_fields(refused) == {"bonus_amount"}
    assert "22500" not in refused.text
    assert "3.36" not in refused.text
    assert (await rewards.patch("/rewards-policy", json={"budget_mode": "warn"}, headers=hr)).json()[
        "budget_mode"
    ] == "warn"
    assert problem_fields(await rewards.patch(url, json=over, headers=as_mia)) == {"budget_reason"}
    warned = await rewards.patch(url, json={**over, "budget_reason": "Retention risk."}, headers=as_mia)
    assert warned.status_code == 200, warned.text
    assert warned.json()["warnings"] == ["exceeds the bonus budget of Eng (EUR)"]
    assert warned.json()["proposal"]["over_budget_reason"] == "Retention risk."

    # HR overrides the unit's pools; a manager's view follows, still over their reports only.
    override = await rewards.put(
        f"/cycles/{cycle}/org-units/Eng/budget",
        json={"merit_pct": "5", "bonus_pct": "20", "reason": "Hot market."},
        headers=hr,
    )
    assert override.status_code == 200, override.text
    assert (override.json()["budget_pct"], override.json()["bonus_budget_pct"]) == ("5.00", "20.00")
    assert Decimal(override.json()["currencies"][0]["budget"]) == 7500
    assert Decimal(override.json()["bonus"][0]["budget"]) == 30000
    assert override.json()["override_reason"] == "Hot market."
    assert_problem(await rewards.put(f"/cycles/{cycle}/org-units/Nowhere/budget", json={}, headers=hr), 404)
    mine = (await rewards.get(f"/cycles/{cycle}/budget", params={"manager": "me"}, headers=as_mia)).json()
    assert (mine["people"], mine["budget_scope"]) == (2, "own_reports")
    [pool] = mine["currencies"]
    assert [Decimal(pool[key]) for key in ("payroll", "merit_budget", "bonus_budget")] == [90000, 4500, 18000]
    assert Decimal(pool["bonus_proposed"]) == Decimal("11703.36")
    boss = (await rewards.get(f"/cycles/{cycle}/budget", headers=auth(Role.manager, person_id=org.boss.id))).json()
    assert boss["people"] == 3
    assert Decimal(boss["currencies"][0]["payroll"]) == 150000

    # Approval, then the statements: base before and after, merit, bonus, total cash.
    for manager in (org.mia, org.sam):
        submitted = await rewards.post(
            f"/cycles/{cycle}/proposals/submit",
            params={"manager": "me"},
            headers=auth(Role.manager, person_id=manager.id),
        )
        assert submitted.status_code == 200, submitted.text
    assert (await rewards.post(f"/cycles/{cycle}/org-units/Eng/approve", headers=hr)).status_code == 200
    as_ada = auth(Role.employee, person_id=org.ada.id)
    statement = (await rewards.get(f"/me/statements/{cycle}", headers=as_ada)).json()
    assert {k: Decimal(statement[k]) for k in ("previous_salary", "new_salary", "increase_amount", "bonus_amount")} == {
        "previous_salary": Decimal(50000),
        "new_salary": Decimal(52000),
        "increase_amount": Decimal(2000),
        "bonus_amount": Decimal(10500),
    }
    assert Decimal(statement["total_cash"]) == Decimal(62500)

    # A second cycle without a bonus plan: the history lists both, newest first.
    second = uuid.uuid4()
    await publish_rating(js, second, org.ada, "3")
    await wait_for(rewards, second, hr, 1)
    await rewards.post(f"/cycles/{second}/proposals/submit", params={"manager": "me"}, headers=as_mia)
    assert (await rewards.post(f"/cycles/{second}/org-units/Eng/approve", headers=hr)).status_code == 200
    history = (await rewards.get("/me/statements", headers=as_ada)).json()
    assert [item["cycle_id"] for item in history["statements"]] == [str(second), str(cycle)]
    assert (history["statements"][0]["bonus_amount"], history["statements"][0]["total_cash"]) == (
        "0",
        history["statements"][0]["new_salary"],
    )
    # Everyone sees their own statements only: Bob's list has his one, nobody else's.
    bobs = (await rewards.get("/me/statements", headers=auth(Role.employee, person_id=org.bob.id))).json()
    assert [item["person_id"] for item in bobs["statements"]] == [str(org.bob.id)]
    assert (await rewards.get("/me/statements", headers=auth(Role.hr))).json()["statements"] == []


async def test_new_routes_refuse_everyone_but_those_entitled(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    org, cycle = await setup(rewards, js, auth)
    self_ = auth(Role.employee, person_id=org.ada.id)
    manager = auth(Role.manager, person_id=org.mia.id)
    skip = auth(Role.manager, person_id=org.boss.id)
    colleague = auth(Role.employee, person_id=org.colleague.id)
    deactivated_hr = auth(Role.hr, person_id=org.gone.id)
    deactivated_manager = auth(Role.manager, person_id=org.gone.id)
    hr, admin = auth(Role.hr), auth(Role.admin)

    hr_only: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/cycles/{cycle}/bonus-plan", None),
        ("PUT", f"/cycles/{cycle}/bonus-plan", plan("1.1")),
        ("PUT", f"/cycles/{cycle}/org-units/Eng/budget", {"merit_pct": "4"}),
    ]
    for method, path, body in hr_only:
        for refused in (self_, manager, skip, colleague, deactivated_hr):
            assert_problem(await rewards.request(method, path, json=body, headers=refused), 403)
        for allowed in (hr, admin):
            assert (await rewards.request(method, path, json=body, headers=allowed)).status_code == 200
        assert_problem(await rewards.request(method, path, json=body), 401)

    budget = f"/cycles/{cycle}/budget"
    for refused in (self_, colleague):
        assert_problem(await rewards.get(budget, headers=refused), 403)
    assert_problem(await rewards.get(budget, headers=deactivated_manager), 403)
    assert_problem(await rewards.get(budget, params={"manager": str(org.sam.id)}, headers=manager), 403)
    assert (await rewards.get(budget, headers=manager)).json()["people"] == 2
    assert (await rewards.get(budget, headers=skip)).json()["people"] == 3
    assert (await rewards.get(budget, params={"manager": str(org.mia.id)}, headers=hr)).json()["people"] == 2
    assert (await rewards.get(budget, params={"manager": str(org.sam.id)}, headers=admin)).json()["people"] == 1
    assert_problem(await rewards.get(f"/cycles/{uuid.uuid4()}/budget", headers=manager), 404)

    statements = "/me/statements"
    for own in (self_, manager, skip, colleague, hr, admin):
        assert (await rewards.get(statements, headers=own)).json()["statements"] == []
    assert_problem(await rewards.get(statements, headers=auth(Role.employee, person_id=org.gone.id)), 403)
    assert_problem(await rewards.get(statements), 401)
