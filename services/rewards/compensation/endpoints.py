"""Compensation routes: HR/admin import and lists; a person may read their own current record."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from services.rewards.compensation.jobs import CompensationImportJobRead, compensation_import_jobs
from services.rewards.compensation.parsing import MAX_BYTES, check_media_type, parse
from services.rewards.compensation.repository import CompensationRepository
from services.rewards.compensation.schemas import (
    OPTIONAL_IMPORT_FIELDS,
    CompensationHistory,
    CompensationListItem,
    CompensationRead,
    ImportReport,
)
from services.rewards.compensation.service import CompensationService, today
from services.rewards.models import CompensationRecord, PayBand
from services.rewards.schemas import Currency, Gender
from shared.auth import CurrentPrincipal, HRPrincipal, Role
from shared.database import SessionDep
from shared.errors import NotFound
from shared.limits import check_json_upload, upload_route
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/compensation", tags=["compensation"])

_IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "description": "Columns/keys: person_id, currency, base_salary, grade, effective_date; optional: "
        + ", ".join(OPTIONAL_IMPORT_FIELDS)
        + ".",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        },
    }
}


def _read(record: CompensationRecord, band: PayBand, *, hr: bool = True) -> CompensationRead:
    # Gender is for HR and admins only, even for the person's own record over this API.
    return CompensationRead(
        id=record.id,
        person_id=record.person_id,
        currency=record.currency,
        base_salary=record.base_salary,
        grade=band.grade,
        pay_band_id=record.pay_band_id,
        effective_date=record.effective_date,
        created_at=record.created_at,
        job_level=record.job_level,
        job_family=record.job_family,
        worker_category=record.worker_category,
        fte=record.fte,
        employment_type=record.employment_type,
        location=record.location,
        hire_date=record.hire_date,
        variable_pay=record.variable_pay,
        gender=Gender(record.gender) if hr and record.gender is not None else None,
    )


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import compensation records (CSV or JSON, all or nothing)",
    openapi_extra={**_IMPORT_BODY, **upload_route(MAX_BYTES)},
)
async def import_compensation(
    request: Request,
    session: SessionDep,
    hr: HRPrincipal,
    dry_run: Annotated[bool, Query(description="Check every row and report, store nothing.")] = False,
) -> ImportReport:
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if "json" in content_type:
        check_json_upload(body, request.app.state.settings.max_json_depth)
    rows = parse(content_type, body)
    return await CompensationService(session).import_rows(rows, dry_run=dry_run, by=hr.person_id)


@router.post(
    "/import-jobs",
    response_model=CompensationImportJobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a compensation import in the background (for large files)",
    description="The same file and `dry_run` as `POST /compensation/import`. Answers 202 at once with the job "
    "(and its URL in `Location`); poll `GET /compensation/import-jobs/{id}` for the phase and, when `status` is "
    "`done`, the report. A file the import would refuse makes a `failed` job with its `error` and `errors`; "
    "nothing is written then. The service keeps answering while the rows are checked.",
    openapi_extra={**_IMPORT_BODY, **upload_route(MAX_BYTES)},
)
async def start_import_job(
    request: Request,
    response: Response,
    hr: HRPrincipal,
    dry_run: Annotated[bool, Query(description="Check every row and report, store nothing.")] = False,
) -> CompensationImportJobRead:
    content_type = request.headers.get("content-type", "")
    check_media_type(content_type)
    body = await request.body()
    if "json" in content_type:
        check_json_upload(body, request.app.state.settings.max_json_depth)
    job = compensation_import_jobs(request.app.state).start(content_type, body, dry_run=dry_run, by=hr.person_id)
    response.headers["Location"] = f"/compensation/import-jobs/{job.id}"
    return job.read()


@router.get(
    "/import-jobs/{job_id}", response_model=CompensationImportJobRead, summary="A background compensation import"
)
async def get_import_job(job_id: uuid.UUID, request: Request, _hr: HRPrincipal) -> CompensationImportJobRead | Response:
    job = compensation_import_jobs(request.app.state).get(job_id)
    if job is None:
        raise NotFound(f"No import job with id {job_id} (jobs are kept by the process that ran them).")
    if job.body is not None:
        return Response(job.body, media_type="application/json")
    return job.read()


@router.get("", response_model=Page[CompensationListItem], summary="Everyone's current compensation")
async def list_compensation(
    session: SessionDep,
    _hr: HRPrincipal,
    page: PageDep,
    department: Annotated[str | None, Query(description="Only this department.")] = None,
    currency: Annotated[Currency | None, Query(description="Only this ISO 4217 currency.")] = None,
) -> Page[CompensationListItem]:
    rows, total = await CompensationRepository.from_session(session).list_current(
        today=today(), limit=page.limit, offset=page.offset, department=department, currency=currency
    )
    items = [
        CompensationListItem(
            **_read(record, band).model_dump(), display_name=person.display_name, department=person.department
        )
        for record, band, person in rows
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{person_id}", response_model=CompensationRead, summary="A person's current compensation")
async def get_compensation(person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> CompensationRead:
    record, band = await CompensationService(session).current(person_id, principal)
    return _read(record, band, hr=principal.has_any(Role.hr, Role.admin))


@router.get("/{person_id}/history", response_model=CompensationHistory, summary="Every record of a person")
async def get_compensation_history(person_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> CompensationHistory:
    records = await CompensationService(session).history(person_id)
    return CompensationHistory(person_id=person_id, records=[_read(record, band) for record, band in records])
