"""People imports as background jobs: 202 with a job to poll, the report when it is done.

A 50 MB CSV took minutes to check, and a request doing that held the event loop (and
``/healthz``) all along. A job reads the file as the request, answers 202 at once, and
checks the rows in a worker thread (the pure-Python part), so the service keeps answering;
it writes in one transaction of its own, all or nothing exactly as the synchronous import.

Jobs live in the process that started them (the last ``KEPT_JOBS``): after a restart a
running job is gone and, its transaction never committed, nothing of it was written.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.reviews.directory.importer import (
    ImportFileError,
    ImportMode,
    ImportReport,
    MissingPeople,
    _apply,
    _load_directory,
    parse_records,
    plan_import,
)
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


class ImportJobRead(BaseModel):
    id: uuid.UUID
    status: JobStatus
    phase: JobPhase = Field(description="reading the file, checking the rows, writing them, finished.")
    rows: int | None = Field(None, description="Rows in the file, once it is read.")
    dry_run: bool
    mode: ImportMode
    missing: MissingPeople
    started_by: uuid.UUID
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = Field(None, description="Why a failed job failed (the file could not be read...).")
    report: ImportReport | None = Field(
        None,
        description="When done: the report the synchronous import answers. A refused all-or-nothing import "
        "is done with `applied: false` and its rejected rows.",
    )


@dataclass
class ImportJob:
    id: uuid.UUID
    dry_run: bool
    mode: ImportMode
    missing: MissingPeople
    started_by: uuid.UUID
    started_at: datetime = field(default_factory=utcnow)
    status: JobStatus = JobStatus.running
    phase: JobPhase = JobPhase.reading
    rows: int | None = None
    finished_at: datetime | None = None
    error: str | None = None
    report: ImportReport | None = None
    # The finished job as JSON, made once: a report of 100,000 rows serialised at every
    # poll would hold the event loop each time.
    body: bytes | None = None

    def read(self) -> ImportJobRead:
        return ImportJobRead.model_validate(self, from_attributes=True)


class ImportJobs:
    """The jobs of one service process, and the tasks running them."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._jobs: OrderedDict[uuid.UUID, ImportJob] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, job_id: uuid.UUID) -> ImportJob | None:
        return self._jobs.get(job_id)

    def start(
        self,
        content: bytes,
        file_format: str,
        *,
        dry_run: bool,
        mode: ImportMode,
        missing: MissingPeople,
        started_by: uuid.UUID,
    ) -> ImportJob:
        job = ImportJob(uuid.uuid4(), dry_run=dry_run, mode=mode, missing=missing, started_by=started_by)
        self._jobs[job.id] = job
        while len(self._jobs) > KEPT_JOBS:
            oldest = next(iter(self._jobs.values()))
            if oldest.status is JobStatus.running:
                break
            self._jobs.popitem(last=False)
        task = asyncio.create_task(self._run(job, content, file_format), name=f"people-import-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, job: ImportJob, content: bytes, file_format: str) -> None:
        try:
            job.report = await self._import(job, content, file_format)
            job.status = JobStatus.done
        except ImportFileError as exc:
            job.status, job.error = JobStatus.failed, f"The import file cannot be read: {exc}."
        except Exception:
            logger.exception("people import job %s failed", job.id)
            job.status, job.error = JobStatus.failed, "The import failed unexpectedly; nothing was written."
        finally:
            job.phase, job.finished_at = JobPhase.finished, utcnow()
        try:
            job.body = await asyncio.to_thread(lambda: job.read().model_dump_json().encode())
        except Exception:
            logger.exception("people import job %s: its answer cannot be serialised", job.id)

    async def _import(self, job: ImportJob, content: bytes, file_format: str) -> ImportReport:
        records, columns = await asyncio.to_thread(parse_records, content, file_format)
        del content
        job.rows, job.phase = len(records), JobPhase.checking
        async with self._sessionmaker() as session:
            directory = await _load_directory(session)
            # Pure Python over every row: in a thread, so the event loop keeps serving requests.
            outcome = await asyncio.to_thread(
                plan_import, directory, records, columns, mode=job.mode, missing=job.missing, dry_run=job.dry_run
            )
            # ``applied`` is already false for a dry run and a refused all-or-nothing import.
            if outcome.report.applied:
                job.phase = JobPhase.writing
                await _apply(session, outcome)
                await session.commit()
            return outcome.report


def import_jobs(state: Any) -> ImportJobs:
    """The process's job registry, made on first use (``state`` is the app's state)."""
    jobs: ImportJobs | None = getattr(state, "people_import_jobs", None)
    if jobs is None:
        jobs = ImportJobs(state.sessionmaker)
        state.people_import_jobs = jobs
    return jobs
