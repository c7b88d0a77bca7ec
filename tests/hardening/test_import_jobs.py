"""People imports as background jobs: 202, a job to poll, the report when done; the service keeps answering."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shared.auth import Role
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.directory.test_import import _org_rows, csv_bytes
from tests.hardening.support import health_while
from tests.support.http import assert_problem
from tests.support.waiting import wait_until

pytestmark = pytest.mark.database

ROWS = 5_000
LARGE_ROWS = 30_000


@pytest.fixture
async def reviews(service_client: ServiceClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client("reviews") as client:
        yield client


async def start(client: httpx.AsyncClient, headers: dict[str, str], content: bytes, **params: str) -> httpx.Response:
    return await client.post(
        "/people/import-jobs", content=content, params=params, headers={**headers, "Content-Type": "text/csv"}
    )


async def finished(client: httpx.AsyncClient, headers: dict[str, str], location: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        job: dict[str, Any] = (await client.get(location, headers=headers)).json()
        return job if job["status"] != "running" else None

    return await wait_until(done, timeout=60, interval=0.1, message="the import job")


@pytest.mark.timeout(180)
async def test_a_large_import_runs_as_a_job_while_the_service_keeps_answering(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.hr)
    large = csv_bytes(_org_rows(LARGE_ROWS))

    async def run_job(content: bytes, **params: str) -> dict[str, Any]:
        response = await start(reviews, hr, content, **params)
        assert response.status_code == 202, response.text
        accepted = response.json()
        assert (accepted["status"], accepted["report"]) == ("running", None)
        assert response.headers["location"] == f"/people/import-jobs/{accepted['id']}"
        return await finished(reviews, hr, response.headers["location"])

    async def run_request() -> httpx.Response:
        return await reviews.post(
            "/people/import", content=large, params={"dry_run": "true"}, headers={**hr, "Content-Type": "text/csv"}
        )

    answered, held = await health_while(reviews, run_request)
    assert answered.status_code == 200, answered.text[:300]
    began = time.perf_counter()
    job, gap = await health_while(reviews, lambda: run_job(large, dry_run="true"))
    took = time.perf_counter() - began
    assert (job["status"], job["phase"], job["rows"], job["error"]) == ("done", "finished", LARGE_ROWS, None)
    assert job["report"]["summary"]["create"] == LARGE_ROWS
    assert job["report"]["applied"] is False
    # The request holds /healthz for its whole run (4-5 s measured on a quiet machine); the job
    # leaves it answered while it works (0.6-1.0 s gaps). Measured against the job's own length,
    # so a machine slowed by other load does not decide the outcome.
    figures = f"/healthz unanswered for {gap:.2f}s of the job's {took:.2f}s; {held:.2f}s during the request"
    # A job run on the event loop would leave /healthz unanswered for all of it; half was too tight
    # on PostgreSQL late in a CI run (1.23 s of 2.16 s, while the request held it 3.10 s).
    assert gap < took * 0.8, figures

    applied = await run_job(csv_bytes(_org_rows(ROWS)))
    assert (applied["status"], applied["report"]["applied"]) == ("done", True)
    assert applied["report"]["summary"]["create"] == ROWS
    assert (await reviews.get("/people", params={"limit": 1}, headers=hr)).json()["total"] == ROWS


async def test_a_refused_or_unreadable_import_job_writes_nothing(
    reviews: httpx.AsyncClient, auth: TokenFactory
) -> None:
    hr = auth(Role.admin)
    bad = csv_bytes([["ada@example.com", "Ada", "1", "", "", "", ""], ["not-an-email", "Bob", "2", "", "", "", ""]])
    job = await finished(reviews, hr, (await start(reviews, hr, bad)).headers["location"])
    assert job["status"] == "done"
    assert (job["report"]["applied"], job["report"]["summary"]["reject"]) == (False, 1)
    assert (await reviews.get("/people", headers=hr)).json()["total"] == 0

    unreadable = await reviews.post(
        "/people/import-jobs", content=b'{"people": 7}', headers={**hr, "Content-Type": "application/json"}
    )
    failed = await finished(reviews, hr, unreadable.headers["location"])
    assert failed["status"] == "failed"
    assert "cannot be read" in failed["error"]


async def test_only_hr_and_admins_start_and_read_import_jobs(reviews: httpx.AsyncClient, auth: TokenFactory) -> None:
    hr = auth(Role.hr)
    content = csv_bytes([["ada@example.com", "Ada", "1", "", "", "", ""]])
    location = (await start(reviews, hr, content, dry_run="true")).headers["location"]
    await finished(reviews, hr, location)
    assert (await reviews.get(location, headers=auth(Role.admin))).status_code == 200

    # A person who left: HR in the directory, deactivated.
    record = {"email": "former-hr@example.com", "display_name": "Former HR"}
    former = (await reviews.post("/people", json=record, headers=hr)).json()
    assert (await reviews.patch(f"/people/{former['id']}", json={"active": False}, headers=hr)).status_code == 200
    refused = {
        "employee": auth(Role.employee),
        "manager": auth(Role.manager),
        "deactivated hr": auth(Role.hr, person_id=uuid.UUID(former["id"])),
    }
    for who, headers in refused.items():
        assert_problem(await start(reviews, headers, content, dry_run="true"), 403)
        assert_problem(await reviews.get(location, headers=headers), 403), who
    assert_problem(await reviews.get(location, headers={}), 401)
    assert_problem(await reviews.get(f"/people/import-jobs/{uuid.uuid4()}", headers=hr), 404)
