"""Issue 15.7: docs/directory.md states what a dry run with a bad row answers, and that is what it answers."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared.auth import Role
from tests.conftest import TokenFactory
from tests.directory.test_import import SMALL_ORG, actions, counts, csv_bytes, post_import
from tests.support.http import assert_problem

pytestmark = pytest.mark.database

DIRECTORY_DOC = " ".join((Path(__file__).parents[2] / "docs" / "directory.md").read_text().split())


async def test_a_dry_run_with_a_bad_row_answers_200_as_documented(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    rows = [*SMALL_ORG, ["bad@example.com", "Bad Row", "4", "Engineer", "Eng", "999", ""]]  # unknown manager

    dry = await post_import(reviews, hr, csv_bytes(rows), dry_run=True)
    real = await post_import(reviews, hr, csv_bytes(rows))

    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert actions(report)[4] == "reject"
    assert report["summary"]["reject"] == 1
    assert (report["dry_run"], report["applied"]) == (True, False)
    assert_problem(real, 422)
    assert await counts(reviews) == (0, 0)
    assert "A dry run answers 200 even with rejected rows" in DIRECTORY_DOC
    assert "`summary.reject` counting them" in DIRECTORY_DOC
