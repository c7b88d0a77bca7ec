"""Compensation imports as background jobs: 202 with a job to poll, the report when it is done.

The request reads the file (up to the route's limit) and answers 202; parsing and checking
each row run in a worker thread, so the event loop keeps serving ``/healthz`` and other
requests; the rows are written in one transaction of the job's own, all or nothing exactly
as ``POST /compensation/import``. A file refused by that import (bad rows, unreadable file,
a concurrent import) makes a ``failed`` job with the same detail and ``errors``, and nothing
is written. Salaries are never logged or kept in the job beyond the report.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.rewards.compensation.parsing import parse
from services.rewards.compensation.schemas import ImportReport
from services.rewards.compensation.service import CompensationService, check_rows
from shared.errors import Problem
from shared.jobs import Job, JobFailed, JobPhase, JobRegistry, JobStatus, registry


class CompensationImportJobRead(BaseModel):
    id: uuid.UUID
    status: JobStatus
    phase: JobPhase = Field(description="reading the file, checking the rows, writing them, finished.")
    rows: int | None = Field(None, description="Rows in the file, once it is read.")
    dry_run: bool
    started_by: uuid.UUID
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = Field(
        None, description="Why a failed job failed: the detail `POST /compensation/import` would answer."
    )
    errors: list[dict[str, Any]] | None = Field(
        None, description="For a failed job: the offending rows and fields (`{row, field, message}`), as the import."
    )
    report: ImportReport | None = Field(None, description="When done: the report `POST /compensation/import` answers.")


@dataclass(kw_only=True)
class CompensationImportJob(Job):
    dry_run: bool
    report: ImportReport | None = None

    def read(self) -> CompensationImportJobRead:
        return CompensationImportJobRead.model_validate(self, from_attributes=True)


class CompensationImportJobs:
    """Compensation import jobs of one service process."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], jobs: JobRegistry[CompensationImportJob]
    ) -> None:
        self._sessionmaker = sessionmaker
        self._jobs = jobs

    def get(self, job_id: uuid.UUID) -> CompensationImportJob | None:
        return self._jobs.get(job_id)

    def start(self, content_type: str, content: bytes, *, dry_run: bool, by: uuid.UUID) -> CompensationImportJob:
        job = CompensationImportJob(dry_run=dry_run, started_by=by)

        async def work(job: CompensationImportJob) -> None:
            try:
                job.report = await self._import(job, content_type, content)
            except Problem as exc:
                raise JobFailed(exc.detail, exc.extensions.get("errors")) from None

        return self._jobs.start(job, work)

    async def _import(self, job: CompensationImportJob, content_type: str, content: bytes) -> ImportReport:
        raw_rows = await asyncio.to_thread(parse, content_type, content)
        job.rows, job.phase = len(raw_rows), JobPhase.checking
        # Validating each row is the pure-Python part: in a thread, so the event loop keeps serving.
        checked = await asyncio.to_thread(check_rows, raw_rows)
        del raw_rows
        async with self._sessionmaker() as session:

            def writing() -> None:
                job.phase = JobPhase.writing

            report = await CompensationService(session).import_checked(
                checked, dry_run=job.dry_run, by=job.started_by, writing=writing
            )
            await session.commit()
            return report


def compensation_import_jobs(state: Any) -> CompensationImportJobs:
    """The process's compensation import jobs (``state`` is the app's state)."""
    return CompensationImportJobs(state.sessionmaker, registry(state, "compensation-import", CompensationImportJob))
