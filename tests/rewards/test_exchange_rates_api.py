"""HR's exchange rates over HTTP: set, correct, list, the rate in force on a date, who may.

The rewards service runs for real on the test's database; people are put into its projection
directly.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.rewards.models import Person
from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import insert_people, someone, today
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database


async def test_hr_sets_lists_and_corrects_rates_against_one_base(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr, admin = auth(Role.hr), auth(Role.admin)
    january, march = "2026-01-01", "2026-03-01"

    first_without_base = await rewards.put(f"/exchange-rates/USD/{january}", json={"rate": "0.92"}, headers=hr)
    created = await rewards.put(
        f"/exchange-rates/USD/{january}", json={"rate": "0.92", "base": "EUR", "note": "ECB"}, headers=hr
    )
    replaced = await rewards.put(f"/exchange-rates/USD/{january}", json={"rate": "0.9234"}, headers=admin)
    later = await rewards.put(f"/exchange-rates/USD/{march}", json={"rate": "0.9", "base": "EUR"}, headers=hr)
    pound = await rewards.put(f"/exchange-rates/GBP/{march}", json={"rate": "1.17"}, headers=hr)
    other_base = await rewards.put(f"/exchange-rates/GBP/{january}", json={"rate": "0.85", "base": "USD"}, headers=hr)
    the_base = await rewards.put(f"/exchange-rates/EUR/{january}", json={"rate": "1"}, headers=hr)

    assert problem_fields(first_without_base) == {"base"}
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["currency"], body["base"], body["rate"], body["effective_date"]) == (
        "USD",
        "EUR",
        "0.9200000000",
        january,
    )
    assert (body["inverse_rate"], body["note"]) == ("1.0869565217", "ECB")  # 1 EUR = 1.087 USD: the direction shows
    assert replaced.status_code == 200, replaced.text
    assert (replaced.json()["rate"], replaced.json()["note"]) == ("0.9234000000", None)  # replaced whole
    assert later.status_code == 201
    assert pound.status_code == 201  # the base may be left out once it is set
    assert "every rate is against EUR" in assert_problem(other_base, 422)["errors"][0]["message"]
    assert problem_fields(other_base) == {"base"}
    assert problem_fields(the_base) == {"currency"}

    listed = (await rewards.get("/exchange-rates", headers=hr)).json()
    assert listed["total"] == 3
    assert [(i["currency"], i["effective_date"], i["rate"]) for i in listed["items"]] == [
        ("GBP", march, "1.1700000000"),
        ("USD", march, "0.9000000000"),
        ("USD", january, "0.9234000000"),
    ]
    only_usd = (await rewards.get("/exchange-rates", params={"currency": "USD", "limit": 1}, headers=hr)).json()
    assert (only_usd["total"], only_usd["items"][0]["effective_date"]) == (2, march)

    # The rate in force on a date: the latest effective on or before it.
    async def in_force(on: str) -> dict[str, Any]:
        answer = await rewards.get("/exchange-rates/in-force", params={"on": on}, headers=hr)
        assert answer.status_code == 200, answer.text
        return {item["currency"]: item["rate"] for item in answer.json()["rates"]} | {"base": answer.json()["base"]}

    assert await in_force("2025-12-31") == {"base": "EUR"}
    assert await in_force(january) == {"USD": "0.9234000000", "base": "EUR"}
    assert await in_force("2026-02-28") == {"USD": "0.9234000000", "base": "EUR"}
    assert await in_force(march) == {"USD": "0.9000000000", "GBP": "1.1700000000", "base": "EUR"}
    one = await rewards.get("/exchange-rates/USD", params={"on": "2026-02-14"}, headers=hr)
    assert (one.status_code, one.json()["rate"], one.json()["effective_date"]) == (200, "0.9234000000", january)
    assert_problem(await rewards.get("/exchange-rates/GBP", params={"on": "2026-02-14"}, headers=hr), 404)
    assert (await rewards.get("/exchange-rates/USD", headers=hr)).json()["effective_date"] == march  # today

    # A mistaken rate goes; the earlier one is in force again.
    assert (await rewards.delete(f"/exchange-rates/USD/{march}", headers=hr)).status_code == 204
    assert_problem(await rewards.delete(f"/exchange-rates/USD/{march}", headers=hr), 404)
    assert (await in_force(march))["USD"] == "0.9234000000"


async def test_racing_first_rates_fix_one_base_and_one_rate_per_day(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    """Both first rates read an empty table before either wrote (SQLite took no lock for the reads)."""
    hr = auth(Role.hr)
    answers = await asyncio.gather(
        rewards.put("/exchange-rates/USD/2026-01-01", json={"rate": "0.92", "base": "EUR"}, headers=hr),
        rewards.put("/exchange-rates/GBP/2026-01-01", json={"rate": "0.85", "base": "CHF"}, headers=hr),
        rewards.put("/exchange-rates/JPY/2026-01-01", json={"rate": "0.006", "base": "EUR"}, headers=hr),
        rewards.put("/exchange-rates/JPY/2026-01-01", json={"rate": "0.007", "base": "EUR"}, headers=hr),
    )
    assert all(answer.status_code in (200, 201, 422) for answer in answers), [a.text for a in answers]
    listed = (await rewards.get("/exchange-rates", headers=hr)).json()["items"]
    assert len({row["base"] for row in listed}) == 1
    assert len([row for row in listed if row["currency"] == "JPY"]) <= 1


async def test_a_replaced_or_removed_rate_is_kept_as_it_stood(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    setter, corrector = uuid.uuid4(), uuid.uuid4()
    first, second = auth(Role.hr, person_id=setter), auth(Role.admin, person_id=corrector)
    day = "2026-01-01"
    assert (
        await rewards.put(
            f"/exchange-rates/USD/{day}", json={"rate": "0.92", "base": "EUR", "note": "ECB"}, headers=first
        )
    ).status_code == 201
    set_at = (await rewards.get("/exchange-rates", headers=first)).json()["items"][0]["created_at"]
    # The same rate again (a retried request) is no change.
    assert (
        await rewards.put(f"/exchange-rates/USD/{day}", json={"rate": "0.920", "note": "ECB"}, headers=second)
    ).status_code == 200
    assert (await rewards.get("/exchange-rates/changes", headers=first)).json()["total"] == 0
    assert (await rewards.get("/exchange-rates", headers=first)).json()["items"][0]["set_by"] == str(setter)

    assert (await rewards.put(f"/exchange-rates/USD/{day}", json={"rate": "0.93"}, headers=second)).status_code == 200
    assert (await rewards.put(f"/exchange-rates/GBP/{day}", json={"rate": "1.17"}, headers=first)).status_code == 201
    assert (await rewards.delete(f"/exchange-rates/USD/{day}", headers=first)).status_code == 204

    changes = (await rewards.get("/exchange-rates/changes", headers=first)).json()
    assert changes["total"] == 2
    removed, replaced = changes["items"]  # newest change first
    assert (replaced["change"], replaced["rate"], replaced["note"]) == ("replaced", "0.9200000000", "ECB")
    assert (replaced["set_by"], replaced["set_at"], replaced["changed_by"]) == (str(setter), set_at, str(corrector))
    assert (removed["change"], removed["rate"], removed["note"]) == ("removed", "0.9300000000", None)
    assert (removed["set_by"], removed["changed_by"]) == (str(corrector), str(setter))
    assert removed["set_at"] >= replaced["changed_at"]
    assert (removed["currency"], removed["base"], removed["effective_date"]) == ("USD", "EUR", day)

    # Filtered and paged; a bad filter names its field.
    assert (await rewards.get("/exchange-rates/changes", params={"currency": "GBP"}, headers=first)).json()[
        "total"
    ] == 0
    one_day = await rewards.get("/exchange-rates/changes", params={"effective_date": day, "limit": 1}, headers=first)
    assert (one_day.json()["total"], len(one_day.json()["items"])) == (2, 1)
    assert problem_fields(await rewards.get("/exchange-rates/changes", params={"currency": "EUO"}, headers=first)) == {
        "currency"
    }
    assert problem_fields(
        await rewards.get("/exchange-rates/changes", params={"effective_date": "2026-13-01"}, headers=first)
    ) == {"effective_date"}


async def test_bad_rates_are_refused_naming_the_field(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    day = str(today())
    good = {"rate": "0.92", "base": "EUR"}
    cases: list[tuple[str, dict[str, Any], set[str]]] = [
        (f"/exchange-rates/usd/{day}", good, {"currency"}),  # upper case only
        (f"/exchange-rates/EUO/{day}", good, {"currency"}),  # three letters, but no ISO 4217 code
        ("/exchange-rates/USD/2026-02-30", good, {"effective_date"}),
        (f"/exchange-rates/USD/{day}", {"rate": "0", "base": "EUR"}, {"rate"}),
        (f"/exchange-rates/USD/{day}", {"rate": "-0.92", "base": "EUR"}, {"rate"}),
        (f"/exchange-rates/USD/{day}", {"rate": "0.00000000001", "base": "EUR"}, {"rate"}),  # 11 decimals
        (f"/exchange-rates/USD/{day}", {"rate": "12345.12345678901", "base": "EUR"}, {"rate"}),  # 16 digits
        (f"/exchange-rates/USD/{day}", {"rate": "100000", "base": "EUR"}, {"rate"}),  # 6 digits before the point
        (f"/exchange-rates/USD/{day}", {"rate": "NaN", "base": "EUR"}, {"rate"}),
        (f"/exchange-rates/USD/{day}", {"rate": "0.92", "base": "XYZ"}, {"base"}),
        (f"/exchange-rates/USD/{day}", {"base": "EUR"}, {"rate"}),
        (f"/exchange-rates/USD/{day}", {**good, "to_currency": "EUR"}, {"to_currency"}),
    ]
    for path, body, fields in cases:
        assert problem_fields(await rewards.put(path, json=body, headers=hr)) == fields, (path, body)
    assert (await rewards.get("/exchange-rates", headers=hr)).json()["total"] == 0  # nothing stored

    # 15 digits and 10 decimals are kept exactly, also on SQLite (a REAL).
    for rate in ("12345.6789012345", "0.0000578123", "99999.9999999999"):
        stored = await rewards.put(f"/exchange-rates/IDR/{day}", json={"rate": rate, "base": "EUR"}, headers=hr)
        assert stored.status_code in (200, 201), stored.text
        read = (await rewards.get("/exchange-rates/IDR", headers=hr)).json()["rate"]
        assert read.rstrip("0").rstrip(".") == rate, rate
    assert problem_fields(await rewards.get("/exchange-rates", params={"currency": "ABC"}, headers=hr)) == {"currency"}
    assert problem_fields(await rewards.get("/exchange-rates/in-force", params={"on": "soon"}, headers=hr)) == {"on"}

    document = (await rewards.get("/openapi.json")).json()
    put = document["paths"]["/exchange-rates/{currency}/{effective_date}"]["put"]
    assert {"401", "403", "404", "422"} <= set(put["responses"])
    assert put["responses"]["422"]["content"]["application/problem+json"]
    report = document["paths"]["/pay-transparency/art9-report"]["get"]
    assert "reporting_currency" in {parameter["name"] for parameter in report["parameters"]}


async def test_only_active_hr_and_admins_keep_or_read_rates(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    boss = someone("Boss", "Eng")
    manager = someone("Mgr", "Eng", boss)
    me = someone("Me", "Eng", manager)
    colleague = someone("Colleague", "Eng", boss)
    gone = someone("Gone", "HR")
    hr_person = someone("Hera", "HR")
    await insert_people(rewards, boss, manager, me, colleague, gone, hr_person)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        person = await session.get(Person, gone.id)
        assert person is not None
        person.active = False
    day = str(today() - timedelta(days=1))
    hr = auth(Role.hr, person_id=hr_person.id)
    assert (
        await rewards.put(f"/exchange-rates/USD/{day}", json={"rate": "0.9", "base": "EUR"}, headers=hr)
    ).status_code == 201

    def requests() -> list[tuple[str, str, dict[str, Any] | None]]:
        # A fresh date each time, so an allowed caller's PUT and DELETE always find what they expect.
        fresh = str(today() - timedelta(days=100 + len(calls)))
        return [
            ("GET", "/exchange-rates", None),
            ("GET", "/exchange-rates/in-force", None),
            ("GET", "/exchange-rates/changes", None),
            ("GET", "/exchange-rates/USD", None),
            ("PUT", f"/exchange-rates/GBP/{fresh}", {"rate": "1.17"}),
            ("DELETE", f"/exchange-rates/GBP/{fresh}", None),
        ]

    callers = {
        "the employee": (auth(Role.employee, person_id=me.id), 403),
        "the manager": (auth(Role.manager, person_id=manager.id), 403),
        "a skip-level": (auth(Role.manager, person_id=boss.id), 403),
        "an unrelated colleague": (auth(Role.employee, person_id=colleague.id), 403),
        "a deactivated HR person": (auth(Role.hr, person_id=gone.id), 403),
        "HR": (hr, None),
        "an admin": (auth(Role.admin), None),
    }
    calls: list[str] = []
    for who, (headers, refused) in callers.items():
        calls.append(who)
        for method, path, body in requests():
            answer = await rewards.request(method, path, json=body, headers=headers)
            if refused:
                assert_problem(answer, refused)
            else:
                assert answer.status_code in (200, 201, 204), (who, method, path, answer.text)
            assert_problem(await rewards.request(method, path, json=body), 401)
    listed = (await rewards.get("/exchange-rates", headers=hr)).json()
    assert [(item["currency"], item["set_by"]) for item in listed["items"]] == [("USD", str(hr_person.id))]
    assert uuid.UUID(listed["items"][0]["set_by"]) == hr_person.id


DAILY = b"""Date, USD, JPY, BGN, CYP, GBP, \r
27 November 2026, 1.0578, 162.45, 1.9558, N/A, 0.83205, \r
"""
HISTORY = b"""Date,USD,JPY,GBP,
2026-11-26,1.0500,161.00,0.8300,
2026-11-27,1.0578,162.45,0.83205,
"""


async def test_the_ecbs_reference_rates_are_imported_as_rates_against_the_euro(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    csv_headers = {**hr, "Content-Type": "text/csv"}
    dry = await rewards.post(
        "/exchange-rates/reference-rates", content=DAILY, params={"dry_run": "true"}, headers=csv_headers
    )
    assert dry.status_code == 200, dry.text
    assert dry.json() == {
        "dry_run": True,
        "base": "EUR",
        "first_day": "2026-11-27",
        "last_day": "2026-11-27",
        "currencies": ["BGN", "GBP", "JPY", "USD"],
        "rates": 4,
        "created": 4,
        "replaced": 0,
        "unchanged": 0,
        "empty_cells": 1,
    }
    assert (await rewards.get("/exchange-rates", headers=hr)).json()["total"] == 0  # a dry run stores nothing

    done = await rewards.post("/exchange-rates/reference-rates", content=DAILY, headers=csv_headers)
    assert (done.json()["created"], done.json()["dry_run"]) == (4, False)
    usd = (await rewards.get("/exchange-rates/USD", params={"on": "2026-11-27"}, headers=hr)).json()
    # 1 EUR = 1.0578 USD, so 1 USD = 0.9453582908 EUR; the inverse shows the ECB's figure again.
    assert (usd["rate"], usd["inverse_rate"], usd["base"]) == ("0.9453582908", "1.0578000000", "EUR")
    assert usd["note"] == "ECB reference rate: 1 EUR = 1.0578 USD"
    # The history file: a new day, and the same day again unchanged; a second run changes nothing.
    history = await rewards.post("/exchange-rates/reference-rates", content=HISTORY, headers=csv_headers)
    assert {k: history.json()[k] for k in ("created", "replaced", "unchanged", "rates")} == {
        "created": 3,
        "replaced": 0,
        "unchanged": 3,
        "rates": 6,
    }
    again = await rewards.post("/exchange-rates/reference-rates", content=HISTORY, headers=csv_headers)
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 6)
    # A corrected figure replaces the day's rate, and the old one is kept.
    corrected = HISTORY.replace(b"1.0500", b"1.0501")
    fixed = await rewards.post("/exchange-rates/reference-rates", content=corrected, headers=csv_headers)
    assert fixed.json()["replaced"] == 1
    [change] = (await rewards.get("/exchange-rates/changes", params={"currency": "USD"}, headers=hr)).json()["items"]
    assert (change["effective_date"], change["change"]) == ("2026-11-26", "replaced")


async def test_a_bad_reference_file_is_refused_whole_naming_each_cell(
    rewards: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    csv_headers = {**hr, "Content-Type": "text/csv"}

    async def refused(body: bytes, headers: dict[str, str] = csv_headers) -> list[dict[str, Any]]:
        answer = await rewards.post("/exchange-rates/reference-rates", content=body, headers=headers)
        errors: list[dict[str, Any]] = assert_problem(answer, 422)["errors"]
        return errors

    bad = b"Date,USD,XYZ,GBP\n2026-11-27,1.05,1.0,0\nyesterday,1.0,1.0,1.0\n2026-11-28,-1,1.0,abc\n"
    errors = await refused(bad)
    assert {"field": "header", "column": "XYZ", "message": "not an ISO 4217 currency code"} in errors
    assert {(e.get("row"), e["field"]) for e in errors if "row" in e} == {
        (1, "GBP"),
        (2, "Date"),
        (3, "USD"),
        (3, "GBP"),
    }
    assert [e["field"] for e in await refused(b"Currency,USD\n2026-11-27,1.05\n")] == ["file"]
    assert [e["field"] for e in await refused(b"Date,USD\n2026-11-27,N/A\n")] == ["file"]  # no rate at all
    assert [e["field"] for e in await refused(b"Date,USD\n2026-11-27,1.05\n2026-11-27,1.06\n")] == ["USD"]
    assert [e["field"] for e in await refused(b"\xff\xfeD", csv_headers)] == ["file"]
    # A quote so small that its rate per euro cannot even be rounded, and a cell past the csv limit.
    assert [(e["row"], e["field"]) for e in await refused(b"Date,USD\n2026-11-27,1E-60\n")] == [(1, "USD")]
    assert [e["field"] for e in await refused(b"Date,USD\n2026-11-27," + b"1" * 200_000 + b"\n")] == ["file"]
    assert [
        e["field"] for e in await refused(b"Date,USD\n2026-11-27,1.05\n", {**hr, "Content-Type": "application/json"})
    ] == ["content-type"]
    assert (await rewards.get("/exchange-rates", headers=hr)).json()["total"] == 0  # nothing of any of them
    # Rates against another base: the ECB's euro file is refused whole.
    assert (
        await rewards.put("/exchange-rates/EUR/2026-11-01", json={"rate": "1.08", "base": "USD"}, headers=hr)
    ).status_code == 201
    assert [e["field"] for e in await refused(DAILY)] == ["base"]
    assert (await rewards.get("/exchange-rates", headers=hr)).json()["total"] == 1


async def test_only_active_hr_and_admins_import_reference_rates(rewards: httpx.AsyncClient, auth: TokenFactory) -> None:
    boss = someone("Boss", "Eng")
    manager = someone("Mgr", "Eng", boss)
    me = someone("Me", "Eng", manager)
    colleague = someone("Colleague", "Eng", boss)
    gone = someone("Gone", "HR")
    await insert_people(rewards, boss, manager, me, colleague, gone)
    sessionmaker = rewards.app.state.sessionmaker  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        person = await session.get(Person, gone.id)
        assert person is not None
        person.active = False
    callers = {
        "the employee": (auth(Role.employee, person_id=me.id), 403),
        "the manager": (auth(Role.manager, person_id=manager.id), 403),
        "a skip-level": (auth(Role.manager, person_id=boss.id), 403),
        "an unrelated colleague": (auth(Role.employee, person_id=colleague.id), 403),
        "a deactivated HR person": (auth(Role.hr, person_id=gone.id), 403),
        "nobody signed in": ({}, 401),
        "HR": (auth(Role.hr), 200),
        "an admin": (auth(Role.admin), 200),
    }
    for who, (headers, expected) in callers.items():
        answer = await rewards.post(
            "/exchange-rates/reference-rates",
            content=DAILY,
            params={"dry_run": "true"},
            headers={**headers, "Content-Type": "text/csv"},
        )
        assert answer.status_code == expected, (who, answer.text)
