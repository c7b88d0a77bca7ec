"""HTTP routes of the reviews service: the people directory."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from starlette.datastructures import UploadFile

from services.reviews.directory.importer import (
    ImportFileError,
    ImportMode,
    ImportReport,
    MissingPeople,
    detect_format,
    import_people,
    parse_records,
)
from services.reviews.directory.jobs import ImportJobRead, import_jobs
from services.reviews.directory.schemas import (
    ManagerRead,
    OrgUnit,
    PersonCreate,
    PersonRead,
    PersonRecord,
    PersonUpdate,
    ReportRead,
    ReportsDepth,
)
from services.reviews.directory.service import SEARCH_MAX, SEARCH_MIN, PeopleService, parse_etag
from shared.auth import CurrentPrincipal, HRPrincipal, Principal, Role
from shared.database import SessionDep
from shared.errors import BadRequest, NotFound, ValidationFailed
from shared.limits import check_json_upload, upload_route
from shared.openapi import problems
from shared.pagination import Page, PageDep
from shared.people import PeopleSync

router = APIRouter(prefix="/people", tags=["directory"])
org_router = APIRouter(tags=["directory"])

IfMatch = Annotated[str | None, Header(alias="If-Match", description='Version to change, W/"<n>" (optional).')]


def _view(principal: Principal, person: object) -> PersonRead | PersonRecord:
    """HR and admins see the whole record; everyone else the directory basics."""
    if principal.has_any(Role.hr, Role.admin):
        return PersonRecord.model_validate(person)
    return PersonRead.model_validate(person)


@router.post(
    "",
    response_model=PersonRecord,
    status_code=status.HTTP_201_CREATED,
    summary="Add a person",
    responses=problems(409),
)
async def create_person(data: PersonCreate, session: SessionDep, _hr: HRPrincipal) -> PersonRecord:
    person = await PeopleService(session).create(data)
    return PersonRecord.model_validate(person)


class ImportRefused(ValidationFailed):
    """All or nothing, and some rows were rejected: nothing was written."""

    def __init__(self, report: ImportReport) -> None:
        rejected = [row for row in report.rows if row.action == "reject"]
        errors = [{"field": f"row {row.row}", "message": "; ".join(row.reasons)} for row in rejected[:100]]
        super().__init__(
            f"{len(rejected)} row(s) rejected; nothing was imported (see report, or use mode=valid_rows).", errors
        )
        self.extensions["report"] = report.model_dump(mode="json")


async def _read_import_file(request: Request) -> tuple[bytes, str]:
    """The file of an import request (raw body or multipart ``file``) and its format."""
    content_type = request.headers.get("content-type", "")
    filename: str | None = None
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ValidationFailed.field("file", "a multipart import needs a 'file' field")
        content, filename = await upload.read(), upload.filename
        content_type = upload.content_type or ""
    else:
        content = await request.body()
    file_format = detect_format(content_type, filename)
    if file_format == "json":
        check_json_upload(content, request.app.state.settings.max_json_depth, field="import file")
    return content, file_format


@router.post(
    "/import-jobs",
    response_model=ImportJobRead,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start a people import in the background (for large files)",
    description="The same file and parameters as `POST /people/import`. Answers 202 at once with the job "
    "(and its URL in `Location`); poll `GET /people/import-jobs/{id}` for the phase and, when `status` is "
    "`done`, the report. The service keeps answering while the rows are checked.",
    openapi_extra=upload_route(),
)
async def start_import_job(
    request: Request,
    response: Response,
    hr: HRPrincipal,
    dry_run: Annotated[bool, Query(description="Only report what would happen.")] = False,
    mode: Annotated[ImportMode, Query(description="all_or_nothing, or apply the valid rows only.")] = (
        ImportMode.all_or_nothing
    ),
    missing: Annotated[
        MissingPeople, Query(description="deactivate: people absent from the file (a full export) are deactivated.")
    ] = MissingPeople.keep,
) -> ImportJobRead:
    content, file_format = await _read_import_file(request)
    job = import_jobs(request.app.state).start(
        content, file_format, dry_run=dry_run, mode=mode, missing=missing, started_by=hr.person_id
    )
    response.headers["Location"] = f"/people/import-jobs/{job.id}"
    return job.read()


@router.get("/import-jobs/{job_id}", response_model=ImportJobRead, summary="A background people import")
async def get_import_job(job_id: uuid.UUID, request: Request, _hr: HRPrincipal) -> ImportJobRead | Response:
    job = import_jobs(request.app.state).get(job_id)
    if job is None:
        raise NotFound(f"No import job with id {job_id} (jobs are kept by the process that ran them).")
    if job.body is not None:
        return Response(job.body, media_type="application/json")
    return job.read()


@router.post(
    "/import",
    response_model=ImportReport,
    summary="Import people from an HRIS export (CSV or JSON)",
    responses=problems(400),
    description='Body: `text/csv`, `application/json` (a list of people or `{"people": [...]}`), or '
    "`multipart/form-data` with a `file` field. The report lists every row: create, update, deactivate, "
    "unchanged or reject (with reasons). All or nothing unless `mode=valid_rows`; `dry_run=true` writes nothing.",
    openapi_extra=upload_route(),
)
async def import_file(
    request: Request,
    session: SessionDep,
    _hr: HRPrincipal,
    dry_run: Annotated[bool, Query(description="Only report what would happen.")] = False,
    mode: Annotated[ImportMode, Query(description="all_or_nothing, or apply the valid rows only.")] = (
        ImportMode.all_or_nothing
    ),
    missing: Annotated[
        MissingPeople, Query(description="deactivate: people absent from the file (a full export) are deactivated.")
    ] = MissingPeople.keep,
) -> ImportReport:
    content, file_format = await _read_import_file(request)
    try:
        records, columns = parse_records(content, file_format)
    except ImportFileError as exc:
        raise BadRequest(f"The import file cannot be read: {exc}.") from None
    report = await import_people(session, records, columns, dry_run=dry_run, mode=mode, missing=missing)
    if report.rejected and mode is ImportMode.all_or_nothing and not dry_run:
        raise ImportRefused(report)
    return report


# A page of names at once (web pages name many people) without a URL too long for proxies.
MAX_IDS = 200


@router.get("", response_model=Page[PersonRecord] | Page[PersonRead], summary="The directory")
async def list_people(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    active: Annotated[bool | None, Query(description="Only active (or inactive) people.")] = None,
    department: Annotated[str | None, Query(description="Only this department.")] = None,
    organization: Annotated[str | None, Query(description="Only this organization.")] = None,
    division: Annotated[str | None, Query(description="Only this division.")] = None,
    location: Annotated[str | None, Query(description="Only this location (exact match).")] = None,
    person_id: Annotated[
        list[uuid.UUID] | None,
        Query(alias="id", max_length=MAX_IDS, description=f"Only these people (at most {MAX_IDS}; repeat it)."),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=SEARCH_MIN,
            max_length=SEARCH_MAX,
            description=f"Only people whose display name or e-mail address contains this text, in any case "
            f"({SEARCH_MIN} to {SEARCH_MAX} characters, spaces at either end left out, no control characters; "
            "% and _ are plain characters). HR and admins match every address of a person, everyone else "
            "the primary one: the addresses they see.",
        ),
    ] = None,
) -> Page[PersonRecord] | Page[PersonRead]:
    whole_record = principal.has_any(Role.hr, Role.admin)
    rows, total = await PeopleService(session).directory(
        limit=page.limit,
        offset=page.offset,
        q=q,
        every_address=whole_record,
        active=active,
        department=department,
        organization=organization,
        division=division,
        location=location,
        ids=person_id,
    )
    if whole_record:
        return Page[PersonRecord](
            items=[PersonRecord.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
        )
    return Page[PersonRead](
        items=[PersonRead.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/sync", response_model=PeopleSync, summary="The directory's change watermark")
async def people_sync(session: SessionDep, _principal: CurrentPrincipal) -> PeopleSync:
    """After an import or any change: goals, feedback and rewards have caught up when their
    ``GET /people/sync`` answers the same ``people`` and ``versions`` as this."""
    people, versions, changed = await PeopleService(session).people.sync()
    return PeopleSync(people=people, versions=versions, last_synced_at=changed)


@router.get("/{person_id}", response_model=PersonRecord | PersonRead, summary="One person")
async def get_person(
    person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> PersonRecord | PersonRead:
    return _view(principal, await PeopleService(session).get(person_id))


@router.patch(
    "/{person_id}", response_model=PersonRecord, summary="Change or deactivate a person", responses=problems(409)
)
async def update_person(
    person_id: uuid.UUID, data: PersonUpdate, session: SessionDep, _hr: HRPrincipal, if_match: IfMatch = None
) -> PersonRecord:
    person = await PeopleService(session).update(person_id, data, expected_version=parse_etag(if_match))
    return PersonRecord.model_validate(person)


@router.get("/{person_id}/reports", response_model=Page[ReportRead], summary="Direct reports, or everyone below")
async def list_reports(
    person_id: uuid.UUID,
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    depth: Annotated[ReportsDepth, Query(description="direct reports only, or all levels below.")] = (
        ReportsDepth.direct
    ),
    active: Annotated[bool | None, Query(description="Only active (or inactive) people.")] = None,
) -> Page[ReportRead]:
    rows, total = await PeopleService(session).reports(
        person_id, all_levels=depth is ReportsDepth.all, limit=page.limit, offset=page.offset, active=active
    )
    items = [ReportRead.model_validate({**PersonRead.model_validate(p).model_dump(), "level": lv}) for p, lv in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{person_id}/managers", response_model=list[ManagerRead], summary="The manager chain, up to the top")
async def list_managers(person_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> list[ManagerRead]:
    chain = await PeopleService(session).managers(person_id)
    return [ManagerRead.model_validate({**PersonRead.model_validate(p).model_dump(), "level": lv}) for p, lv in chain]


@org_router.get("/org-units", response_model=list[OrgUnit], summary="Organisation units and their head counts")
async def list_org_units(
    session: SessionDep,
    _principal: CurrentPrincipal,
    include_inactive: Annotated[bool, Query(description="Count inactive people too.")] = False,
) -> list[OrgUnit]:
    units = await PeopleService(session).people.org_units(active_only=not include_inactive)
    return [
        OrgUnit(organization=organization, division=division, department=department, people=count)
        for organization, division, department, count in units
    ]
