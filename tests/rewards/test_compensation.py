"""Compensation records over HTTP: all-or-nothing import, history, who may read what."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.rewards.support import add_bands, band, import_csv, insert_people, someone, today
from tests.support.http import assert_problem, problem_fields

pytestmark = pytest.mark.database

ADA, BOB, CY = someone("Ada", "Eng"), someone("Bob", "Eng"), someone("Cy", "Sales")


@pytest.fixture
async def hr(rewards: httpx.AsyncClient, auth: TokenFactory) -> dict[str, str]:
    headers = auth(Role.hr)
    await insert_people(rewards, ADA, BOB, CY)
    await add_bands(
        rewards,
        headers,
        band("L1", "EUR", "40000", "50000", "60000"),
        band("L2", "EUR", "55000", "70000", "85000"),
        band("L1", "USD", "45000", "55000", "65000"),
    )
    return headers


async def test_a_good_file_is_imported_and_the_latest_effective_record_is_current(
    rewards: httpx.AsyncClient, hr: dict[str, str], auth: TokenFactory
) -> None:
    past, now, future = today() - timedelta(days=400), today(), today() + timedelta(days=30)
    response = await import_csv(
        rewards,
        hr,
        (ADA.id, "EUR", "48000.00", "L1", past),
        (ADA.id, "EUR", "52000.50", "L2", now),
        (ADA.id, "EUR", "60000", "L2", future),  # not current before its date
        (BOB.id, "EUR", "45000", "L1", past),
        (CY.id, "USD", "50000", "L1", past),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["dry_run"], report["applied"], report["rows"], report["created"], report["unchanged"]) == (
        False,
        True,
        5,
        5,
        0,
    )
    assert [(r["row"], r["action"]) for r in report["results"]] == [(n, "create") for n in range(1, 6)]

    current = (await rewards.get(f"/compensation/{ADA.id}", headers=hr)).json()
    assert (Decimal(current["base_salary"]), current["grade"], current["effective_date"]) == (
        Decimal("52000.50"),
        "L2",
        now.isoformat(),
    )
    history = (await rewards.get(f"/compensation/{ADA.id}/history", headers=hr)).json()
    assert [r["effective_date"] for r in history["records"]] == [d.isoformat() for d in (future, now, past)]

    everyone = (await rewards.get("/compensation", headers=hr)).json()
    assert everyone["total"] == 3
    assert [item["display_name"] for item in everyone["items"]] == ["Ada", "Bob", "Cy"]
    eng = (await rewards.get("/compensation", params={"department": "Eng", "limit": 1, "offset": 1}, headers=hr)).json()
    assert (eng["total"], [i["display_name"] for i in eng["items"]]) == (2, ["Bob"])
    usd = (await rewards.get("/compensation", params={"currency": "USD"}, headers=hr)).json()
    assert [i["person_id"] for i in usd["items"]] == [str(CY.id)]

    # Importing the same file again changes nothing and says so.
    again = await import_csv(
        rewards, hr, (ADA.id, "EUR", "52000.50", "L2", now), (BOB.id, "EUR", "45000.00", "L1", past)
    )
    assert (again.json()["created"], again.json()["unchanged"]) == (0, 2)

    # The person themself may read their current record; nobody else but HR and admins.
    own = await rewards.get(f"/compensation/{ADA.id}", headers=auth(Role.employee, person_id=ADA.id))
    assert own.status_code == 200
    assert own.json()["id"] == current["id"]
    assert (await rewards.get(f"/compensation/{ADA.id}", headers=auth(Role.admin))).status_code == 200
    for headers in (auth(Role.employee, person_id=BOB.id), auth(Role.manager)):
        assert_problem(await rewards.get(f"/compensation/{ADA.id}", headers=headers), 403)
    assert_problem(await rewards.get(f"/compensation/{ADA.id}/history", headers=auth(person_id=ADA.id)), 403)
    assert_problem(await rewards.get("/compensation", headers=auth(Role.manager)), 403)
    nobody = someone("Nobody")
    assert_problem(await rewards.get(f"/compensation/{nobody.id}", headers=hr), 404)


async def test_bad_rows_are_reported_per_row_and_field_and_nothing_is_applied(
    rewards: httpx.AsyncClient, hr: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    past = today() - timedelta(days=10)
    assert (await import_csv(rewards, hr, (BOB.id, "EUR", "45000", "L1", past))).status_code == 200
    stranger = someone("Stranger")
    caplog.set_level(logging.DEBUG)
    response = await import_csv(
        rewards,
        hr,
        (ADA.id, "EUR", "48123.45", "L1", past),  # fine on its own
        (stranger.id, "EUR", "48000", "L1", past),  # unknown person
        (CY.id, "EUR", "48000", "L9", past),  # no such band
        (CY.id, "EUR", "-5", "L1", "2024-13-01"),  # two bad fields
        (ADA.id, "EUR", "48000", "L1", past),  # same person and date as row 1
        (BOB.id, "EUR", "47777.77", "L1", past),  # changes an existing record
        ("not-a-uuid", "eur", "12.345", "", past),
        (CY.id, "EUO", "48000", "L1", past),  # three capitals, but no currency ISO 4217 knows
    )
    body = assert_problem(response, 422)
    reported = {(error["row"], error["field"]) for error in body["errors"]}
    assert reported == {
        (2, "person_id"),
        (3, "grade"),
        (4, "base_salary"),
        (4, "effective_date"),
        (5, "effective_date"),
        (6, "effective_date"),
        (7, "person_id"),
        (7, "currency"),
        (7, "base_salary"),
        (7, "grade"),
        (8, "currency"),
    }
    assert body["invalid_rows"] == 7
    assert all(error["message"] for error in body["errors"])
    # Nothing of the file was stored, not even its good first row.
    assert_problem(await rewards.get(f"/compensation/{ADA.id}", headers=hr), 404)
    assert (await rewards.get("/compensation", headers=hr)).json()["total"] == 1
    # Salaries are neither echoed back nor logged.
    for amount in ("48123.45", "47777.77", "12.345"):
        assert amount not in response.text
        assert amount not in caplog.text


async def test_dry_run_reports_without_storing(rewards: httpx.AsyncClient, hr: dict[str, str]) -> None:
    response = await import_csv(rewards, hr, (ADA.id, "EUR", "50000", "L1", today()), dry_run=True)
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["dry_run"], report["applied"], report["created"]) == (True, False, 1)
    assert (await rewards.get("/compensation", headers=hr)).json()["total"] == 0
    bad = await import_csv(rewards, hr, (ADA.id, "EUR", "50000", "L7", today()), dry_run=True)
    assert {(e["row"], e["field"]) for e in assert_problem(bad, 422)["errors"]} == {(1, "grade")}


async def test_json_files_and_file_level_problems(
    rewards: httpx.AsyncClient, hr: dict[str, str], auth: TokenFactory
) -> None:
    record = {"person_id": str(CY.id), "currency": "USD", "base_salary": "51000", "grade": "L1"}
    record["effective_date"] = today().isoformat()
    as_json = {**hr, "Content-Type": "application/json"}
    ok = await rewards.post("/compensation/import", content=json.dumps({"records": [record]}), headers=as_json)
    assert (ok.status_code, ok.json()["created"]) == (200, 1)
    bad = await rewards.post("/compensation/import", content=json.dumps([{**record, "bonus": 1}, 7]), headers=as_json)
    assert {(e["row"], e["field"]) for e in assert_problem(bad, 422)["errors"]} == {(1, "bonus"), (2, "row")}

    async def fields(content: bytes, content_type: str) -> set[str]:
        response = await rewards.post(
            "/compensation/import", content=content, headers={**hr, "Content-Type": content_type}
        )
        return problem_fields(response)

    assert await fields(b"person_id,currency,salary\n", "text/csv") == {
        "base_salary",
        "grade",
        "effective_date",
        "salary",
    }
    assert await fields(b"person_id,currency,base_salary,grade,effective_date\n", "text/csv") == {"body"}
    assert await fields(b"{not json", "application/json") == {"body"}
    assert await fields(b"<xml/>", "application/xml") == {"content-type"}
    for role in (Role.employee, Role.manager):
        response = await rewards.post(
            "/compensation/import", content=b"x", headers={**auth(role), "Content-Type": "text/csv"}
        )
        assert_problem(response, 403)
