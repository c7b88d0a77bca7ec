"""A people import's cost grows with its size, not with its square."""

from __future__ import annotations

import resource
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import Role
from tests.conftest import ServiceClientFactory, TokenFactory

pytestmark = pytest.mark.database


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


@pytest.mark.timeout(120)
async def test_one_key_repeated_in_every_row_is_reported_in_bounded_space(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    # Every row named all the others as duplicates: n reasons of n row numbers each, so a
    # 6 MiB file of one repeated e-mail took the process to 23 GB.
    rows = 20_000
    content = b"email,display_name\n" + b"same@example.com,Same\n" * rows
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    response = await reviews.post(
        "/people/import",
        content=content,
        params={"dry_run": "true"},
        headers={**auth(Role.hr), "Content-Type": "text/csv"},
    )
    took = time.perf_counter() - started
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert response.status_code == 200, response.text[:500]
    report = response.json()
    assert report["summary"]["reject"] == rows
    reasons = report["rows"][0]["reasons"]
    assert any("duplicate email" in reason and f"and {rows - 10} more" in reason for reason in reasons), reasons
    assert max(len(reason) for row in report["rows"] for reason in row["reasons"]) < 300
    assert took < 30, f"the dry run took {took:.1f}s"
    assert grown_mib < 1024, f"the process grew by {grown_mib:.0f} MiB"
