"""Background jobs of one service process: 202 with a job to poll, the result when it is done.

A request that checks a large file holds the event loop (and ``/healthz``) for its whole run.
A job is started by the request, which answers 202 at once; the work runs as a task (its
pure-Python parts in worker threads), and the job records its phase, row count and outcome.

Jobs live in the process that started them (the last ``KEPT_JOBS``): after a restart a
running job is gone and, its transaction never committed, nothing of it was written.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from shared.database import utcnow

logger = logging.getLogger(__name__)

KEPT_JOBS = 50


class JobStatus(StrEnum):
    running = "running"
    done = "done"
    failed = "failed"


class JobPhase(StrEnum):
    reading = "reading"
    checking = "checking"
    writing = "writing"
    finished = "finished"


class JobFailed(Exception):
    """Raised by a job's work: the job fails with this message (and ``errors``) instead of a generic one."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors


@dataclass(kw_only=True)
class Job:
    """What every job records; a kind of job adds its parameters and result and says how it reads."""

    id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_by: uuid.UUID
    started_at: datetime = field(default_factory=utcnow)
    status: JobStatus = JobStatus.running
    phase: JobPhase = JobPhase.reading
    rows: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    errors: list[dict[str, Any]] | None = None
    # The finished job as JSON, made once: a report of many rows serialised at every poll
    # would hold the event loop each time.
    body: bytes | None = None

    def read(self) -> BaseModel:
        raise NotImplementedError


J = TypeVar("J", bound=Job)


class JobRegistry(Generic[J]):
    """The jobs of one kind in one service process, and the tasks running them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._jobs: OrderedDict[uuid.UUID, J] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: uuid.UUID) -> J | None:
        return self._jobs.get(job_id)

    def start(self, job: J, work: Callable[[J], Awaitable[None]]) -> J:
        """Keep ``job`` and run ``work(job)``, which sets the job's phase, rows and result."""
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT_JOBS:
            oldest = next(iter(self._jobs.values()))
            if oldest.status is JobStatus.running:
                break
            self._jobs.popitem(last=False)
        task = asyncio.create_task(self._run(job, work), name=f"{self.kind}-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: J, work: Callable[[J], Awaitable[None]]) -> None:
        try:
            await work(job)
            job.status = JobStatus.done
        except JobFailed as exc:
            job.status, job.error, job.errors = JobStatus.failed, exc.message, exc.errors
        except Exception:
            logger.exception("%s job %s failed", self.kind, job.id)
            job.status, job.error = JobStatus.failed, "The job failed unexpectedly; nothing was written."
        finally:
            job.phase, job.finished_at = JobPhase.finished, utcnow()
        try:
            job.body = await asyncio.to_thread(lambda: job.read().model_dump_json().encode())
        except Exception:
            logger.exception("%s job %s: its answer cannot be serialised", self.kind, job.id)


def registry(state: Any, kind: str, _job_type: type[J]) -> JobRegistry[J]:
    """The process's registry of jobs of ``kind``, made on first use (``state`` is the app's state)."""
    attribute = f"{kind.replace('-', '_')}_jobs"
    jobs: JobRegistry[J] | None = getattr(state, attribute, None)
    if jobs is None:
        jobs = JobRegistry[J](kind)
        setattr(state, attribute, jobs)
    return jobs
