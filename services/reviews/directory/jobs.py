"""People imports as background jobs: 202 with a job to poll, the report when it is done.

A 50 MB CSV took minutes to check, and a request doing that held the event loop (and
``/healthz``) all along. A job reads the file as the request, answers 202 at once, and
checks the rows in a worker thread (the pure-Python part), so the service keeps answering;
it writes in one transaction of its own, all or nothing exactly as the synchronous import.
The registry, phases and keeping of jobs are shared (``shared.jobs``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
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
from shared.jobs import Job, JobFailed, JobPhase, JobRegistry, JobStatus, registry

__all__ = ["ImportJob", "ImportJobRead", "ImportJobs", "JobPhase", "JobStatus", "import_jobs"]


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


@dataclass(kw_only=True)
class ImportJob(Job):
    dry_run: bool
    mode: ImportMode
    missing: MissingPeople
    report: ImportReport | None = None

    def read(self) -> ImportJobRead:
        return ImportJobRead.model_validate(self, from_attributes=True)


class ImportJobs:
    """People import jobs of one service process."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], jobs: JobRegistry[ImportJob]) -> None:
        self._sessionmaker = sessionmaker
        self._jobs = jobs

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
        job = ImportJob(dry_run=dry_run, mode=mode, missing=missing, started_by=started_by)

        async def work(job: ImportJob) -> None:
            try:
                job.report = await self._import(job, content, file_format)
            except ImportFileError as exc:
                raise JobFailed(f"The import file cannot be read: {exc}.") from None

        return self._jobs.start(job, work)

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
    """The process's people import jobs (``state`` is the app's state)."""
    return ImportJobs(state.sessionmaker, registry(state, "people-import", ImportJob))
