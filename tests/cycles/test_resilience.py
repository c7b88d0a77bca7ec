"""A review cycle survives a killed worker and an outage of the reviews database.

Both tests run a small cycle (six participants) on the real Temporal dev server, NATS, the
reviews and rewards apps and the real activities, then check the promises of the activity
contracts: every task exists exactly once in the inbox, ``task.created`` is published once
per task, and the cycle still closes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from services.reviews.cycles.activities import ReviewsActivities
from services.rewards.activities import RewardsActivities
from shared.database import create_engine, create_sessionmaker, is_sqlite, utcnow
from shared.events import CloudEvent
from shared.settings import Settings
from tests.conftest import ServiceClientFactory, TokenFactory
from tests.cycles.conftest import WorkerFactory
from tests.cycles.support import (
    TASK_CREATED,
    Org,
    assert_unique_created,
    expected_task_ids,
    inbox_counts,
    inbox_rows,
    phase_deadlines,
    reviews_events,
)
from tests.support.waiting import wait_until
from workflows.client import activity_worker, connect
from workflows.models import CreateTaskInput, RecordAndCreateTask, TaskRef, UpdateTaskInput

pytestmark = pytest.mark.database

ROOT = Path(__file__).resolve().parents[2]
TASK_STEPS = ("self_assessment", "manager_review", "pay_review", "acknowledgement")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Updates that a dead worker cannot answer give up after 5 s (503) instead of 20 s.

    The activities run beside the services (``meritloop activities``, here a process or the
    test's own workers), not in their lifespan, so the test can kill or break them.
    """
    return settings.model_copy(update={"cycle_update_timeout": 5.0, "temporal_activity_worker": False})


# --- the services' activities in a process of their own ------------------------------------


@contextmanager
def worker_process(
    settings: Settings, tmp_path: Path, *, slow: float = 0.0, activity_log: Path | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m tests.cycles.worker_process`` on the test's activity queues; killed at the end."""
    ready = tmp_path / f"worker-{uuid.uuid4().hex[:8]}.ready"
    env = {
        **os.environ,
        "MERITLOOP_ENVIRONMENT": "test",
        "MERITLOOP_DATA_DIR": str(tmp_path),
        "MERITLOOP_TEMPORAL_ADDRESS": settings.temporal_address,
        "MERITLOOP_TEMPORAL_REVIEWS_TASK_QUEUE": settings.temporal_reviews_task_queue,
        "MERITLOOP_TEMPORAL_REWARDS_TASK_QUEUE": settings.temporal_rewards_task_queue,
        "MERITLOOP_REVIEWS_DATABASE_URL": settings.database_url("reviews"),
        "MERITLOOP_REWARDS_DATABASE_URL": settings.database_url("rewards"),
        "MERITLOOP_TEST_WORKER_READY": str(ready),
        "MERITLOOP_TEST_SLOW_ACTIVITIES": str(slow),
        "MERITLOOP_TEST_ACTIVITY_LOG": str(activity_log or ""),
    }
    log = (tmp_path / f"{ready.stem}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.cycles.worker_process"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists():
            assert process.poll() is None, f"worker exited with {process.returncode}"
            assert time.monotonic() < deadline, "worker not ready in 30 s"
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


async def _submit_until_done(org: Org, task: dict[str, Any]) -> None:
    """Submit until the workflow has it: 200, or 409 task_done when an earlier try got through."""

    async def attempt() -> bool:
        response = await org.submit(task)
        if response.status_code == 200:
            return True
        if response.status_code == 409 and response.json().get("reason") == "task_done":
            return True
        assert response.status_code == 503, response.text  # the worker is not back yet
        return False

    await wait_until(attempt, timeout=60, interval=0.2, message=f"{task['id']} submitted")


async def _check_exactly_once(org: Org, settings: Settings, cycle: str, people: int) -> list[CloudEvent]:
    expected = expected_task_ids(cycle, org.people, TASK_STEPS)
    assert len(expected) == 4 * people

    events = await _relayed(settings, expected, completed=4 * people)
    assert_unique_created(events, expected)
    completed = [str(e.data["task_id"]) for e in events if e.type == "meritloop.reviews.task.completed"]
    assert Counter(completed) == dict.fromkeys(expected, 1), Counter(completed)
    rows = await inbox_rows(org, cycle, expected)
    assert {task_id: row["status"] for task_id, row in rows.items()} == dict.fromkeys(expected, "done")
    counts = await inbox_counts(org, cycle)
    assert counts == {step: {"done": people} for step in TASK_STEPS}, counts  # no row beyond the expected ones
    return events


async def _relayed(settings: Settings, expected: set[str], *, completed: int) -> list[CloudEvent]:
    """The reviews stream once every expected task's creation and ``completed`` completions are on it."""
    seen: list[str] = []

    async def probe() -> list[CloudEvent] | None:
        events = await reviews_events(settings)
        created = {str(e.data["task_id"]) for e in events if e.type == TASK_CREATED}
        done = sum(1 for e in events if e.type == "meritloop.reviews.task.completed")
        seen[:] = [f"{done} completed; task.created missing for {sorted(expected - created)}"]
        return events if expected <= created and done >= completed else None

    try:
        found: list[CloudEvent] = await wait_until(probe, timeout=30, interval=0.2, message="events relayed")
    except AssertionError as error:
        raise AssertionError(f"{error}: {seen}") from None
    return found


# --- 1. the worker is killed mid-cycle ----------------------------------------------------


async def test_worker_killed_mid_cycle(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    tmp_path: Path,
    cycle_worker: WorkerFactory,
) -> None:
    """SIGKILL the activities' process while completions are in flight; a new one finishes the cycle.

    The first activities' process holds each ``create_task``/``update_task`` result for 0.4 s after its
    transaction committed, so the kill lands between an activity's effect and Temporal
    recording it: those activities time out (start-to-close, 30 s: they do not heartbeat)
    and run again on the second worker, where the stored idempotency key makes them no-ops.
    """
    async with service_client("reviews") as reviews, service_client("rewards") as rewards, cycle_worker():
        org = await Org(reviews, rewards, auth).build(reports=5)
        held = tmp_path / "held-activities.log"
        with worker_process(settings, tmp_path, slow=1.0, activity_log=held) as first:
            cycle = await org.launch()
            selfs = await org.wait_tasks(cycle, "self_assessment", 6)
            for task in selfs[:2]:
                await org.submit_ok(task)
            in_flight = [asyncio.create_task(org.submit(task)) for task in selfs[2:]]
            pending = {f"update_task {task['id']}" for task in selfs[2:]}

            def completion_committed() -> bool:
                return bool(held.exists() and pending & set(held.read_text().splitlines()))

            # Kill as soon as one completion is committed and its activity not yet answered.
            await wait_until(completion_committed, timeout=10, interval=0.01, message="a completion in flight")
            os.kill(first.pid, signal.SIGKILL)
            first.wait()
        with worker_process(settings, tmp_path):
            answers = await asyncio.gather(*in_flight)
            # A completion is answered before its update_task activity runs (the API records it
            # too), so most were answered already; one the dead process never took is a 503.
            assert all(r.status_code in (200, 409, 503) for r in answers), [r.text for r in answers]
            for task in selfs[2:]:
                await _submit_until_done(org, task)
            await org.finish_from_manager_review(cycle, 6)
            await _check_exactly_once(org, settings, cycle, 6)


# --- 2. the reviews database goes away and the reviews app restarts -------------------------


class FlakyReviewsActivities(ReviewsActivities):
    """The real activities, with two faults a restart of the reviews side causes.

    * ``outage()``: the activities' sessionmaker points at a database that cannot be opened
      (a missing SQLite directory, or a PostgreSQL port nobody listens on): every activity
      fails with the driver's real connection error until ``restore()``.
    * ``lose_result``: task ids whose ``create_task`` commits and then fails, as if the
      process died between its commit and its answer; Temporal retries it.
    """

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], unreachable: str) -> None:
        super().__init__(sessionmaker)
        self.healthy = sessionmaker
        self.unreachable = create_sessionmaker(create_engine(unreachable))
        self.lose_result: set[str] = set()
        self.lost: set[str] = set()
        self.failures: Counter[str] = Counter()

    def outage(self) -> None:
        self.sessionmaker = self.unreachable

    def restore(self) -> None:
        self.sessionmaker = self.healthy

    @activity.defn(name="reviews.create_task")
    async def create_task(self, value: CreateTaskInput) -> TaskRef:
        try:
            result = await super().create_task(value)
        except Exception:
            self.failures[value.step.value] += 1
            raise
        if value.task_id in self.lose_result and value.task_id not in self.lost:
            self.lost.add(value.task_id)
            raise RuntimeError("the reviews side died after committing the task")
        return result

    @activity.defn(name="reviews.record_and_create_task")
    async def record_and_create_task(self, value: RecordAndCreateTask) -> TaskRef:
        # Since record-completion-with-next-task, a manager review is created together with the
        # record of the self-assessment's completion; in an outage the record fails first.
        try:
            return await super().record_and_create_task(value)
        except Exception:
            self.failures[value.task.step.value] += 1
            raise

    @activity.defn(name="reviews.update_task")
    async def update_task(self, value: UpdateTaskInput) -> None:
        try:
            await super().update_task(value)
        except Exception:
            self.failures["update_task"] += 1
            raise


def _unreachable_url(settings: Settings, tmp_path: Path) -> str:
    if is_sqlite(settings.database_url("reviews")):
        return f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'reviews.db'}"
    return "postgresql+asyncpg://postgres@127.0.0.1:9/unreachable"


async def test_reviews_outage_between_activity_and_retry(
    service_client: ServiceClientFactory,
    auth: TokenFactory,
    settings: Settings,
    tmp_path: Path,
    cycle_worker: WorkerFactory,
) -> None:
    """The reviews side restarts while the workflows create the manager-review tasks.

    What "service restart" means here: the reviews activities run beside the reviews app (as
    ``meritloop activities reviews`` does; here the test's own worker, so it can break them)
    and write the reviews database; the reviews *app* serves the inbox and relays the outbox
    to NATS. A restart of the reviews service is therefore (a) its database being
    unreachable for the activities and (b) the app going down and coming back (its lifespan
    exits, a new app starts on the same database). The self-assessment
    deadline passes during the outage, so the expiry of the unanswered task and the
    creation of every manager-review task fail and are retried by Temporal once the
    database is back; two creations also commit and then fail, so their retries find the
    task already there. Nothing is lost and nothing is created or announced twice.
    """
    reviews_settings = settings.database_url("reviews")
    activities = FlakyReviewsActivities(
        create_sessionmaker(create_engine(reviews_settings)), _unreachable_url(settings, tmp_path)
    )
    async with service_client("rewards") as rewards, cycle_worker(), _activities(settings, activities):
        async with service_client("reviews") as reviews:
            org = await Org(reviews, rewards, auth).build(reports=5)
            self_due = utcnow() + timedelta(seconds=8)
            deadlines = phase_deadlines(utcnow(), self_assessment=self_due)
            cycle = await org.launch(deadlines=deadlines, grace_hours=0)
            selfs = await org.wait_tasks(cycle, "self_assessment", 6)
            late = next(task for task in selfs if task["person_id"] == org.manager)  # answered by nobody
            managers = {t["person_id"]: f"{cycle}:{t['person_id']}:manager_review:1" for t in selfs}
            activities.lose_result = set(list(managers.values())[:2])
            for task in selfs:
                if task is not late:
                    await org.submit_ok(task)
            activities.outage()
        # The reviews app is down and its database unreachable while the deadline passes.
        remaining = (self_due - utcnow()).total_seconds()
        await asyncio.sleep(max(remaining, 0) + 3)
        assert activities.failures["manager_review"] > 0, activities.failures
        assert activities.failures["update_task"] > 0, activities.failures  # the expiry of the late task
        activities.restore()
        async with service_client("reviews") as reviews:
            org.reviews = reviews
            manager_tasks = await org.wait_tasks(cycle, "manager_review", 6, timeout=40)
            assert {t["id"] for t in manager_tasks} == set(managers.values())
            assert activities.lost == activities.lose_result
            expired = (await reviews.get(f"/tasks/{late['id']}", headers=org.hr)).json()["task"]
            assert expired["status"] == "expired"
            submitted_late = await org.submit(late)
            assert submitted_late.status_code == 409, submitted_late.text
            assert submitted_late.json()["reason"] == "too_late"
            await org.finish_from_manager_review(cycle, 6)

            expected = expected_task_ids(cycle, org.people, TASK_STEPS)

            events = await _relayed(settings, expected, completed=4 * 6 - 1)
            assert_unique_created(events, expected)
            expired_events = [e for e in events if e.type == "meritloop.reviews.task.expired"]
            assert [e.data["task_id"] for e in expired_events] == [late["id"]]
            rows = await inbox_rows(org, cycle, expected)
            statuses = Counter(row["status"] for row in rows.values())
            assert statuses == {"done": 4 * 6 - 1, "expired": 1}
            counts = await inbox_counts(org, cycle)
            assert sum(sum(by_status.values()) for by_status in counts.values()) == 4 * 6, counts
    await activities.healthy.kw["bind"].dispose()
    await activities.unreachable.kw["bind"].dispose()


@asynccontextmanager
async def _activities(settings: Settings, reviews: ReviewsActivities) -> AsyncIterator[None]:
    """The reviews activities given, and the rewards service's, on the test's activity queues."""
    client = await connect(settings)
    rewards = RewardsActivities.from_settings(settings)
    async with (
        activity_worker(client, settings.temporal_reviews_task_queue, reviews.all()),
        activity_worker(client, settings.temporal_rewards_task_queue, rewards.all()),
    ):
        yield
    await rewards.sessionmaker.kw["bind"].dispose()
