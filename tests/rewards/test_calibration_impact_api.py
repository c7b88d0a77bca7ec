"""Issue 11, parts 5-6 over HTTP: adverse impact of a session's ratings and its live consequences.

The rewards service runs for real (database, NATS, consumers); people are put into its
projection directly and the pay cycle's budget row stands in for pay-approval-opened. Every
expected figure is worked out by hand in the comments.
"""

from __future__ import annotations

import math
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from services.rewards.models import BudgetOverride, PayCycle, Person
from shared.auth import Role
from shared.database import utcnow
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, insert_people, publish_rating, someone, today
from tests.rewards.test_equity_api import csv_body, post_csv
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

WOMEN = [f"W{i}" for i in range(1, 6)]
MEN = [f"M{i}" for i in range(1, 6)]


async def _org(client: httpx.AsyncClient, hr: dict[str, str]) -> tuple[uuid.UUID, dict[str, Someone]]:
    """Five women at 40,000 and five men at 50,000 in Eng, one man at 40,000 in Ops; band midpoint 50,000.

    Same level, location and hire date, so the adjusted gap is the difference of mean log pay.
    A pay cycle with a 3 % merit and 10 % bonus budget; Ops overrides merit to 5 %.
    """
    people = {name: someone(name, "Eng") for name in WOMEN + MEN} | {"O1": someone("O1", "Ops")}
    await insert_people(client, *people.values())
    await add_bands(client, hr, band("G", "EUR", "10000", "50000", "100000"))
    past = today() - timedelta(days=10)
    lines = [
        f"{person.id},EUR,{40000 if name in WOMEN or name == 'O1' else 50000},G,{past},L1,Eng,,1,permanent,"
        f"{'female' if name in WOMEN else 'male'},Berlin,2020-01-01,0"
        for name, person in people.items()
    ]
    imported = await post_csv(client, hr, csv_body(*lines))
    assert imported.status_code == 200, imported.text
    assert (await client.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code in (200, 201)
    cycle_id = uuid.uuid4()
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        session.add(PayCycle(id=cycle_id, budget_pct=Decimal(3), bonus_budget_pct=Decimal(10)))
        await session.flush()
        session.add(BudgetOverride(cycle_id=cycle_id, org_unit="Ops", merit_pct=Decimal(5), set_by=uuid.uuid4()))
    year = utcnow().year
    plan = {
        "targets": {"L1": "10"},
        "multipliers": [
            {"min": "1", "max": "3", "multiplier": "0.5"},
            {"min": "3", "max": "4", "multiplier": "1.0"},
            {"min": "4", "max": "5", "multiplier": "1.5"},
        ],
        "company_factor": "1",
        "period_start": str(date(year, 1, 1)),
        "period_end": str(date(year, 12, 31)),
    }
    assert (await client.put(f"/cycles/{cycle_id}/bonus-plan", json=plan, headers=hr)).status_code == 201
    return cycle_id, people


def _ratings(people: dict[str, Someone]) -> list[dict[str, Any]]:
    """Women 4, men 3, O1 2; W1 was 3 before the adjustment being shown."""
    rows: list[dict[str, Any]] = []
    for name, person in people.items():
        rating = 4 if name in WOMEN else 3 if name in MEN else 2
        row: dict[str, Any] = {"person_id": str(person.id), "rating": rating}
        if name == "W1":
            row["previous_rating"] = 3
        rows.append(row)
    return rows


async def test_live_impact_prices_spend_per_unit_against_its_budget_and_the_gap(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    stranger = {"person_id": str(uuid.uuid4()), "rating": 3}  # no record, not in the projection

    answer = await rewards.post(
        f"/cycles/{cycle_id}/calibration-impact",
        json={"scale_min": 1, "scale_max": 5, "ratings": [*_ratings(people), stranger]},
        headers=hr,
    )

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["people"], body["priced"], body["unpriced"], body["currency"]) == (12, 11, {"no_record": 1}, "EUR")
    units = {unit["org_unit"]: unit for unit in body["units"]}
    assert set(units) == {"Eng", "Ops", "unassigned"}
    eng, ops = units["Eng"], units["Ops"]
    # Women: compa-ratio 0.8 ("below"), rating 4 -> 5 % = 2,000; bonus 40,000 x 10 % x 1.5 = 6,000.
    # Men: 1.0 ("at"), rating 3 -> 2.5 % = 1,250; bonus 50,000 x 10 % x 1.0 = 5,000.
    # Eng payroll 450,000: merit pool 3 % = 13,500 against 16,250; bonus pool 45,000 against 55,000.
    assert (eng["people"], eng["payroll"], eng["merit_budget"], eng["merit_spend"]) == (
        10,
        "450000.00",
        "13500.00",
        "16250.00",
    )
    assert (eng["merit_remaining"], eng["bonus_budget"], eng["bonus_spend"], eng["bonus_remaining"]) == (
        "-2750.00",
        "45000.00",
        "55000.00",
        "-10000.00",
    )
    assert eng["over_budget"] == ["merit", "bonus"]
    # O1: 0.8 ("below"), rating 2 -> 1 % = 400 against the override's 5 % of 40,000 = 2,000;
    # bonus 40,000 x 10 % x 0.5 = 2,000 against the cycle's 10 % = 4,000.
    assert (ops["merit_budget_pct"], ops["merit_budget"], ops["merit_spend"], ops["merit_remaining"]) == (
        "5.00",
        "2000.00",
        "400.00",
        "1600.00",
    )
    assert (ops["bonus_spend"], ops["bonus_remaining"], ops["over_budget"]) == ("2000.00", "2000.00", [])
    assert units["unassigned"]["payroll"] == "0.00"
    # W1 moved 3 -> 4: at 3 ("below") 3 % = 1,200 and bonus 4,000; at 4, 2,000 and 6,000.
    [moved] = body["adjustments"]
    assert (moved["person_id"], moved["rating"], moved["previous_rating"]) == (str(people["W1"].id), 4, 3)
    assert (moved["merit_pct"], moved["merit_increase"], moved["merit_change"]) == ("5.00", "2000.00", "800.00")
    assert (moved["bonus"], moved["bonus_change"]) == ("6000.00", "2000.00")
    # Adjusted gap with constant controls: b = mean log pay of women - of men (6 men, O1 at 40,000).
    before_b = math.log(40000) - (5 * math.log(50000) + math.log(40000)) / 6
    after_b = math.log(42000) - (5 * math.log(51250) + math.log(40400)) / 6
    gap = body["pay_gap"]
    assert gap["controls"] == ["job_level", "location", "tenure"]
    assert (gap["before"]["women"], gap["before"]["men"]) == (5, 6)
    assert Decimal(gap["before"]["adjusted_gap_pct"]) == round(Decimal((1 - math.exp(before_b)) * 100), 2)  # 16.97
    assert Decimal(gap["after"]["adjusted_gap_pct"]) == round(Decimal((1 - math.exp(after_b)) * 100), 2)  # 14.73


async def test_live_impact_follows_a_units_fixed_pools(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    """HR fixed Eng's merit pool at 16,000 EUR (its bonus only in USD) and Ops' bonus pool at 1,500 EUR."""
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        session.add(
            BudgetOverride(
                cycle_id=cycle_id,
                org_unit="Eng",
                merit_amounts={"EUR": "16000.00"},
                bonus_amounts={"USD": "1.00"},
                set_by=uuid.uuid4(),
            )
        )
        ops = await session.scalar(select(BudgetOverride).where(BudgetOverride.org_unit == "Ops"))
        assert ops is not None
        ops.bonus_amounts = {"EUR": "1500.00"}
    url = f"/cycles/{cycle_id}/calibration-impact"
    stranger = {"person_id": str(uuid.uuid4()), "rating": 3}
    body = {"scale_min": 1, "scale_max": 5, "ratings": [*_ratings(people), stranger], "merit_budget_pct": "10"}

    answer = await rewards.post(url, json=body, headers=hr)

    assert answer.status_code == 200, answer.text
    units = {unit["org_unit"]: unit for unit in answer.json()["units"]}
    eng, ops_unit, nobody = units["Eng"], units["Ops"], units["unassigned"]
    # Eng: the amount wins over the request's 10 %; spend 16,250 as before. Bonus: the cycle's 10 %.
    keys = ("merit_basis", "merit_budget_pct", "merit_budget", "merit_spend", "merit_remaining")
    assert tuple(eng[key] for key in keys) == ("amount", None, "16000.00", "16250.00", "-250.00")
    assert (eng["bonus_basis"], eng["bonus_budget_pct"], eng["bonus_budget"]) == ("percent", "10.00", "45000.00")
    assert eng["over_budget"] == ["merit", "bonus"]
    # Ops: merit at its own 5 % of 40,000; bonus spend 2,000 against the fixed 1,500.
    assert (ops_unit["merit_basis"], ops_unit["merit_budget"]) == ("percent", "2000.00")
    keys = ("bonus_basis", "bonus_budget_pct", "bonus_budget", "bonus_spend", "bonus_remaining")
    assert tuple(ops_unit[key] for key in keys) == ("amount", None, "1500.00", "2000.00", "-500.00")
    assert ops_unit["over_budget"] == ["bonus"]
    # Without an override: the request's 10 % of nothing.
    assert (nobody["merit_basis"], nobody["merit_budget_pct"], nobody["merit_budget"]) == ("percent", "10", "0.00")


async def test_live_impact_gives_part_of_a_unit_its_pro_rata_part_of_a_fixed_pool(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    """Everyone's final rating is in (so Eng has ten proposals, 450,000 EUR); HR fixed Eng's merit
    pool at 16,000 EUR. A session showing only Eng's five women (200,000) is compared with their
    part of it, as a manager's budget view would share it."""
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    for name, person in people.items():
        await publish_rating(js, cycle_id, person, "4" if name in WOMEN else "3" if name in MEN else "2")

    async def received() -> dict[str, Any] | None:
        found = await rewards.get(f"/cycles/{cycle_id}", headers=hr)
        return found.json() if found.status_code == 200 and found.json()["ratings_received"] == 11 else None

    await wait_until(received, message="ratings received")
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        session.add(
            BudgetOverride(cycle_id=cycle_id, org_unit="Eng", merit_amounts={"EUR": "16000.00"}, set_by=uuid.uuid4())
        )
    url = f"/cycles/{cycle_id}/calibration-impact"
    ratings = _ratings(people)
    women = [row for row in ratings if row["person_id"] in {str(people[name].id) for name in WOMEN}]

    part = await rewards.post(url, json={"scale_min": 1, "scale_max": 5, "ratings": women}, headers=hr)
    whole = await rewards.post(url, json={"scale_min": 1, "scale_max": 5, "ratings": ratings}, headers=hr)

    assert part.status_code == 200, part.text
    [eng] = part.json()["units"]
    # 16,000 x 200,000 / 450,000 = 7,111.11 against the women's 5 x 2,000; the bonus keeps 10 %.
    keys = ("payroll", "merit_basis", "merit_budget", "merit_spend", "merit_remaining", "bonus_budget")
    assert tuple(eng[key] for key in keys) == ("200000.00", "amount", "7111.11", "10000.00", "-2888.89", "20000.00")
    units = {unit["org_unit"]: unit for unit in whole.json()["units"]}
    assert (units["Eng"]["merit_budget"], units["Ops"]["merit_budget"]) == ("16000.00", "2000.00")


async def test_live_impact_suppresses_a_small_gap_and_names_bad_fields(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    url = f"/cycles/{cycle_id}/calibration-impact"
    three = [{"person_id": str(people[name].id), "rating": 3} for name in ("W1", "M1", "M2")]

    small = (await rewards.post(url, json={"scale_min": 1, "scale_max": 5, "ratings": three}, headers=hr)).json()
    twice = await rewards.post(
        url, json={"scale_min": 1, "scale_max": 5, "ratings": [three[0], three[1], three[0]]}, headers=hr
    )
    off_scale = await rewards.post(
        url, json={"scale_min": 1, "scale_max": 5, "ratings": [{**three[0], "rating": 6}]}, headers=hr
    )
    empty = await rewards.post(url, json={"scale_min": 1, "scale_max": 5, "ratings": []}, headers=hr)
    other_scale = await rewards.post(url, json={"scale_min": 0, "scale_max": 10, "ratings": three}, headers=hr)

    # One woman, two men: fewer than 5 of each, so neither gap shows a figure or a head count.
    assert small["pay_gap"]["before"]["suppressed"] == "small_cell"
    assert (small["pay_gap"]["after"]["women"], small["pay_gap"]["after"]["adjusted_gap_pct"]) == (None, None)
    assert problem_fields(twice) == {"ratings[2].person_id"}
    assert problem_fields(off_scale) == {"ratings[0].rating"}
    assert problem_fields(empty) == {"ratings"}
    # A cycle the rewards service does not know yet (mid-calibration): the default matrix prices
    # merit (W1 0.8 "below" 3 % = 1,200; M1, M2 "at" 2.5 % = 1,250), no bonus plan; the pool
    # comes from the request's % (4 % of 140,000), or is null without one.
    fresh = f"/cycles/{uuid.uuid4()}/calibration-impact"
    what_if = await rewards.post(
        fresh, json={"scale_min": 1, "scale_max": 5, "ratings": three, "merit_budget_pct": "4"}, headers=hr
    )
    unknown = await rewards.post(fresh, json={"scale_min": 1, "scale_max": 5, "ratings": three}, headers=hr)
    [eng] = what_if.json()["units"]
    assert (eng["merit_budget"], eng["merit_spend"], eng["bonus_budget"], eng["bonus_spend"]) == (
        "5600.00",
        "3700.00",
        None,
        "0.00",
    )
    assert what_if.json()["bonus_plan"] is False
    assert unknown.json()["units"][0]["merit_budget"] is None
    # Nobody with a record: nothing priced, no currency, every figure suppressed, still a 200.
    nobody = await rewards.post(
        url,
        json={"scale_min": 1, "scale_max": 5, "ratings": [{"person_id": str(uuid.uuid4()), "rating": 2}]},
        headers=hr,
    )
    assert nobody.status_code == 200, nobody.text
    assert (nobody.json()["currency"], nobody.json()["unpriced"]) == (None, {"no_record": 1})
    assert nobody.json()["pay_gap"]["after"]["suppressed"] == "small_cell"
    # The matrix is for 1-5: nobody's merit is priced, and the answer says why.
    assert other_scale.json()["unpriced"] == {"scale_mismatch": 3}
    assert other_scale.json()["priced"] == 0


async def test_adverse_impact_of_posted_and_of_final_ratings(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    url = f"/cycles/{cycle_id}/adverse-impact"
    ratings = _ratings(people)
    for row in ratings:
        row.pop("previous_rating", None)
    posted = {"scale_min": 1, "scale_max": 5, "top_min": 4, "ratings": ratings}

    before_any = await rewards.post(url, json={}, headers=hr)
    answer = await rewards.post(url, json={**posted, "attributes": ["gender", "location"]}, headers=hr)

    assert_problem(before_any, 404)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["source"], body["people"], body["top_min"], body["min_cell_size"]) == ("posted", 11, 4, 5)
    gender, location = body["attributes"]
    # Women 5 of 5 rated 4 or more (100 %), men 0 of 6: ratio 0 < 0.8. Fisher [[0, 6], [5, 0]]:
    # P(k) = C(6, k) C(5, 5 - k) / C(11, 5); only k = 0 (1/462) is as unlikely: p = 0.00216.
    assert gender["reference"] == "female"
    men = next(g for g in gender["groups"] if g["value"] == "male")
    assert (men["people"], men["top"], men["rate_pct"], men["impact_ratio"]) == (6, 0, "0.00", "0.0000")
    assert men["p_value"] == pytest.approx(1 / 462)
    assert (men["below_four_fifths"], men["significant"], men["adverse_impact"]) == (True, True, True)
    # Everyone works in Berlin: one group, nothing to compare.
    assert (location["suppressed"], location["reference"]) == ("single_group", None)

    for name, person in people.items():  # the same ratings, finalized
        await publish_rating(js, cycle_id, person, "4" if name in WOMEN else "3" if name in MEN else "2")

    async def received() -> dict[str, Any] | None:
        found = await rewards.get(f"/cycles/{cycle_id}", headers=hr)
        return found.json() if found.status_code == 200 and found.json()["ratings_received"] == 11 else None

    await wait_until(received, message="ratings received")
    final = await rewards.post(url, json={"top_min": 4}, headers=hr)

    assert final.status_code == 200, final.text
    assert final.json()["source"] == "final"
    assert final.json()["attributes"][0] == gender
    assert problem_fields(await rewards.post(url, json={"top_min": 9}, headers=hr)) == {"top_min"}
    without_scale = await rewards.post(url, json={"ratings": ratings}, headers=hr)
    assert problem_fields(without_scale) == {"scale_min"}


async def test_the_attributes_left_out_are_hrs_default(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    url = f"/cycles/{cycle_id}/adverse-impact"
    ratings = [{k: v for k, v in row.items() if k != "previous_rating"} for row in _ratings(people)]
    posted = {"scale_min": 1, "scale_max": 5, "top_min": 4, "ratings": ratings}

    async def grouped_by(body: dict[str, Any]) -> list[str]:
        answer = await rewards.post(url, json=body, headers=hr)
        assert answer.status_code == 200, answer.text
        return [entry["attribute"] for entry in answer.json()["attributes"]]

    assert (await rewards.get("/rewards-policy", headers=hr)).json()["impact_attributes"] == ["gender"]
    assert await grouped_by(posted) == ["gender"]
    chosen = await rewards.patch("/rewards-policy", json={"impact_attributes": ["location", "gender"]}, headers=hr)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["impact_attributes"] == ["location", "gender"]
    assert await grouped_by(posted) == ["location", "gender"]
    assert await grouped_by({**posted, "attributes": ["job_family"]}) == ["job_family"]  # a request still names its own
    for bad in ([], ["shoe_size"], ["gender"] * 6):
        assert "impact_attributes" in str(
            problem_fields(await rewards.patch("/rewards-policy", json={"impact_attributes": bad}, headers=hr))
        )
    assert (await rewards.get("/rewards-policy", headers=hr)).json()["impact_attributes"] == ["location", "gender"]


@pytest.mark.parametrize("route", ["adverse-impact", "calibration-impact"])
async def test_only_active_hr_and_admins_see_the_impact(
    rewards: httpx.AsyncClient, auth: TokenFactory, route: str
) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _org(rewards, hr)
    boss = someone("Boss", "Eng")
    gone = someone("Gone", "Eng")
    await insert_people(rewards, boss, gone)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        found = await session.get(Person, gone.id)
        assert found is not None
        found.active = False
    body = {"scale_min": 1, "scale_max": 5, "ratings": [{"person_id": str(people["W1"].id), "rating": 4}]}
    callers = {
        "self": auth(Role.employee, person_id=people["W1"].id),
        "manager": auth(Role.manager, person_id=people["M1"].id),
        "skip-level": auth(Role.manager, person_id=boss.id),
        "colleague": auth(Role.employee, person_id=people["W2"].id),
        "hr": hr,
        "admin": auth(Role.admin),
        "deactivated hr": auth(Role.hr, person_id=gone.id),
    }

    answers = {
        who: (await rewards.post(f"/cycles/{cycle_id}/{route}", json=body, headers=headers)).status_code
        for who, headers in callers.items()
    }

    assert answers == {
        "self": 403,
        "manager": 403,
        "skip-level": 403,
        "colleague": 403,
        "hr": 200,
        "admin": 200,
        "deactivated hr": 403,
    }
