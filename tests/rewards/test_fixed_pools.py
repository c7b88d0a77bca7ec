"""A unit's merit and bonus pools as fixed amounts per currency, instead of a % of payroll.

The rewards service runs for real; final ratings arrive as events on the reviews stream.

Eng: Ada 50,000 EUR, Bob 40,000 EUR and Dee 100,000 USD (Mia's reports), Cy 60,000 EUR
(Sam's); Ops: Ole 30,000 EUR (Sam's). The cycle: merit 4 %, bonus 15 %. Merit at the matrix
target: Ada 4 % = 2,000, Bob 3 % = 1,200, Cy 3 % = 1,800, Dee 2.5 % = 2,500 USD, Ole 3 % = 900.
Bonus (L1 5 %, L2 10 %; x0.5 / x1.0 / x1.5 by rating; factor 1; nobody prorated): Ada 7,500,
Bob 2,000, Cy 9,000, Dee 10,000 USD, Ole 1,500.

HR fixes Eng's EUR pools: merit 5,400 and bonus 20,000 (bonus 12 % elsewhere). Eng's EUR payroll
is 150,000, Mia's reports earn 90,000 of it and Sam's 60,000: Mia's share of the merit pool is
5,400 x 90,000 / 150,000 = 3,240, Sam's 2,160 (+ 4 % of Ops' 30,000 = 1,200).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from babel.numbers import list_currencies
from nats.js import JetStreamContext
from sqlalchemy import Numeric, String, Uuid, bindparam, text

from services.rewards.models import Person
from shared.auth import Role
from shared.database import UTCDateTime, create_engine, utcnow
from shared.migrations import downgrade_async, upgrade_async
from shared.settings import ServiceName
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, insert_people, publish_rating, someone, today
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

HEADER = "person_id,currency,base_salary,grade,effective_date,job_level,hire_date"
PLAN: dict[str, Any] = {
    "targets": {"L1": "5", "L2": "10"},
    "multipliers": [
        {"min": "1", "max": "3", "multiplier": "0.5"},
        {"min": "3", "max": "4", "multiplier": "1.0"},
        {"min": "4", "max": "5", "multiplier": "1.5"},
    ],
    "company_factor": "1",
    "period_start": "2026-01-01",
    "period_end": "2026-12-31",
    "max_deviation_pct": "20",
}
FIXED = {"merit_amounts": {"EUR": "5400"}, "bonus_amounts": {"EUR": "20000.00"}, "bonus_pct": "12", "reason": "Pots."}


class Org:
    def __init__(self) -> None:
        self.boss = someone("Boss", "Board")
        self.mia = someone("Mia", "Eng", self.boss)
        self.sam = someone("Sam", "Eng", self.boss)
        self.ada = someone("Ada", "Eng", self.mia)
        self.bob = someone("Bob", "Eng", self.mia)
        self.dee = someone("Dee", "Eng", self.mia)
        self.cy = someone("Cy", "Eng", self.sam)
        self.ole = someone("Ole", "Ops", self.sam)
        self.colleague = someone("Col", "Eng", self.sam)
        self.gone = someone("Gone", "HR", self.boss)

    def everyone(self) -> tuple[Someone, ...]:
        return (
            self.boss,
            self.mia,
            self.sam,
            self.ada,
            self.bob,
            self.dee,
            self.cy,
            self.ole,
            self.colleague,
            self.gone,
        )


async def proposals_by_name(client: httpx.AsyncClient, cycle: uuid.UUID, hr: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"/cycles/{cycle}/proposals", params={"limit": 500}, headers=hr)
    assert response.status_code == 200, response.text
    return {item["display_name"]: item for item in response.json()["items"]}


async def setup_cycle(rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory) -> tuple[Org, uuid.UUID]:
    hr = auth(Role.hr)
    org = Org()
    await insert_people(rewards, *org.everyone())
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        gone = await session.get(Person, org.gone.id)
        assert gone is not None
        gone.active = False
    await add_bands(
        rewards, hr, band("L", "EUR", "40000", "50000", "60000"), band("L", "USD", "80000", "100000", "120000")
    )
    past = today() - timedelta(days=30)
    rows = [(org.ada, "EUR,50000", "L2"), (org.bob, "EUR,40000", "L1"), (org.cy, "EUR,60000", "L2")]
    rows += [(org.dee, "USD,100000", "L2"), (org.ole, "EUR,30000", "L1")]
    body = "\n".join([HEADER, *(f"{who.id},{pay},L,{past},{level},2020-01-01" for who, pay, level in rows)])
    imported = await rewards.post(
        "/compensation/import", content=body.encode(), headers={**hr, "Content-Type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    assert (await rewards.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code == 201
    cycle = uuid.uuid4()
    policy = await rewards.patch(f"/cycles/{cycle}", json={"budget_pct": "4", "bonus_budget_pct": "15"}, headers=hr)
    assert policy.status_code == 200, policy.text
    assert (await rewards.put(f"/cycles/{cycle}/bonus-plan", json=PLAN, headers=hr)).status_code == 201
    for person, rating in ((org.ada, "4.5"), (org.bob, "3"), (org.cy, "4"), (org.dee, "3"), (org.ole, "3")):
        await publish_rating(js, cycle, person, rating)

    async def arrived() -> dict[str, Any] | None:
        found = await proposals_by_name(rewards, cycle, hr)
        return found if len(found) == 5 and all(p["status"] == "draft" for p in found.values()) else None

    found = await wait_until(arrived, message="5 draft proposals")
    assert [Decimal(found[name]["increase_amount"]) for name in ("Ada", "Bob", "Cy", "Dee", "Ole")] == [
        2000,
        1200,
        1800,
        2500,
        900,
    ]
    assert [Decimal(found[name]["bonus_amount"]) for name in ("Ada", "Bob", "Cy", "Dee", "Ole")] == [
        7500,
        2000,
        9000,
        10000,
        1500,
    ]
    return org, cycle


def by_currency(items: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """currency -> (payroll, spend, budget, remaining, basis), amounts as Decimal."""
    return {
        item["currency"]: (
            Decimal(item["payroll"]),
            Decimal(item["proposed_increase"]),
            None if item["budget"] is None else Decimal(item["budget"]),
            None if item["remaining"] is None else Decimal(item["remaining"]),
            item["basis"],
        )
        for item in items
    }


def pools(answer: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """A manager's budget: currency -> (payroll, merit budget, merit basis, bonus budget, bonus basis)."""
    return {
        pool["currency"]: (
            Decimal(pool["payroll"]),
            Decimal(pool["merit_budget"]),
            pool["merit_basis"],
            Decimal(pool["bonus_budget"]),
            pool["bonus_basis"],
        )
        for pool in answer["currencies"]
    }


async def test_fixed_unit_pools_are_set_reported_shared_and_enforced(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    org, cycle = await setup_cycle(rewards, js, auth)
    as_mia = auth(Role.manager, person_id=org.mia.id)
    budget_url = f"/cycles/{cycle}/org-units/Eng/budget"

    # HR fixes Eng's EUR pools; USD keeps the percentages (the cycle's 4 % merit, the unit's 12 % bonus).
    answer = await rewards.put(budget_url, json={**FIXED, "merit_amounts": {"EUR": "5400", "GBP": "9"}}, headers=hr)
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert (summary["budget_pct"], summary["bonus_budget_pct"], summary["override_reason"]) == (
        "4.00",
        "12.00",
        "Pots.",
    )
    # A currency nobody in the unit is paid in is kept, and listed with the amounts only.
    assert (summary["merit_amounts"], summary["bonus_amounts"]) == (
        {"EUR": "5400.00", "GBP": "9.00"},
        {"EUR": "20000.00"},
    )
    assert by_currency(summary["currencies"]) == {
        "EUR": (150000, 5000, 5400, 400, "amount"),
        "USD": (100000, 2500, 4000, 1500, "percent"),
    }
    assert by_currency(summary["bonus"]) == {
        "EUR": (150000, 18500, 20000, 1500, "amount"),
        "USD": (100000, 10000, 12000, 2000, "percent"),
    }
    assert (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json() == summary
    ops = (await rewards.get(f"/cycles/{cycle}/org-units/Ops/summary", headers=hr)).json()
    assert by_currency(ops["currencies"]) == {"EUR": (30000, 900, 1200, 300, "percent")}
    assert ops["merit_amounts"] == {}

    # A manager's share of a fixed pool is pro rata to their reports' salaries in the unit.
    mine = (await rewards.get(f"/cycles/{cycle}/budget", params={"manager": "me"}, headers=as_mia)).json()
    assert pools(mine) == {
        "EUR": (90000, 3240, "amount", 12000, "amount"),
        "USD": (100000, 4000, "percent", 12000, "percent"),
    }
    for secret in ("150000", "5400", "20000"):
        assert secret not in str(mine)
    sams = (await rewards.get(f"/cycles/{cycle}/budget", headers=auth(Role.manager, person_id=org.sam.id))).json()
    # 2,160 of Eng's pool and 4 % of Ops' 30,000; bonus 8,000 of Eng's and 15 % of Ops'.
    assert pools(sams) == {"EUR": (90000, 3360, "mixed", 12500, "mixed")}
    boss = (await rewards.get(f"/cycles/{cycle}/budget", headers=auth(Role.manager, person_id=org.boss.id))).json()
    assert pools(boss)["EUR"] == (180000, 6600, "mixed", 24500, "mixed")
    as_hr = (await rewards.get(f"/cycles/{cycle}/budget", params={"manager": str(org.mia.id)}, headers=hr)).json()
    assert as_hr["currencies"] == mine["currencies"]

    # Block (the default): Ada 4 % -> 5 % makes Eng's EUR merit 5,500 > 5,400. HR is told by how much.
    found = await proposals_by_name(rewards, cycle, hr)
    ada, bob, dee = (f"/proposals/{found[name]['id']}" for name in ("Ada", "Bob", "Dee"))
    refused = await rewards.patch(ada, json={"proposed_pct": "5"}, headers=as_mia)
    assert problem_fields(refused) == {"proposed_pct"}
    assert "exceeds the merit budget of Eng (EUR)" in refused.text
    for secret in ("100.00", "5400"):
        assert secret not in refused.text
    assert "by 100.00" in (await rewards.patch(ada, json={"proposed_pct": "5"}, headers=hr)).text
    # Within the pool: 4.5 % = 2,250, Eng spends 5,250. Mia's answer is her share, not the unit.
    edited = await rewards.patch(ada, json={"proposed_pct": "4.5"}, headers=as_mia)
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["budget_scope"], body["budget_pct"]) == ("own_reports", None)
    assert by_currency([body["budget"]]) == {"EUR": (90000, 3450, 3240, -210, "amount")}
    for secret in ("150000", "5400"):
        assert secret not in edited.text
    hr_edit = (await rewards.patch(ada, json={"proposed_pct": "4.5"}, headers=hr)).json()
    assert (hr_edit["budget_scope"], hr_edit["budget_pct"]) == ("org_unit", "4.00")
    assert by_currency([hr_edit["budget"]]) == {"EUR": (150000, 5250, 5400, 150, "amount")}
    assert by_currency([hr_edit["bonus_budget"]]) == {"EUR": (150000, 18500, 20000, 1500, "amount")}
    # USD keeps the percentage: Dee's 4.5 % = 4,500 USD is over 4 % of 100,000.
    over_usd = {"proposed_pct": "4.5", "justification": "Took over the platform."}
    assert problem_fields(await rewards.patch(dee, json=over_usd, headers=as_mia)) == {"proposed_pct"}
    assert (await rewards.patch(dee, json={"proposed_pct": "3.5"}, headers=as_mia)).status_code == 200

    # The fixed bonus pool: Ada's bonus 7,500 -> 9,000 fills it exactly (allowed); Bob's + 100 is over.
    full = {"proposed_pct": "4.5", "bonus_amount": "9000", "bonus_reason": "Shipped."}
    assert (await rewards.patch(ada, json=full, headers=as_mia)).status_code == 200
    bob_more = {"proposed_pct": "3", "bonus_amount": "2100", "bonus_reason": "Mentored."}
    assert problem_fields(await rewards.patch(bob, json=bob_more, headers=as_mia)) == {"bonus_amount"}

    # Warn: accepted with a reason, and reported.
    assert (await rewards.patch("/rewards-policy", json={"budget_mode": "warn"}, headers=hr)).status_code == 200
    over = {**full, "proposed_pct": "5"}
    assert problem_fields(await rewards.patch(ada, json=over, headers=as_mia)) == {"budget_reason"}
    warned = await rewards.patch(ada, json={**over, "budget_reason": "Retention."}, headers=as_mia)
    assert warned.status_code == 200, warned.text
    assert warned.json()["warnings"] == ["exceeds the merit budget of Eng (EUR)"]
    assert warned.json()["proposal"]["over_budget_reason"] == "Retention."
    after = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    assert by_currency(after["currencies"])["EUR"] == (150000, 5500, 5400, -100, "amount")
    assert by_currency(after["bonus"])["EUR"] == (150000, 20000, 20000, 0, "amount")

    # PUT replaces the whole override: without amounts the percentages are back; 0 is a pool too.
    replaced = (await rewards.put(budget_url, json={"merit_pct": "5"}, headers=hr)).json()
    assert (replaced["merit_amounts"], replaced["bonus_amounts"], replaced["bonus_budget_pct"]) == ({}, {}, "15.00")
    assert by_currency(replaced["currencies"])["EUR"] == (150000, 5500, 7500, 2000, "percent")
    zero = (await rewards.put(budget_url, json={"merit_amounts": {"EUR": "0.00"}}, headers=hr)).json()
    assert by_currency(zero["currencies"])["EUR"] == (150000, 5500, 0, -5500, "amount")
    assert problem_fields(await rewards.patch(bob, json={"proposed_pct": "3.5"}, headers=as_mia)) == {"budget_reason"}
    lowered = await rewards.patch(bob, json={"proposed_pct": "2.5"}, headers=as_mia)
    assert (lowered.status_code, lowered.json()["warnings"]) == (200, [])  # lowering is always allowed


async def test_bad_amounts_are_refused_naming_the_field(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    _org, cycle = await setup_cycle(rewards, js, auth)
    url = f"/cycles/{cycle}/org-units/Eng/budget"
    assert (await rewards.put(url, json=FIXED, headers=hr)).status_code == 200
    many = dict.fromkeys(sorted(list_currencies())[:51], "1")
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"merit_amounts": {"EUR": "-0.01"}}, {"merit_amounts.EUR"}),
        ({"merit_amounts": {"EUR": "100.001"}}, {"merit_amounts.EUR"}),
        ({"bonus_amounts": {"EUR": "NaN"}}, {"bonus_amounts.EUR"}),
        ({"bonus_amounts": {"EUR": "1e20"}}, {"bonus_amounts.EUR"}),
        ({"merit_amounts": {"eur": "1"}}, {"merit_amounts.eur.[key]"}),
        ({"bonus_amounts": {"EURO": "1"}}, {"bonus_amounts.EURO.[key]"}),
        ({"bonus_amounts": {"EUO": "1"}}, {"bonus_amounts.EUO.[key]"}),  # shaped right, not ISO 4217
        ({"merit_amounts": "5400"}, {"merit_amounts"}),
        ({"merit_amounts": many}, {"merit_amounts"}),
        ({"merit_amount": {"EUR": "1"}}, {"merit_amount"}),
    ]
    for body, fields in cases:
        assert problem_fields(await rewards.put(url, json=body, headers=hr)) == fields, body
    # Nothing of a refused body was stored.
    summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    assert (summary["merit_amounts"], summary["bonus_amounts"]) == ({"EUR": "5400.00"}, {"EUR": "20000.00"})
    # The route declares what it answers.
    document = (await rewards.get("/openapi.json")).json()
    put = document["paths"]["/cycles/{cycle_id}/org-units/{org_unit}/budget"]["put"]
    assert {"401", "403", "404", "409", "422"} <= set(put["responses"])
    assert put["responses"]["422"]["content"]["application/problem+json"]
    assert {"merit_amounts", "bonus_amounts"} <= set(
        document["components"]["schemas"]["BudgetOverrideUpdate"]["properties"]
    )


async def test_only_active_hr_and_admins_set_fixed_pools(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    org, cycle = await setup_cycle(rewards, js, auth)
    hr, admin = auth(Role.hr), auth(Role.admin)
    url = f"/cycles/{cycle}/org-units/Eng/budget"
    refused = {
        "the manager": auth(Role.manager, person_id=org.mia.id),
        "a skip-level": auth(Role.manager, person_id=org.boss.id),
        "the employee": auth(Role.employee, person_id=org.ada.id),
        "an unrelated colleague": auth(Role.employee, person_id=org.colleague.id),
        "a deactivated HR person": auth(Role.hr, person_id=org.gone.id),
    }
    for who, headers in refused.items():
        answer = await rewards.put(url, json=FIXED, headers=headers)
        assert answer.status_code == 403, who
        assert_problem(answer, 403)
    assert_problem(await rewards.put(url, json=FIXED), 401)
    untouched = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    assert (untouched["merit_amounts"], untouched["currencies"][0]["basis"]) == ({}, "percent")
    for allowed in (hr, admin):
        answer = await rewards.put(url, json=FIXED, headers=allowed)
        assert answer.status_code == 200, answer.text
        assert answer.json()["merit_amounts"] == {"EUR": "5400.00"}
    assert_problem(await rewards.put(f"/cycles/{cycle}/org-units/Nowhere/budget", json=FIXED, headers=hr), 404)

    # Who reads the shares: the same as before; a colleague and a deactivated manager nothing.
    budget = f"/cycles/{cycle}/budget"
    for headers in (auth(Role.employee, person_id=org.colleague.id), auth(Role.manager, person_id=org.gone.id)):
        assert_problem(await rewards.get(budget, headers=headers), 403)
    mia = auth(Role.manager, person_id=org.mia.id)
    assert_problem(await rewards.get(budget, params={"manager": str(org.sam.id)}, headers=mia), 403)
    sams = (await rewards.get(budget, params={"manager": str(org.sam.id)}, headers=admin)).json()
    assert pools(sams)["EUR"][1:3] == (Decimal("3360.00"), "mixed")

    # Once the cycle is finalized the pools are fixed for good.
    for manager in (org.mia, org.sam):
        submit = await rewards.post(
            f"/cycles/{cycle}/proposals/submit",
            params={"manager": "me"},
            headers=auth(Role.manager, person_id=manager.id),
        )
        assert submit.status_code == 200, submit.text
    for unit in ("Eng", "Ops"):
        assert (await rewards.post(f"/cycles/{cycle}/org-units/{unit}/approve", headers=hr)).status_code == 200
    assert_problem(await rewards.put(url, json=FIXED, headers=hr), 409)


async def test_migration_0007_keeps_existing_overrides_as_percentages(database_urls: dict[ServiceName, str]) -> None:
    url = database_urls["rewards"]
    await upgrade_async("rewards", url, "0006")
    cycle_id, hr_id = uuid.uuid4(), uuid.uuid4()
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text("INSERT INTO pay_cycles (id, budget_pct, created_at) VALUES (:id, 4, :now)").bindparams(
                    bindparam("id", type_=Uuid()), bindparam("now", type_=UTCDateTime())
                ),
                {"id": cycle_id, "now": utcnow()},
            )
            await connection.execute(
                text(
                    "INSERT INTO budget_overrides (id, cycle_id, org_unit, merit_pct, set_by, created_at)"
                    " VALUES (:id, :cycle, 'Eng', 5, :by, :now)"
                ).bindparams(
                    bindparam("id", type_=Uuid()),
                    bindparam("cycle", type_=Uuid()),
                    bindparam("by", type_=Uuid()),
                    bindparam("now", type_=UTCDateTime()),
                ),
                {"id": uuid.uuid4(), "cycle": cycle_id, "by": hr_id, "now": utcnow()},
            )
        await upgrade_async("rewards", url)
        query = text("SELECT org_unit, merit_pct, merit_amounts, bonus_amounts FROM budget_overrides").columns(
            org_unit=String(), merit_pct=Numeric(6, 2)
        )
        async with engine.connect() as connection:
            rows = [tuple(row) for row in (await connection.execute(query)).all()]
        assert rows == [("Eng", Decimal("5.00"), None, None)]
        await downgrade_async("rewards", url, "0006")
        kept = text("SELECT org_unit, merit_pct FROM budget_overrides").columns(
            org_unit=String(), merit_pct=Numeric(6, 2)
        )
        async with engine.connect() as connection:
            assert [tuple(row) for row in (await connection.execute(kept)).all()] == [("Eng", Decimal("5.00"))]
    finally:
        await engine.dispose()
