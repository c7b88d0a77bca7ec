"""Reports over people paid in several currencies, converted at HR's exchange rates.

The rewards service runs for real. Every expected figure is computed here from the salaries and
the rates, with ``Decimal`` and ``math``, not with the service's rules.

Rates against EUR: 1 USD = 0.85 EUR from 30 days ago, 0.92 from 3 days ago; 1 GBP = 1.1725 EUR
from 30 days ago.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
import uuid
from datetime import timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from services.rewards.models import BudgetOverride, PayCycle
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import MATRIX, Someone, add_bands, band, insert_people, someone, today
from tests.rewards.test_equity_api import csv_body, post_csv
from tests.rewards.test_fixed_pools import FIXED, setup_cycle
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

CENT = Decimal("0.01")
NOW_RATES = {"EUR": Decimal(1), "USD": Decimal("0.92"), "GBP": Decimal("1.1725")}
OLD_RATES = {**NOW_RATES, "USD": Decimal("0.85")}

# name, gender, currency, base, variable
STAFF = [
    ("W1", "female", "EUR", "42000", "1000"),
    ("W2", "female", "EUR", "45500", "0"),
    ("M1", "male", "EUR", "51000", "2000"),
    ("M2", "male", "EUR", "48000", "0"),
    ("W3", "female", "USD", "50000", "0"),
    ("W4", "female", "USD", "47250", "500"),
    ("M3", "male", "USD", "60000", "3000"),
    ("M4", "male", "USD", "58500", "0"),
    ("W5", "female", "GBP", "36000", "0"),
    ("M5", "male", "GBP", "44000", "1500"),
    ("M6", "male", "GBP", "41250", "0"),
]


def into(amount: str | Decimal, paid: str, to: str, rates: dict[str, Decimal]) -> Decimal:
    return (Decimal(amount) * rates[paid] / rates[to]).quantize(CENT, ROUND_HALF_UP)


def gap_pct(women: list[Decimal], men: list[Decimal], statistic: Any) -> str:
    theirs, ours = Decimal(statistic(men)), Decimal(statistic(women))
    return str(((theirs - ours) / theirs * 100).quantize(CENT, ROUND_HALF_UP))


def expected_art9(to: str, rates: dict[str, Decimal]) -> tuple[str, str]:
    """Mean and median gap of total pay (base and variable each converted) per FTE (all 1)."""
    total = {
        name: into(base, paid, to, rates) + into(variable, paid, to, rates)
        for name, _gender, paid, base, variable in STAFF
    }
    women = [total[name] for name, gender, *_ in STAFF if gender == "female"]
    men = [total[name] for name, gender, *_ in STAFF if gender == "male"]
    return gap_pct(women, men, statistics.mean), gap_pct(women, men, statistics.median)


def expected_adjusted(to: str, rates: dict[str, Decimal]) -> str:
    """Level, location and hire date are the same for all: b_female = mean log pay of women - of men."""
    logs = {name: math.log(into(base, paid, to, rates)) for name, _gender, paid, base, _ in STAFF}
    women = statistics.mean(logs[name] for name, gender, *_ in STAFF if gender == "female")
    men = statistics.mean(logs[name] for name, gender, *_ in STAFF if gender == "male")
    return str(Decimal(repr((1 - math.exp(women - men)) * 100)).quantize(CENT, ROUND_HALF_UP))


async def set_rate(client: httpx.AsyncClient, hr: dict[str, str], currency: str, rate: str, days_ago: int) -> None:
    path = f"/exchange-rates/{currency}/{today() - timedelta(days=days_ago)}"
    answer = await client.put(path, json={"rate": rate, "base": "EUR"}, headers=hr)
    assert answer.status_code == 201, answer.text


async def load_staff(client: httpx.AsyncClient, hr: dict[str, str]) -> dict[str, Someone]:
    people = {name: someone(name, "Org") for name, *_ in STAFF}
    await insert_people(client, *people.values())
    await add_bands(
        client,
        hr,
        band("G", "EUR", "10000", "50000", "100000"),
        band("G", "USD", "10000", "60000", "120000"),
        band("G", "GBP", "10000", "40000", "100000"),
    )
    past = today() - timedelta(days=10)
    lines = [
        f"{people[name].id},{paid},{base},G,{past},L1,Eng,,1,permanent,{gender},Berlin,2020-01-01,{variable}"
        for name, gender, paid, base, variable in STAFF
    ]
    assert (await post_csv(client, hr, csv_body(*lines))).status_code == 200
    return people


async def test_equity_reports_convert_every_record_at_the_rate_in_force_on_the_reference_date(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    await load_staff(rewards, hr)
    art9, equity = "/pay-transparency/art9-report", "/pay-equity"
    await set_rate(rewards, hr, "USD", "0.85", 30)
    await set_rate(rewards, hr, "USD", "0.92", 3)

    # Several currencies and no reporting currency: as before, name one.
    assert problem_fields(await rewards.get(art9, headers=hr)) == {"currency"}
    # GBP has no rate yet: refused, naming the currency, rather than a report quietly without the GBP staff.
    missing = assert_problem(await rewards.get(art9, params={"reporting_currency": "EUR"}, headers=hr), 422)
    assert [(e["field"], e["currency"]) for e in missing["errors"]] == [("reporting_currency", "GBP")]
    assert "GBP" in missing["detail"]
    no_chf = assert_problem(await rewards.get(equity, params={"reporting_currency": "CHF"}, headers=hr), 422)
    assert [e["currency"] for e in no_chf["errors"]] == ["CHF", "GBP"]
    assert problem_fields(await rewards.get(art9, params={"reporting_currency": "EUO"}, headers=hr)) == {
        "reporting_currency"
    }
    # Only the people paid in USD: nobody there needs the GBP rate.
    usd_only = await rewards.get(art9, params={"currency": "USD", "reporting_currency": "EUR"}, headers=hr)
    assert usd_only.status_code == 200, usd_only.text
    await set_rate(rewards, hr, "GBP", "1.1725", 30)

    report = (await rewards.get(art9, params={"reporting_currency": "EUR"}, headers=hr)).json()
    assert (report["currency"], report["people"], report["women"], report["men"]) == ("EUR", 11, 5, 6)
    mean, median = expected_art9("EUR", NOW_RATES)
    assert (report["pay_gap"]["mean_gap_pct"], report["pay_gap"]["median_gap_pct"]) == (mean, median)
    conversion = report["conversion"]
    assert (conversion["currency"], conversion["rates_on"], conversion["base"]) == ("EUR", str(today()), "EUR")
    assert [(r["currency"], r["rate"], r["effective_date"]) for r in conversion["rates"]] == [
        ("GBP", "1.1725000000", str(today() - timedelta(days=30))),
        ("USD", "0.9200000000", str(today() - timedelta(days=3))),
    ]
    assert [(c["currency"], c["rate"], c["records"]) for c in conversion["currencies"]] == [
        ("EUR", "1", 4),
        ("GBP", "1.1725000000", 3),
        ("USD", "0.9200000000", 4),
    ]

    # The rates in force on the reference date: five days ago the older USD rate.
    earlier = str(today() - timedelta(days=5))
    old = (await rewards.get(art9, params={"reporting_currency": "EUR", "reference_date": earlier}, headers=hr)).json()
    assert (old["pay_gap"]["mean_gap_pct"], old["pay_gap"]["median_gap_pct"]) == expected_art9("EUR", OLD_RATES)
    assert old["pay_gap"]["mean_gap_pct"] != mean
    assert {r["currency"]: r["rate"] for r in old["conversion"]["rates"]}["USD"] == "0.8500000000"

    # In US dollars: the base and GBP cross through the USD rate.
    in_usd = (await rewards.get(art9, params={"reporting_currency": "USD"}, headers=hr)).json()
    usd_mean, usd_median = expected_art9("USD", NOW_RATES)
    assert (in_usd["pay_gap"]["mean_gap_pct"], in_usd["pay_gap"]["median_gap_pct"]) == (usd_mean, usd_median)
    assert {c["currency"]: c["rate"] for c in in_usd["conversion"]["currencies"]} == {
        "EUR": "1.0869565217",  # 1 / 0.92
        "GBP": "1.2744565217",  # 1.1725 / 0.92
        "USD": "1",
    }

    # Only the people paid in USD, shown in EUR: two women and two men, too few for a figure.
    usd_staff = (await rewards.get(art9, params={"currency": "USD", "reporting_currency": "EUR"}, headers=hr)).json()
    assert (usd_staff["people"], usd_staff["currency"], usd_staff["pay_gap"]["suppressed"]) == (4, "EUR", "small_cell")
    assert [c["currency"] for c in usd_staff["conversion"]["currencies"]] == ["USD"]

    exported = await rewards.get(art9, params={"reporting_currency": "EUR", "format": "csv"}, headers=hr)
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == [
        "reference_date",
        str(today()),
        "currency",
        "EUR",
        "rates_on",
        str(today()),
        "rate_GBP",
        "1.1725000000",
        "rate_USD",
        "0.9200000000",
    ]
    figures = {row[0]: row for row in lines[2:]}
    assert figures["a_mean_pay_gap"][6] == mean

    adjusted = await rewards.get(
        equity, params={"reporting_currency": "EUR", "controls": ["job_level", "location"]}, headers=hr
    )
    assert adjusted.status_code == 200, adjusted.text
    overall = adjusted.json()["overall"]
    assert (overall["women"], overall["men"], adjusted.json()["currency"]) == (5, 6, "EUR")
    assert overall["adjusted_gap_pct"] == expected_adjusted("EUR", NOW_RATES)
    assert adjusted.json()["conversion"]["currencies"][1]["records"] == 3


async def test_remediation_in_a_reporting_currency_pays_each_raise_in_its_own(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    people = await load_staff(rewards, hr)
    paid_in = {str(people[name].id): paid for name, _gender, paid, *_ in STAFF}
    await set_rate(rewards, hr, "USD", "0.92", 3)
    await set_rate(rewards, hr, "GBP", "1.1725", 30)
    body = {"budget": "100000", "controls": ["job_level"], "reporting_currency": "EUR"}

    plan = await rewards.post("/pay-equity/remediation", json=body, headers=hr)
    refused = await rewards.post("/pay-equity/remediation", json={**body, "reporting_currency": "CHF"}, headers=hr)

    assert plan.status_code == 200, plan.text
    answer = plan.json()
    assert (answer["currency"], answer["conversion"]["currency"]) == ("EUR", "EUR")
    (remedy,) = answer["remedies"]
    assert remedy["closes_gap"] is True
    assert remedy["raises"], remedy
    for item in remedy["raises"]:
        currency = paid_in[item["person_id"]]
        assert item["paid_currency"] == currency
        # The raise in EUR, paid in the person's currency: converted back, rounded up to the cent.
        back = (Decimal(item["raise_amount"]) / NOW_RATES[currency]).quantize(CENT, ROUND_CEILING)
        assert Decimal(item["paid_raise_amount"]) == back
    assert {paid_in[item["person_id"]] for item in remedy["raises"]} >= {"USD", "GBP"}
    assert Decimal(answer["total_cost"]) == sum(Decimal(item["raise_amount"]) for item in remedy["raises"])
    assert [e["currency"] for e in assert_problem(refused, 422)["errors"]] == ["CHF"]


async def _impact_org(client: httpx.AsyncClient, hr: dict[str, str]) -> tuple[uuid.UUID, dict[str, Someone]]:
    """Eng: five women paid 40,000 EUR (band midpoint 50,000: compa-ratio 0.8) and five men 60,000 USD
    (midpoint 60,000: 1.0). Cycle: merit 3 %, bonus 10 %, no bonus plan; Eng's USD merit pool fixed at
    20,000 USD."""
    people = {f"W{i}": someone(f"W{i}", "Eng") for i in range(1, 6)} | {
        f"M{i}": someone(f"M{i}", "Eng") for i in range(1, 6)
    }
    await insert_people(client, *people.values())
    await add_bands(
        client, hr, band("G", "EUR", "10000", "50000", "100000"), band("G", "USD", "10000", "60000", "120000")
    )
    past = today() - timedelta(days=20)
    lines = [
        f"{person.id},{'EUR,40000' if name[0] == 'W' else 'USD,60000'},G,{past},L1,Eng,,1,permanent,"
        f"{'female' if name[0] == 'W' else 'male'},Berlin,2020-01-01,0"
        for name, person in people.items()
    ]
    assert (await post_csv(client, hr, csv_body(*lines))).status_code == 200
    assert (await client.put("/merit-matrices/default", json=MATRIX, headers=hr)).status_code in (200, 201)
    cycle_id = uuid.uuid4()
    sessionmaker = client.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        session.add(PayCycle(id=cycle_id, budget_pct=Decimal(3), bonus_budget_pct=Decimal(10)))
        await session.flush()
        session.add(
            BudgetOverride(cycle_id=cycle_id, org_unit="Eng", merit_amounts={"USD": "20000.00"}, set_by=uuid.uuid4())
        )
    return cycle_id, people


async def test_calibration_impact_prices_each_person_in_their_currency_and_totals_in_one(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    cycle_id, people = await _impact_org(rewards, hr)
    url = f"/cycles/{cycle_id}/calibration-impact"
    # Women rated 4 (was 3 for W1), men 3 (was 4 for M1).
    ratings: list[dict[str, Any]] = []
    for name, person in people.items():
        row: dict[str, Any] = {"person_id": str(person.id), "rating": 4 if name[0] == "W" else 3}
        if name in ("W1", "M1"):
            row["previous_rating"] = 3 if name == "W1" else 4
        ratings.append(row)
    body = {"scale_min": 1, "scale_max": 5, "ratings": ratings, "reporting_currency": "EUR"}

    assert problem_fields(await rewards.post(url, json={**body, "reporting_currency": None}, headers=hr)) == {
        "currency"
    }
    before_rate = assert_problem(await rewards.post(url, json=body, headers=hr), 422)
    assert [(e["field"], e["currency"]) for e in before_rate["errors"]] == [("reporting_currency", "USD")]
    await set_rate(rewards, hr, "USD", "0.92", 10)
    answer = await rewards.post(url, json=body, headers=hr)

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["currency"], result["priced"], result["unpriced"]) == ("EUR", 10, {})
    [eng] = result["units"]
    lines = {line["currency"]: line for line in eng["currencies"]}
    # EUR, in EUR: women 0.8 "below", rating 4 -> 5 % = 2,000 each; pool 3 % of 200,000.
    eur = lines["EUR"]
    assert (eur["people"], eur["payroll"], eur["merit_budget"], eur["merit_spend"], eur["merit_remaining"]) == (
        5,
        "200000.00",
        "6000.00",
        "10000.00",
        "-4000.00",
    )
    assert (eur["merit_basis"], eur["over_budget"], eur["bonus_budget"]) == ("percent", ["merit"], "20000.00")
    # USD, in USD: men 1.0 "at", rating 3 -> 2.5 % = 1,500 each; HR's fixed 20,000.
    usd = lines["USD"]
    assert (usd["payroll"], usd["merit_basis"], usd["merit_budget_pct"], usd["merit_budget"], usd["merit_spend"]) == (
        "300000.00",
        "amount",
        None,
        "20000.00",
        "7500.00",
    )
    assert usd["over_budget"] == []
    # The unit in EUR: each line converted (USD x 0.92) and added, beside the lines.
    assert (eng["people"], eng["payroll"], eng["merit_budget"], eng["merit_spend"], eng["merit_remaining"]) == (
        10,
        "476000.00",  # 200,000 + 276,000
        "24400.00",  # 6,000 + 18,400
        "16900.00",  # 10,000 + 6,900
        "7500.00",
    )
    assert (eng["merit_basis"], eng["merit_budget_pct"]) == ("mixed", None)
    assert (eng["bonus_budget_pct"], eng["bonus_budget"], eng["bonus_spend"]) == ("10.00", "47600.00", "0.00")
    # 7,500 left in total, yet the EUR pool is 4,000 over: USD money does not pay EUR raises.
    assert eng["over_budget"] == ["merit"]
    adjustments = {item["person_id"]: item for item in result["adjustments"]}
    w1, m1 = adjustments[str(people["W1"].id)], adjustments[str(people["M1"].id)]
    assert (w1["merit_increase"], w1["merit_change"]) == ("2000.00", "800.00")  # 3 % -> 5 % of 40,000
    assert (m1["merit_increase"], m1["merit_change"]) == ("1380.00", "-828.00")  # 1,500 USD; 4 % -> 2.5 % of 60,000
    # The gap over everyone in EUR: women 40,000 against men 55,200; after: 42,000 against 61,500 USD = 56,580.
    before = (1 - math.exp(math.log(40000) - math.log(55200))) * 100
    after = (1 - math.exp(math.log(42000) - math.log(56580))) * 100
    gap = result["pay_gap"]
    assert (gap["before"]["women"], gap["before"]["men"]) == (5, 5)
    assert Decimal(gap["before"]["adjusted_gap_pct"]) == round(Decimal(before), 2)  # 27.54
    assert Decimal(gap["after"]["adjusted_gap_pct"]) == round(Decimal(after), 2)  # 25.77
    assert [(c["currency"], c["records"]) for c in result["conversion"]["currencies"]] == [("EUR", 5), ("USD", 5)]

    # In USD instead: EUR lines divide by 0.92.
    in_usd = (await rewards.post(url, json={**body, "reporting_currency": "USD"}, headers=hr)).json()
    assert in_usd["units"][0]["payroll"] == "517391.30"  # 200,000 / 0.92 = 217,391.304... + 300,000
    # Only the people paid in EUR, not converted: the figures as before conversion existed.
    only_eur = (
        await rewards.post(url, json={**body, "reporting_currency": None, "currency": "EUR"}, headers=hr)
    ).json()
    assert (only_eur["unpriced"], only_eur["conversion"]) == ({"other_currency": 5}, None)
    assert (only_eur["units"][0]["merit_budget"], only_eur["units"][0]["payroll"]) == ("6000.00", "200000.00")
    assert [line["currency"] for line in only_eur["units"][0]["currencies"]] == ["EUR"]


async def test_cycle_budget_totals_per_currency_and_in_a_reporting_currency(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    """The cycle of test_fixed_pools: Eng (Ada 50,000, Bob 40,000, Cy 60,000 EUR; Dee 100,000 USD) and
    Ops (Ole 30,000 EUR); merit 4 %, bonus 15 %. 1 USD = 0.80 EUR from ten days ago."""
    _org, cycle = await setup_cycle(rewards, js, auth)
    hr = auth(Role.hr)
    url = f"/cycles/{cycle}/budget-totals"

    plain = await rewards.get(url, headers=hr)
    no_rate = await rewards.get(url, params={"reporting_currency": "EUR"}, headers=hr)
    await set_rate(rewards, hr, "USD", "0.80", 10)
    too_early = await rewards.get(
        url, params={"reporting_currency": "EUR", "rates_on": str(today() - timedelta(days=11))}, headers=hr
    )
    in_eur = await rewards.get(url, params={"reporting_currency": "EUR"}, headers=hr)

    assert plain.status_code == 200, plain.text
    assert (plain.json()["org_units"], plain.json()["people"], plain.json()["total"]) == (2, 5, None)

    def figures(pool: dict[str, Any]) -> tuple[str | None, ...]:
        keys = ("payroll", "merit_budget", "merit_proposed", "merit_remaining", "bonus_budget", "bonus_proposed")
        return tuple(pool[key] for key in keys)

    currencies = {pool["currency"]: pool for pool in plain.json()["currencies"]}
    # EUR: Eng 150,000 (4 % = 6,000; spend 5,000) + Ops 30,000 (1,200; 900); bonus 15 %: 22,500 + 4,500.
    assert figures(currencies["EUR"]) == ("180000.00", "7200.00", "5900.00", "1300.00", "27000.00", "20000.00")
    assert figures(currencies["USD"]) == ("100000.00", "4000.00", "2500.00", "1500.00", "15000.00", "10000.00")
    assert [e["currency"] for e in assert_problem(no_rate, 422)["errors"]] == ["USD"]
    assert [e["currency"] for e in assert_problem(too_early, 422)["errors"]] == ["USD"]
    assert in_eur.status_code == 200, in_eur.text
    total = in_eur.json()["total"]
    # USD x 0.80 added to EUR: 180,000 + 80,000; 7,200 + 3,200; 5,900 + 2,000; bonus 27,000 + 12,000.
    assert (total["currency"], *figures(total)) == (
        "EUR",
        "260000.00",
        "10400.00",
        "7900.00",
        "2500.00",
        "39000.00",
        "28000.00",
    )
    assert in_eur.json()["currencies"] == plain.json()["currencies"]  # beside, never instead
    assert [(c["currency"], c["records"]) for c in in_eur.json()["conversion"]["currencies"]] == [
        ("EUR", 4),
        ("USD", 1),
    ]

    # HR fixes Eng's EUR pools: the totals follow, unit by unit as the summaries show them.
    assert (await rewards.put(f"/cycles/{cycle}/org-units/Eng/budget", json=FIXED, headers=hr)).status_code == 200
    fixed = (await rewards.get(url, params={"reporting_currency": "USD"}, headers=hr)).json()
    by_currency = {pool["currency"]: pool for pool in fixed["currencies"]}
    assert (by_currency["EUR"]["merit_budget"], by_currency["EUR"]["merit_basis"]) == ("6600.00", "mixed")
    assert (by_currency["EUR"]["bonus_budget"], by_currency["USD"]["bonus_budget"]) == ("24500.00", "12000.00")
    # In USD: EUR / 0.80 = x 1.25.
    assert (fixed["total"]["currency"], fixed["total"]["payroll"], fixed["total"]["merit_budget"]) == (
        "USD",
        "325000.00",  # 225,000 + 100,000
        "12250.00",  # 8,250 + 4,000
    )
    summary = await rewards.get(
        f"/cycles/{cycle}/org-units/Eng/summary", params={"reporting_currency": "EUR"}, headers=hr
    )
    assert summary.status_code == 200, summary.text
    unit_total = summary.json()["total"]
    # Eng: EUR 150,000 (fixed 5,400; bonus 20,000) + USD 100,000 (4 % = 4,000; bonus 12 % = 12,000) x 0.80.
    assert (unit_total["payroll"], unit_total["merit_budget"], unit_total["merit_proposed"]) == (
        "230000.00",
        "8600.00",
        "7000.00",
    )
    assert (unit_total["bonus_budget"], unit_total["merit_basis"]) == ("29600.00", "mixed")
    assert len(summary.json()["currencies"]) == 2
    plain_summary = (await rewards.get(f"/cycles/{cycle}/org-units/Eng/summary", headers=hr)).json()
    assert (plain_summary["total"], plain_summary["conversion"]) == (None, None)
    assert_problem(await rewards.get(f"/cycles/{uuid.uuid4()}/budget-totals", headers=hr), 404)


async def test_converted_answers_are_for_active_hr_and_admins_only(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    org, cycle = await setup_cycle(rewards, js, auth)
    hr = auth(Role.hr)
    await set_rate(rewards, hr, "USD", "0.80", 10)
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/cycles/{cycle}/budget-totals?reporting_currency=EUR", None),
        ("GET", "/pay-transparency/art9-report?reporting_currency=EUR", None),
        ("GET", "/pay-equity?reporting_currency=USD", None),
        ("POST", "/pay-equity/remediation", {"budget": "1000", "reporting_currency": "EUR"}),
        (
            "POST",
            f"/cycles/{cycle}/calibration-impact",
            {
                "scale_min": 1,
                "scale_max": 5,
                "ratings": [{"person_id": str(org.ada.id), "rating": 4}, {"person_id": str(org.dee.id), "rating": 3}],
                "reporting_currency": "EUR",
            },
        ),
    ]
    callers = {
        "the employee": (auth(Role.employee, person_id=org.ada.id), 403),
        "the manager": (auth(Role.manager, person_id=org.mia.id), 403),
        "a skip-level": (auth(Role.manager, person_id=org.boss.id), 403),
        "an unrelated colleague": (auth(Role.employee, person_id=org.colleague.id), 403),
        "a deactivated HR person": (auth(Role.hr, person_id=org.gone.id), 403),
        "HR": (hr, None),
        "an admin": (auth(Role.admin), None),
    }
    for method, path, body in requests:
        for who, (headers, refused) in callers.items():
            answer = await rewards.request(method, path, json=body, headers=headers)
            if refused:
                assert_problem(answer, refused)
            else:
                assert answer.status_code == 200, (who, method, path, answer.text)
        assert_problem(await rewards.request(method, path, json=body), 401)


async def test_a_deactivated_hr_person_reads_and_changes_no_pay_data(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    """Every HR route of rewards, not only the converted reports: a token outlives a deactivation."""
    org, cycle = await setup_cycle(rewards, js, auth)
    gone, hr = auth(Role.hr, person_id=org.gone.id), auth(Role.hr)
    matrix: dict[str, Any] = {"cells": []}
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/cycles/{cycle}/org-units/Eng/summary?reporting_currency=EUR", None),
        ("GET", f"/cycles/{cycle}", None),
        ("PATCH", f"/cycles/{cycle}", {}),
        ("POST", f"/cycles/{cycle}/proposals/refresh", None),
        ("POST", f"/cycles/{cycle}/org-units/Eng/approve", None),
        ("POST", f"/cycles/{cycle}/org-units/Eng/reject", {"reason": "Too high"}),
        ("GET", "/pay-bands", None),
        ("GET", "/compensation", None),
        ("GET", f"/compensation/{org.ada.id}", None),
        ("GET", f"/compensation/{org.ada.id}/history", None),
        ("GET", "/merit-matrices/default", None),
        ("PUT", "/merit-matrices/default", matrix),
        ("GET", f"/cycles/{cycle}/merit-matrix", None),
        ("DELETE", f"/cycles/{cycle}/merit-matrix", None),
    ]
    for method, path, body in requests:
        assert_problem(await rewards.request(method, path, json=body, headers=gone), 403)
        # The same request by an active HR person passes the access check (whatever it then answers).
        answer = await rewards.request(method, path, json=body, headers=hr)
        assert answer.status_code not in (401, 403), (method, path, answer.text)


def test_the_expected_figures_here_are_not_the_unconverted_ones() -> None:
    """Guard of the fixtures above: a conversion that forgot the rates (or inverted them) would differ."""
    converted = expected_art9("EUR", NOW_RATES)
    unconverted = expected_art9("EUR", dict.fromkeys(NOW_RATES, Decimal(1)))
    inverted = expected_art9("EUR", {code: 1 / rate for code, rate in NOW_RATES.items()})
    assert converted != unconverted
    assert converted != inverted
