"""Bulk import of HRIS exports: dry runs, all-or-nothing, valid rows only, and a 10,000-row file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from meritloop.cli import app as cli
from services.reviews.models import OutboxEvent, Person
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

HEADER = ["email", "display_name", "employee_number", "title", "department", "manager_employee_number", "active"]


def csv_bytes(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


async def post_import(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, content_type: str = "text/csv", **params: Any
) -> httpx.Response:
    query = {key: str(value).lower() if isinstance(value, bool) else value for key, value in params.items()}
    return await client.post(
        "/people/import", content=content, params=query, headers={**headers, "Content-Type": content_type}
    )


async def counts(client: httpx.AsyncClient) -> tuple[int, int]:
    async with client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        people = await session.scalar(select(func.count()).select_from(Person)) or 0
        events = await session.scalar(select(func.count()).select_from(OutboxEvent)) or 0
    return people, events


def actions(report: dict[str, Any]) -> dict[int | None, str]:
    return {row["row"]: row["action"] for row in report["rows"]}


SMALL_ORG = [
    ["ceo@example.com", "Cee O", "1", "CEO", "Exec", "", ""],
    ["vp@example.com", "Vee P", "2", "VP", "Eng", "1", ""],
    ["dev@example.com", "Dee V", "3", "Engineer", "Eng", "2", "true"],
]


async def test_dry_run_then_import_then_changes(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    dry = await post_import(reviews, hr, csv_bytes(SMALL_ORG), dry_run=True)
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert (report["dry_run"], report["applied"]) == (True, False)
    assert actions(report) == {1: "create", 2: "create", 3: "create"}
    assert await counts(reviews) == (0, 0)

    applied = await post_import(reviews, hr, csv_bytes(SMALL_ORG))
    assert applied.status_code == 200, applied.text
    assert applied.json()["applied"] is True
    assert await counts(reviews) == (3, 3)
    people = {p["email"]: p for p in (await reviews.get("/people", headers=hr)).json()["items"]}
    assert people["dev@example.com"]["manager_id"] == people["vp@example.com"]["id"]
    assert people["vp@example.com"]["manager_id"] == people["ceo@example.com"]["id"]
    assert people["dev@example.com"]["employee_number"] == "3"

    changed = [
        SMALL_ORG[0],
        ["vp@example.com", "Vee P", "2", "SVP", "Eng", "1", ""],  # new title
        ["dev@example.com", "Dee V", "3", "Engineer", "Eng", "2", "false"],  # leaves
    ]
    second = await post_import(reviews, hr, csv_bytes(changed), dry_run=True)
    rows = {row["row"]: row for row in second.json()["rows"]}
    assert (rows[1]["action"], rows[2]["action"], rows[3]["action"]) == ("unchanged", "update", "deactivate")
    assert rows[2]["changes"] == ["title"]
    await post_import(reviews, hr, csv_bytes(changed))
    assert await counts(reviews) == (3, 5)
    vp = (await reviews.get(f"/people/{people['vp@example.com']['id']}", headers=hr)).json()
    assert (vp["title"], vp["version"]) == ("SVP", 2)
    dev = (await reviews.get(f"/people/{people['dev@example.com']['id']}", headers=hr)).json()
    assert dev["active"] is False
    assert dev["deactivated_at"] is not None

    # A full export without the VP: missing=deactivate deactivates them.
    full = await post_import(reviews, hr, csv_bytes([SMALL_ORG[0], changed[2]]), missing="deactivate")
    assert full.status_code == 200, full.text
    missing_rows = [row for row in full.json()["rows"] if row["row"] is None]
    assert [(row["key"], row["action"]) for row in missing_rows] == [("vp@example.com", "deactivate")]
    assert (await reviews.get(f"/people/{vp['id']}", headers=hr)).json()["active"] is False


async def test_bad_rows_are_rejected_and_nothing_is_applied(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    rows = [
        ["ok@example.com", "Okay", "10", "", "", "", ""],
        ["orphan@example.com", "Orphan", "11", "", "", "999", ""],  # unknown manager
        ["a@example.com", "A", "12", "", "", "13", ""],  # a cycle: 12 -> 13 -> 12
        ["b@example.com", "B", "13", "", "", "12", ""],
        ["dup@example.com", "Dup One", "14", "", "", "", ""],  # duplicate email
        ["DUP@example.com", "Dup Two", "15", "", "", "", ""],
        ["", "No Email", "16", "", "", "", ""],  # missing required value
        ["self@example.com", "Self", "17", "", "", "17", ""],  # own manager
        ["late@example.com", "Late", "18", "", "", "11", ""],  # reports to a rejected row
    ]
    response = await post_import(reviews, hr, csv_bytes(rows))
    body = assert_problem(response, 422)
    report = body["report"]
    assert report["applied"] is False
    by_row = {row["row"]: row for row in report["rows"]}
    assert by_row[1]["action"] == "create"
    assert "unknown manager '999'" in by_row[2]["reasons"]
    assert any("manager cycle" in reason for reason in by_row[3]["reasons"])
    assert any("manager cycle" in reason for reason in by_row[4]["reasons"])
    assert any("duplicate email" in reason for reason in by_row[5]["reasons"])
    assert any("duplicate email" in reason for reason in by_row[6]["reasons"])
    assert by_row[7]["reasons"] == ["email: required"]
    assert by_row[8]["reasons"] == ["a person cannot be their own manager"]
    assert any("rejected" in reason for reason in by_row[9]["reasons"])
    assert report["summary"] == {"create": 1, "update": 0, "deactivate": 0, "unchanged": 0, "reject": 8}
    assert {error["field"] for error in body["errors"]} == {f"row {n}" for n in range(2, 10)}
    assert await counts(reviews) == (0, 0)

    # A missing required column rejects every row.
    no_email = await post_import(reviews, hr, csv_bytes([["Someone"]], header=["display_name"]))
    assert assert_problem(no_email, 422)["report"]["rows"][0]["reasons"] == ["missing required column 'email'"]

    # With mode=valid_rows only the valid row goes in, and the report says so.
    partial = await post_import(reviews, hr, csv_bytes(rows), mode="valid_rows")
    assert partial.status_code == 200, partial.text
    assert partial.json()["applied"] is True
    assert await counts(reviews) == (1, 1)


async def test_existing_people_keys_and_managers(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    boss = (
        await reviews.post("/people", json={"email": "boss@example.com", "display_name": "Boss"}, headers=hr)
    ).json()
    data: list[dict[str, Any]] = [
        {"email": "new@example.com", "displayName": "New", "managerEmail": "BOSS@example.com", "active": True},
        {"email": "boss@example.com", "display_name": "Boss", "manager_email": "new@example.com"},  # cycle with row 1
        {"email": "x@example.com", "given_name": "Ex", "family_name": "Ample", "manager_id": boss["id"]},
    ]
    response = await post_import(reviews, hr, json.dumps({"people": data}).encode(), "application/json", dry_run=True)
    report = response.json()
    assert [row["action"] for row in report["rows"]] == ["reject", "reject", "create"]
    assert "boss@example.com" in report["rows"][0]["reasons"][0]

    data[1]["manager_email"] = ""
    response = await post_import(reviews, hr, json.dumps(data).encode(), "application/json")
    assert response.status_code == 200, response.text
    assert [row["action"] for row in response.json()["rows"]] == ["create", "unchanged", "create"]
    people = {p["email"]: p for p in (await reviews.get("/people", headers=hr)).json()["items"]}
    assert people["x@example.com"]["display_name"] == "Ex Ample"
    assert people["new@example.com"]["manager_id"] == boss["id"]

    # An address that belongs to someone else cannot be taken by another row's person.
    clash = [{"email": "new@example.com", "external_id": "hr-1"}, {"email": "x@example.com", "external_id": "hr-1"}]
    report = (await post_import(reviews, hr, json.dumps(clash).encode(), "application/json", dry_run=True)).json()
    assert all(row["action"] == "reject" for row in report["rows"])


async def test_multipart_upload_and_permissions(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    files = {"file": ("people.csv", csv_bytes(SMALL_ORG[:1]), "text/csv")}
    denied = await reviews.post("/people/import", files=files, headers=auth(Role.employee))
    assert_problem(denied, 403)
    response = await reviews.post("/people/import", files=files, headers=auth(Role.admin))
    assert response.status_code == 200, response.text
    assert actions(response.json()) == {1: "create"}
    garbage = await post_import(reviews, auth(Role.hr), b"[1, 2", "application/json")
    assert "cannot be read" in assert_problem(garbage, 400)["detail"]


def _org_rows(count: int) -> list[list[str]]:
    rows = []
    for index in range(1, count + 1):
        manager = "" if index == 1 else str(index // 4 or 1)  # a 4-ary tree, about 7 levels deep
        rows.append(
            [f"person{index}@example.com", f"Person {index}", str(index), "Staff", f"D{index % 17}", manager, ""]
        )
    return rows


async def test_ten_thousand_rows_in_one_go(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    content = csv_bytes(_org_rows(10_000))
    started = time.perf_counter()
    response = await post_import(reviews, hr, content)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text[:500]
    assert response.json()["summary"]["create"] == 10_000
    assert await counts(reviews) == (10_000, 10_000)
    assert elapsed < 30, f"10,000 rows took {elapsed:.1f}s"

    people = (await reviews.get("/people", params={"limit": 1, "department": "D1"}, headers=hr)).json()
    assert people["total"] == len([i for i in range(1, 10_001) if i % 17 == 1])
    top = (
        await reviews.get(
            "/scim/v2/Users",
            params={"filter": 'userName eq "person1@example.com"'},
            headers={"Authorization": "Bearer scim-provisioning-token-for-tests-0123456789"},
        )
    ).json()
    top_id = top["Resources"][0]["id"]
    everyone = (await reviews.get(f"/people/{top_id}/reports", params={"depth": "all", "limit": 5}, headers=hr)).json()
    assert everyone["total"] == 9_999

    again = await post_import(reviews, hr, content, dry_run=True)
    assert again.json()["summary"]["unchanged"] == 10_000


async def test_cli_import(settings: Settings, reviews: httpx.AsyncClient, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(csv_bytes(SMALL_ORG))
    url = settings.database_url("reviews")
    runner = CliRunner()

    async def invoke(*args: str) -> Result:
        # The command runs its own event loop, so it runs beside the test's.
        return await asyncio.to_thread(
            runner.invoke, cli, ["people", "import", str(path), "--database-url", url, *args]
        )

    dry = await invoke("--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "create 3" in dry.output
    assert "nothing written" in dry.output
    done = await invoke("--report", str(tmp_path / "r"))
    assert done.exit_code == 0, done.output
    assert "applied" in done.output
    assert json.loads((tmp_path / "r").read_text())["summary"]["create"] == 3
    assert await counts(reviews) == (3, 3)
    path.write_bytes(csv_bytes([["bad@example.com", "Bad", "9", "", "", "404", ""]]))
    refused = await invoke()
    assert refused.exit_code == 1
    assert "unknown manager '404'" in refused.output


async def test_moving_a_manager_moves_their_team(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    await post_import(reviews, hr, csv_bytes(SMALL_ORG))
    # A new CTO under the CEO, and the VP (with the developer below) moved under the CTO.
    moved = [
        ["cto@example.com", "Cee T", "4", "CTO", "Eng", "1", ""],
        ["vp@example.com", "Vee P", "2", "VP", "Eng", "4", ""],
    ]
    response = await post_import(reviews, hr, csv_bytes(moved))
    assert [row["action"] for row in response.json()["rows"]] == ["create", "update"]
    people = {p["email"]: p for p in (await reviews.get("/people", headers=hr)).json()["items"]}
    below_cto = await reviews.get(
        f"/people/{people['cto@example.com']['id']}/reports", params={"depth": "all"}, headers=hr
    )
    assert [(item["email"], item["level"]) for item in below_cto.json()["items"]] == [
        ("vp@example.com", 1),
        ("dev@example.com", 2),
    ]
    chain = (await reviews.get(f"/people/{people['dev@example.com']['id']}/managers", headers=hr)).json()
    assert [item["email"] for item in chain] == ["vp@example.com", "cto@example.com", "ceo@example.com"]
    assert people["dev@example.com"]["version"] == 1  # only its place in the tree moved: no new version


async def test_imported_events_are_the_envelopes_a_single_change_would_write(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    """The importer serialises its envelopes without models: they must parse back as the models say."""
    from services.reviews.events import person_event_data
    from shared.events import CloudEvent
    from shared.people import PERSON_DEACTIVATED, PERSON_UPSERTED, PersonEventData

    rows = [*SMALL_ORG, ["gone@example.com", "Gone", "4", "Engineer", "Eng", "2", "false"]]
    response = await post_import(reviews, auth(Role.hr), csv_bytes(rows))
    assert response.status_code == 200, response.text
    async with reviews.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        people = {person.id: person for person in await session.scalars(select(Person))}
        outbox = list(await session.scalars(select(OutboxEvent)))
    assert len(outbox) == len(people) == 4
    for row in outbox:
        event = CloudEvent.from_bytes(row.payload.encode())
        person = people[PersonEventData.model_validate(event.data).id]
        assert event.id == row.id
        assert event.type == row.subject == (PERSON_UPSERTED if person.active else PERSON_DEACTIVATED)
        assert event.source == "/meritloop/reviews"
        assert event.subject == str(person.id)
        assert event.time == row.created_at
        assert event.data == person_event_data(person)
