"""Job architecture, sensitive attributes, pay equity and the Art. 9 report over HTTP.

The rewards service runs for real (database, NATS, outbox relay); people are put into its
projection directly. The expected figures are the ones worked out by hand in
tests/rewards/test_equity_stats.py (same population).
"""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from nats.js import JetStreamContext

from services.rewards.models import Person
from shared.auth import Role
from shared.database import utcnow
from shared.events import CloudEvent
from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData
from tests.conftest import TokenFactory
from tests.rewards.support import (
    Someone,
    add_bands,
    band,
    insert_people,
    publish_people,
    rewards_stream,
    someone,
    today,
)
from tests.support.http import assert_problem, problem_fields
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

HEADER = (
    "person_id,currency,base_salary,grade,effective_date,job_level,job_family,worker_category,fte,"
    "employment_type,gender,location,hire_date,variable_pay"
)

# name, gender, base, variable, fte, category (as in test_equity_stats.ART9)
ART9 = [
    ("W1", "female", "40000", "1000", "1", "ENG"),
    ("W2", "female", "42000", "1000", "1", "ENG"),
    ("W3", "female", "44000", "500", "1", "ENG"),
    ("W4", "female", "46000", "500", "1", "ENG"),
    ("W5", "female", "24000", "0", "0.5", "ENG"),
    ("M1", "male", "45000", "2000", "1", "ENG"),
    ("M2", "male", "50000", "3000", "1", "ENG"),
    ("M3", "male", "50000", "0", "1", "ENG"),
    ("M4", "male", "55000", "0", "1", "ENG"),
    ("M5", "male", "60000", "5000", "1", "ENG"),
    ("X1", "other", "47000", "0", "1", "ENG"),
    ("M6", "male", "30000", "1000", "1", "OPS"),
    ("M7", "male", "32000", "1000", "1", "OPS"),
    ("M8", "male", "34000", "1000", "1", "OPS"),
    ("M9", "male", "36000", "1000", "1", "OPS"),
    ("M10", "male", "38000", "1000", "1", "OPS"),
    ("W6", "female", "70000", "4000", "1", "LEGAL"),
    ("M11", "male", "80000", "0", "1", "LEGAL"),
    ("M12", "male", "90000", "6000", "1", "LEGAL"),
]


def csv_body(*lines: str) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


async def post_csv(client: httpx.AsyncClient, hr: dict[str, str], body: bytes) -> httpx.Response:
    return await client.post("/compensation/import", content=body, headers={**hr, "Content-Type": "text/csv"})


async def categories(client: httpx.AsyncClient, hr: dict[str, str], *codes: str) -> None:
    for code in codes:
        response = await client.post("/worker-categories", json={"code": code, "name": f"{code} work"}, headers=hr)
        assert response.status_code == 201, response.text


async def load_art9(client: httpx.AsyncClient, hr: dict[str, str]) -> dict[str, Someone]:
    people = {name: someone(name, "Org") for name, *_ in ART9}
    await insert_people(client, *people.values())
    await add_bands(client, hr, band("G", "EUR", "10000", "50000", "100000"))
    await categories(client, hr, "ENG", "OPS", "LEGAL")
    past = today() - timedelta(days=10)
    lines = [
        f"{people[name].id},EUR,{base},G,{past},L1,Eng,{category},{fte},permanent,{gender},Berlin,2020-01-01,{variable}"
        for name, gender, base, variable, fte, category in ART9
    ]
    response = await post_csv(client, hr, csv_body(*lines))
    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(ART9)
    return people


async def test_import_takes_job_architecture_and_gender_for_hr_only(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    ada = someone("Ada", "Eng")
    await insert_people(rewards, ada)
    await add_bands(rewards, hr, band("G", "EUR", "10000", "50000", "100000"))
    past = today() - timedelta(days=3)
    line = f"{ada.id},EUR,45000,G,{past},L3,Engineering,ENG,0.8,permanent,female,Berlin,2021-04-01,1500.50"

    # The category must exist first; a gender outside the list and a bad FTE name their field.
    rejected = await post_csv(rewards, hr, csv_body(line))
    assert {(e["row"], e["field"]) for e in assert_problem(rejected, 422)["errors"]} == {(1, "worker_category")}
    await categories(rewards, hr, "ENG")
    bad = line.replace(",female,", ",woman,").replace(",0.8,", ",1.5,")
    assert {e["field"] for e in assert_problem(await post_csv(rewards, hr, csv_body(bad)), 422)["errors"]} == {
        "gender",
        "fte",
    }
    late_hire = line.replace("2021-04-01", str(today() + timedelta(days=30)))
    assert {e["field"] for e in assert_problem(await post_csv(rewards, hr, csv_body(late_hire)), 422)["errors"]} == {
        "hire_date"
    }

    assert (await post_csv(rewards, hr, csv_body(line))).status_code == 200
    again = await post_csv(rewards, hr, csv_body(line))  # the same file twice changes nothing
    assert again.json()["unchanged"] == 1
    changed = await post_csv(rewards, hr, csv_body(line.replace(",female,", ",undisclosed,")))
    assert {e["field"] for e in assert_problem(changed, 422)["errors"]} == {"effective_date"}

    as_hr = (await rewards.get(f"/compensation/{ada.id}", headers=hr)).json()
    assert as_hr["gender"] == "female"
    assert (as_hr["job_level"], as_hr["job_family"], as_hr["worker_category"]) == ("L3", "Engineering", "ENG")
    assert (Decimal(as_hr["fte"]), Decimal(as_hr["variable_pay"])) == (Decimal("0.8"), Decimal("1500.50"))
    assert (as_hr["location"], as_hr["hire_date"], as_hr["employment_type"]) == ("Berlin", "2021-04-01", "permanent")
    own = await rewards.get(f"/compensation/{ada.id}", headers=auth(Role.employee, person_id=ada.id))
    assert own.status_code == 200
    assert own.json()["gender"] is None
    assert own.json()["job_level"] == "L3"
    listed = (await rewards.get("/compensation", headers=auth(Role.admin))).json()["items"]
    assert [item["gender"] for item in listed] == ["female"]

    # Nothing of it travels: the rewards stream holds no gender and no attribute of the import.
    for _event, raw in await rewards_stream(js):
        for word in (b"gender", b"female", b"Engineering", b"Berlin", b"1500.5"):
            assert word not in raw


async def test_art9_report_json_and_csv(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    await load_art9(rewards, hr)
    response = await rewards.get("/pay-transparency/art9-report", headers=hr)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["people"], report["women"], report["men"], report["other_or_undisclosed"]) == (19, 6, 12, None)
    assert report["min_cell_size"] == 5
    assert report["pay_gap"] == {
        "women": 6,
        "men": 12,
        "mean_gap_pct": "4.35",  # (51750 - 49500) / 51750
        "median_gap_pct": "6.19",  # (48500 - 45500) / 48500
        "suppressed": None,
    }
    assert (report["variable_pay_gap"]["mean_gap_pct"], report["variable_pay_gap"]["median_gap_pct"]) == (
        "40.00",
        "0.00",
    )
    assert (report["variable_pay_share"]["women_pct"], report["variable_pay_share"]["men_pct"]) == ("83.33", "75.00")
    assert [(q["people"], q["women_pct"], q["men_pct"], q["suppressed"]) for q in report["quartiles"]] == [
        (5, "0.00", "100.00", None),
        (5, "80.00", "20.00", None),
        (None, None, None, "small_cell"),
        (None, None, None, "small_cell"),
    ]
    by_category = {item["category"]: item for item in report["categories"]}
    assert list(by_category) == ["ENG", "LEGAL", "OPS"]
    assert (by_category["ENG"]["basic_pay"]["mean_gap_pct"], by_category["ENG"]["basic_pay"]["median_gap_pct"]) == (
        "15.38",
        "12.00",
    )
    assert by_category["ENG"]["variable_pay"]["suppressed"] == "small_cell"
    assert by_category["LEGAL"]["people"] is None
    assert by_category["LEGAL"]["basic_pay"] == {
        "women": None,
        "men": None,
        "mean_gap_pct": None,
        "median_gap_pct": None,
        "suppressed": "small_cell",
    }
    assert by_category["OPS"]["basic_pay"]["suppressed"] == "single_gender"

    exported = await rewards.get("/pay-transparency/art9-report", params={"format": "csv"}, headers=hr)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == ["reference_date", str(today()), "currency", "EUR"]
    rows = [dict(zip(lines[1], line, strict=True)) for line in lines[2:]]
    figures = {(row["indicator"], row["category"], row["quartile"]): row for row in rows}
    assert figures[("a_mean_pay_gap", "", "")]["value_pct"] == "4.35"
    assert figures[("c_median_pay_gap", "", "")]["value_pct"] == "6.19"
    assert figures[("b_mean_variable_pay_gap", "", "")]["value_pct"] == "40.00"
    assert figures[("e_women_receiving_variable_pay", "", "")]["value_pct"] == "83.33"
    assert figures[("f_women_in_quartile", "", "2")]["value_pct"] == "80.00"
    assert figures[("f_men_in_quartile", "", "4")]["suppressed"] == "small_cell"
    assert figures[("f_men_in_quartile", "", "4")]["value_pct"] == ""
    assert figures[("g_mean_basic_pay_gap", "ENG", "")]["value_pct"] == "15.38"
    assert figures[("g_mean_basic_pay_gap", "OPS", "")]["suppressed"] == "single_gender"

    # Before the records took effect nobody is in the report, and every cell is suppressed.
    early = await rewards.get(
        "/pay-transparency/art9-report", params={"reference_date": str(today() - timedelta(days=30))}, headers=hr
    )
    assert early.json()["people"] == 0
    assert early.json()["pay_gap"]["suppressed"] == "small_cell"


async def test_the_minimum_cell_size_only_goes_up(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    await load_art9(rewards, hr)
    policy = (await rewards.get("/rewards-policy", headers=hr)).json()
    assert (policy["min_cell_size"], policy["equity_flag_pct"], policy["equity_controls"]) == (
        5,
        "5",
        ["job_level", "location", "tenure"],
    )
    assert problem_fields(await rewards.patch("/rewards-policy", json={"min_cell_size": 4}, headers=hr)) == {
        "min_cell_size"
    }
    assert problem_fields(
        await rewards.patch("/rewards-policy", json={"equity_controls": ["shoe_size"]}, headers=hr)
    ) == {"equity_controls.0"}
    raised = await rewards.patch("/rewards-policy", json={"min_cell_size": 6}, headers=hr)
    assert raised.status_code == 200
    assert raised.json()["min_cell_size"] == 6
    report = (await rewards.get("/pay-transparency/art9-report", headers=hr)).json()
    assert report["min_cell_size"] == 6
    eng = next(item for item in report["categories"] if item["category"] == "ENG")
    assert eng["basic_pay"]["suppressed"] == "small_cell"  # five women, five men
    assert report["pay_gap"]["mean_gap_pct"] == "4.35"


async def test_several_currencies_need_a_choice(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    ada, bob = someone("Ada"), someone("Bob")
    await insert_people(rewards, ada, bob)
    await add_bands(rewards, hr, band("G", "EUR", "1", "2", "3"), band("G", "USD", "1", "2", "3"))
    past = today() - timedelta(days=1)
    body = csv_body(
        f"{ada.id},EUR,2,G,{past},,,,1,,female,,,0",
        f"{bob.id},USD,2,G,{past},,,,1,,male,,,0",
    )
    assert (await post_csv(rewards, hr, body)).status_code == 200
    for path in ("/pay-transparency/art9-report", "/pay-equity"):
        assert problem_fields(await rewards.get(path, headers=hr)) == {"currency"}
        assert (await rewards.get(path, params={"currency": "USD"}, headers=hr)).status_code == 200
    assert problem_fields(await rewards.get("/pay-equity", params={"controls": "nonsense"}, headers=hr)) == {
        "controls.0"
    }


async def test_pay_equity_flags_and_remediation(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    """Category GAP: six women at 90k, six men at 100k, level L1 (log residuals ±0.1 as 90k·e^±0.1
    rounded to the cent); FAIR: 98k against 100k. Controls job level and location: constant here."""
    hr = auth(Role.hr)
    await categories(rewards, hr, "GAP", "FAIR")
    await add_bands(rewards, hr, band("G", "EUR", "10000", "100000", "200000"))
    spread = {0: "1.105170918", 1: "0.904837418"}  # e^0.1, e^-0.1
    people: list[tuple[Someone, str, Decimal, str]] = []
    for category, women_pay in (("GAP", 90000), ("FAIR", 98000)):
        for gender, centre in (("female", women_pay), ("male", 100000)):
            for i in range(6):
                salary = (Decimal(centre) * Decimal(spread[i % 2])).quantize(Decimal("0.01"))
                people.append((someone(f"{category}{gender}{i}"), gender, salary, category))
    await insert_people(rewards, *(person for person, *_ in people))
    past = today() - timedelta(days=5)
    lines = [
        f"{person.id},EUR,{salary},G,{past},L1,,{category},1,,{gender},Berlin,,0"
        for person, gender, salary, category in people
    ]
    assert (await post_csv(rewards, hr, csv_body(*lines))).status_code == 200

    equity = await rewards.get("/pay-equity", params={"controls": ["job_level", "location"]}, headers=hr)
    assert equity.status_code == 200, equity.text
    body = equity.json()
    assert body["controls"] == ["job_level", "location"]
    by_category = {item["category"]: item for item in body["categories"]}
    assert by_category["GAP"]["flagged"] is True
    assert by_category["GAP"]["gap"]["adjusted_gap_pct"] == "10.00"
    assert by_category["GAP"]["gap"]["degrees_of_freedom"] == 10
    assert by_category["FAIR"]["flagged"] is False
    assert by_category["FAIR"]["gap"]["adjusted_gap_pct"] == "2.00"
    assert Decimal(by_category["GAP"]["gap"]["ci_low_pct"]) < 10 < Decimal(by_category["GAP"]["gap"]["ci_high_pct"])
    # The default controls include tenure; nobody here has a hire date, so everybody is excluded.
    default = (await rewards.get("/pay-equity", headers=hr)).json()
    assert default["overall"]["excluded"] == 24
    assert default["overall"]["suppressed"] == "small_cell"

    plan = await rewards.post(
        "/pay-equity/remediation", json={"budget": "100000", "controls": ["job_level"]}, headers=hr
    )
    assert plan.status_code == 200, plan.text
    (remedy,) = plan.json()["remedies"]
    assert (remedy["category"], remedy["closes_gap"], remedy["gap_before_pct"], remedy["gap_after_pct"]) == (
        "GAP",
        True,
        "10.00",
        "0.00",
    )
    women = {
        str(person.id): salary
        for person, gender, salary, category in people
        if category == "GAP" and gender == "female"
    }
    assert {item["person_id"] for item in remedy["raises"]} == set(women)
    for item in remedy["raises"]:
        # Each woman is lifted to the men's (geometric) mean of 100k, give or take the rounding.
        assert Decimal(item["base_salary"]) == women[item["person_id"]]
        assert abs(Decimal(item["new_base_salary"]) - Decimal(100000)) < Decimal("1.00")
    assert Decimal(plan.json()["total_cost"]) == sum(Decimal(item["raise_amount"]) for item in remedy["raises"])
    assert Decimal(plan.json()["remaining"]) == Decimal(100000) - Decimal(plan.json()["total_cost"])

    small = (
        await rewards.post("/pay-equity/remediation", json={"budget": "20000", "controls": ["job_level"]}, headers=hr)
    ).json()
    assert small["remedies"][0]["closes_gap"] is False
    assert Decimal(small["total_cost"]) <= 20000
    assert problem_fields(await rewards.post("/pay-equity/remediation", json={"budget": "-1"}, headers=hr)) == {
        "budget"
    }


async def test_reports_and_settings_are_for_active_hr_and_admins_only(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    people = await load_art9(rewards, hr)
    boss = someone("Boss", "Org")
    manager = someone("Mgr", "Org", boss)
    me = someone("Me", "Org", manager)
    colleague = someone("Colleague", "Org", boss)
    gone = someone("Gone", "Org")
    await insert_people(rewards, boss, manager, me, colleague, gone)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        person = await session.get(Person, gone.id)
        assert person is not None
        person.active = False

    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", "/pay-transparency/art9-report", None),
        ("GET", "/pay-transparency/art9-report?format=csv", None),
        ("GET", "/pay-equity", None),
        ("POST", "/pay-equity/remediation", {"budget": "1000"}),
        ("GET", "/rewards-policy", None),
        ("PATCH", "/rewards-policy", {"min_cell_size": 7}),
        ("GET", "/worker-categories", None),
        ("POST", "/worker-categories", {"code": f"C{uuid.uuid4().hex[:6]}", "name": "New"}),
    ]
    callers = {
        "self": (auth(Role.employee, person_id=me.id), 403),
        "manager": (auth(Role.manager, person_id=manager.id), 403),
        "skip-level": (auth(Role.manager, person_id=boss.id), 403),
        "colleague": (auth(Role.employee, person_id=colleague.id), 403),
        "deactivated hr": (auth(Role.hr, person_id=gone.id), 403),
        "admin": (auth(Role.admin), None),
        "hr": (auth(Role.hr, person_id=people["W1"].id), None),
    }
    for method, path, body in requests:
        for who, (headers, refused) in callers.items():
            if body is not None and path == "/worker-categories":
                body = {"code": f"C{uuid.uuid4().hex[:6]}", "name": "New"}
            response = await rewards.request(method, path, json=body, headers=headers)
            if refused:
                assert_problem(response, refused)
            else:
                assert response.status_code in (200, 201), (who, method, path, response.text)
        assert_problem(await rewards.request(method, path, json=body), 401)


async def test_reports_take_the_records_in_force_on_the_reference_date_of_active_people(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    women = [someone(f"W{i}") for i in range(5)]
    men = [someone(f"M{i}") for i in range(6)]
    await insert_people(rewards, *women, *men)
    await add_bands(rewards, hr, band("G", "EUR", "10000", "50000", "100000"))
    past, soon = today() - timedelta(days=10), today() + timedelta(days=10)
    lines = [f"{w.id},EUR,40000,G,{past},,,,1,,female,,,0" for w in women]
    lines += [f"{m.id},EUR,50000,G,{past},,,,1,,male,,,0" for m in men]
    lines.append(f"{women[0].id},EUR,45000,G,{soon},,,,1,,female,,,0")  # a raise that takes effect later
    assert (await post_csv(rewards, hr, csv_body(*lines))).status_code == 200
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        leaver = await session.get(Person, men[5].id)
        assert leaver is not None
        leaver.active = False

    now = (await rewards.get("/pay-transparency/art9-report", headers=hr)).json()
    assert (now["women"], now["men"]) == (5, 5)  # the deactivated man is not counted
    assert now["pay_gap"]["mean_gap_pct"] == "20.00"  # (50000 - 40000) / 50000
    later = (
        await rewards.get("/pay-transparency/art9-report", params={"reference_date": str(soon)}, headers=hr)
    ).json()
    assert later["pay_gap"]["mean_gap_pct"] == "18.00"  # women (45000 + 4 x 40000) / 5 = 41000


async def test_a_past_report_counts_who_was_employed_then(
    rewards: httpx.AsyncClient, js: JetStreamContext, auth: TokenFactory
) -> None:
    """The leaving time comes from the directory's events: the first deactivation counts, a return clears it."""
    hr = auth(Role.hr)
    rewards.headers["Authorization"] = hr["Authorization"]  # for the people-projection probe
    women = [someone(f"W{i}") for i in range(5)]
    men = [someone(f"M{i}") for i in range(7)]
    await publish_people(js, rewards, *women, *men)
    await add_bands(rewards, hr, band("G", "EUR", "10000", "50000", "100000"))
    lines = [f"{w.id},EUR,40000,G,{today() - timedelta(days=90)},,,,1,,female,,,0" for w in women]
    lines += [f"{m.id},EUR,50000,G,{today() - timedelta(days=90)},,,,1,,male,,,0" for m in men]
    assert (await post_csv(rewards, hr, csv_body(*lines))).status_code == 200
    early, late, returner = men[4], men[5], men[6]
    now = utcnow()

    async def told(person: Someone, version: int, at: datetime, *, active: bool) -> None:
        data = PersonEventData(
            id=person.id, version=version, display_name=person.name, email=f"{person.name}@example.com", active=active
        )
        event = CloudEvent(
            source="/meritloop/reviews",
            type=PERSON_UPSERTED if active else PERSON_DEACTIVATED,
            subject=str(person.id),
            time=at,
            data=data.model_dump(mode="json"),
        )
        await js.publish(event.nats_subject, event.to_bytes(), headers={"Nats-Msg-Id": str(event.id)})

    await told(early, 2, now - timedelta(days=60), active=False)
    await told(late, 2, now - timedelta(days=20), active=False)
    await told(late, 3, now - timedelta(days=1), active=False)  # an edit to a leaver: still the first time
    await told(returner, 2, now - timedelta(days=50), active=False)
    await told(returner, 3, now - timedelta(days=40), active=True)  # rehired: employed throughout

    async def projected() -> bool:
        # Every event applied: the consumer may take people in any order, so the returner still active
        # (as before any event) says nothing; each person's last version does.
        async with rewards.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            versions = {
                person.id: (await session.get(Person, person.id, populate_existing=True))
                for person in (early, late, returner)
            }
        wanted = {early.id: 2, late.id: 3, returner.id: 3}
        return all(row is not None and row.version == wanted[key] for key, row in versions.items())

    await wait_until(projected, message="the leavers projected")
    shown = (await rewards.get(f"/people/{late.id}", headers=hr)).json()
    assert shown["active"] is False
    assert abs((datetime.fromisoformat(shown["deactivated_at"]) - (now - timedelta(days=20))).total_seconds()) < 1
    assert (await rewards.get(f"/people/{returner.id}", headers=hr)).json()["deactivated_at"] is None

    async def men_counted(days_ago: int) -> int:
        params = {"reference_date": str(today() - timedelta(days=days_ago))}
        report = (await rewards.get("/pay-transparency/art9-report", params=params, headers=hr)).json()
        assert report["women"] == 5, report
        count: int = report["men"]
        return count

    assert await men_counted(70) == 7  # before anyone left
    assert await men_counted(30) == 6  # the early leaver is gone, the late one still there
    assert await men_counted(10) == 5  # the late leaver left 20 days ago, not yesterday
    assert await men_counted(0) == 5
