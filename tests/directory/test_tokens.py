"""`meritloop token --email` and `meritloop tokens`: development tokens from the directory, many per process."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from typer.testing import CliRunner, Result

from meritloop.cli import app as cli
from shared.auth import Role
from shared.settings import Settings
from tests.conftest import TokenFactory
from tests.directory.test_import import SMALL_ORG, csv_bytes, post_import

pytestmark = pytest.mark.database


async def invoke(*args: str) -> Result:
    # The command runs its own event loop, so it runs beside the test's.
    return await asyncio.to_thread(CliRunner().invoke, cli, list(args))


async def test_tokens_for_a_department_carry_manager_roles_and_work(
    settings: Settings, reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    await post_import(reviews, auth(Role.hr), csv_bytes(SMALL_ORG))
    url = settings.database_url("reviews")

    minted = await invoke("tokens", "--department", "Eng", "--database-url", url)
    assert minted.exit_code == 0, minted.output
    entries = json.loads(minted.output)
    by_email = {entry["email"]: entry for entry in entries}
    assert sorted(by_email) == sorted(row[0] for row in SMALL_ORG if row[4] == "Eng")
    assert by_email["vp@example.com"]["roles"] == ["employee", "manager"]
    leaves = [entry for email, entry in by_email.items() if email != "vp@example.com"]
    assert leaves
    assert all(entry["roles"] == ["employee"] for entry in leaves)
    for entry in entries:
        me = await reviews.get(f"/people/{entry['person_id']}", headers={"Authorization": f"Bearer {entry['token']}"})
        assert me.status_code == 200, me.text
        assert me.json()["email"] == entry["email"]

    hr = await invoke("tokens", "-e", "ceo@example.com", "-r", "hr", "--database-url", url)
    assert hr.exit_code == 0, hr.output
    assert [entry["roles"] for entry in json.loads(hr.output)] == [["employee", "manager", "hr"]]


async def test_unknown_people_and_no_choice_are_refused(settings: Settings, reviews: httpx.AsyncClient) -> None:
    url = settings.database_url("reviews")
    unknown = await invoke("tokens", "-e", "nobody@example.com", "--database-url", url)
    assert unknown.exit_code == 2
    assert "nobody@example.com" in unknown.output
    nothing = await invoke("tokens", "--database-url", url)
    assert nothing.exit_code == 2
    assert "--department" in nothing.output


async def test_token_by_email(settings: Settings, reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    await post_import(reviews, auth(Role.hr), csv_bytes(SMALL_ORG))
    url = settings.database_url("reviews")
    result = await invoke("token", "--email", "vp@example.com", "-r", "manager", "--database-url", url)
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    people = await reviews.get("/people", params={"limit": 10}, headers={"Authorization": f"Bearer {token}"})
    assert people.status_code == 200
    vp = next(item for item in people.json()["items"] if item["email"] == "vp@example.com")
    mine = await reviews.get(f"/people/{vp['id']}/reports", headers={"Authorization": f"Bearer {token}"})
    assert mine.status_code == 200, mine.text
    both = await invoke("token", "7d0c1f7e-0000-4000-8000-000000000001", "--email", "vp@example.com")
    assert both.exit_code == 2
