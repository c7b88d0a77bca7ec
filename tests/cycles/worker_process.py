"""The reviews and rewards activities in a process of their own, so a test can SIGKILL it mid-cycle.

Run as ``python -m tests.cycles.worker_process``. It is what ``meritloop activities reviews``
and ``meritloop activities rewards`` run (the services' activity workers, beside the services
instead of inside them), from the ``MERITLOOP_*`` environment (Temporal address and the two
services' task queues, database URLs). ``MERITLOOP_TEST_WORKER_READY`` names a file written
once the workers run.
``MERITLOOP_TEST_SLOW_ACTIVITIES`` (seconds) makes ``create_task`` and ``update_task`` wait
that long *after* their transaction committed, so a kill lands between an activity's effect
and Temporal recording its result: the retry must then change nothing. Each such activity
appends ``<name> <task id>`` to the file ``MERITLOOP_TEST_ACTIVITY_LOG`` (when set) as it
starts waiting, so the test knows when to kill.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from temporalio import activity

from services.reviews.cycles.activities import ReviewsActivities
from services.rewards.activities import RewardsActivities
from shared.database import create_engine, create_sessionmaker
from shared.settings import Settings
from workflows.client import activity_worker, connect
from workflows.models import CreateTaskInput, TaskRef, UpdateTaskInput


class SlowReviewsActivities(ReviewsActivities):
    """The real activities, holding on to their result for a moment after committing."""

    delay: float = 0.0
    log: Path | None = None

    async def _hold(self, name: str, task_id: str) -> None:
        if self.log is not None:
            with self.log.open("a") as log:
                log.write(f"{name} {task_id}\n")
        await asyncio.sleep(self.delay)

    @activity.defn(name="reviews.create_task")
    async def create_task(self, value: CreateTaskInput) -> TaskRef:
        result = await super().create_task(value)
        await self._hold("create_task", value.task_id)
        return result

    @activity.defn(name="reviews.update_task")
    async def update_task(self, value: UpdateTaskInput) -> None:
        await super().update_task(value)
        await self._hold("update_task", value.task_id)


async def main() -> None:
    settings = Settings()
    client = await connect(settings)
    reviews = SlowReviewsActivities(create_sessionmaker(create_engine(settings.database_url("reviews"))))
    reviews.delay = float(os.environ.get("MERITLOOP_TEST_SLOW_ACTIVITIES", "0"))
    log = os.environ.get("MERITLOOP_TEST_ACTIVITY_LOG")
    reviews.log = Path(log) if log else None
    rewards = RewardsActivities.from_settings(settings)
    async with (
        activity_worker(client, settings.temporal_reviews_task_queue, reviews.all()),
        activity_worker(client, settings.temporal_rewards_task_queue, rewards.all()),
    ):
        ready = os.environ.get("MERITLOOP_TEST_WORKER_READY")
        if ready:
            await asyncio.to_thread(Path(ready).write_text, str(os.getpid()))
        await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    asyncio.run(main())
