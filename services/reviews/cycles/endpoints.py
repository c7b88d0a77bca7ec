"""Routes of review cycles (HR), the task inbox (everyone) and calibration (HR).

Routes stay thin: no commit and no retry loop here. A change that then reaches a workflow is
a service method that commits first (service.py); a plain Update goes through
``temporal.deliver``, where a refused Update becomes a 4xx problem whose ``reason`` is the
refusal code.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, status
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from services.reviews.cycles.calibration_stats import guideline_deviation
from services.reviews.cycles.repository import TaskRepository
from services.reviews.cycles.schemas import (
    Ack,
    AddParticipantRequest,
    AdjustmentRead,
    AdjustmentWrite,
    AdvanceRequest,
    Answers,
    CancelRequest,
    CycleRead,
    CycleStatus,
    CycleWrite,
    DeadlineRead,
    DisputeRaise,
    DisputeRead,
    DisputeResolve,
    ExtendRequest,
    NineBoxRead,
    ParticipantRead,
    ProgressRead,
    RatersRead,
    ReassignRequest,
    ScoreLineage,
    SessionRead,
    SessionSummary,
    TaskForm,
    TaskRead,
    UnitProgress,
)
from services.reviews.cycles.service import (
    CalibrationService,
    CycleService,
    DisputeService,
    InboxService,
    LineageService,
    SubmitService,
    task_read,
)
from services.reviews.cycles.temporal import deliver, holder
from services.reviews.models import Person
from shared.auth import CurrentPrincipal, HRPrincipal, Principal
from shared.database import SessionDep, utcnow
from shared.errors import Forbidden, ServiceUnavailable
from shared.openapi import problems
from shared.pagination import Page, PageDep
from shared.settings import Settings
from workflows.models import (
    AdvancePhase,
    CancelCycle,
    CloseReason,
    CycleAck,
    CycleProgress,
    ExtendDeadline,
    RemoveParticipant,
    Step,
    cycle_workflow_id,
)
from workflows.review_cycle import ReviewCycleWorkflow

router = APIRouter(tags=["review cycles"])
T = TypeVar("T")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _client(request: Request) -> Client:
    return await holder.client(_settings(request))


async def _deliver(request: Request, call: Awaitable[T]) -> T:
    return await deliver(_settings(request), call)


async def _cycle_handle(request: Request, cycle_id: uuid.UUID) -> WorkflowHandle[Any, Any]:
    return (await _client(request)).get_workflow_handle(cycle_workflow_id(str(cycle_id)))


def _ack(ack: CycleAck) -> Ack:
    return Ack(phase=ack.phase, cancelled=ack.cancelled)


# --- cycles (HR) -----------------------------------------------------------------------------


@router.post("/review-cycles", response_model=CycleRead, status_code=status.HTTP_201_CREATED, summary="Add a cycle")
async def create_cycle(data: CycleWrite, request: Request, session: SessionDep, hr: HRPrincipal) -> CycleRead:
    cycle = await CycleService(session, _settings(request)).create(data, hr.person_id)
    return CycleRead.model_validate(cycle)


@router.get("/review-cycles", response_model=Page[CycleRead], summary="Cycles, newest first")
async def list_cycles(
    request: Request, session: SessionDep, _hr: HRPrincipal, page: PageDep, status: CycleStatus | None = None
) -> Page[CycleRead]:
    service = CycleService(session, _settings(request))
    rows, total = await service.cycles.page(
        status=None if status is None else status.value, limit=page.limit, offset=page.offset
    )
    items = [CycleRead.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/review-cycles/{cycle_id}", response_model=CycleRead, summary="One cycle")
async def get_cycle(cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal) -> CycleRead:
    service = CycleService(session, _settings(request))
    return await service.read(await service.get(cycle_id))


@router.get("/review-cycles/{cycle_id}/participants", response_model=Page[ParticipantRead], summary="Participants")
async def list_participants(
    cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal, page: PageDep
) -> Page[ParticipantRead]:
    service = CycleService(session, _settings(request))
    cycle = await service.get(cycle_id)
    rows, total = await service.cycles.participants(cycle_id, limit=page.limit, offset=page.offset)
    items = await service.participant_reads(cycle, rows)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/review-cycles/{cycle_id}/participants/{person_id}/score",
    response_model=ScoreLineage,
    summary="A participant's score record: formula version, inputs, weights (HR, managers above, the person later)",
)
async def score_lineage(
    cycle_id: uuid.UUID, person_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> ScoreLineage:
    """HR and admins; the person's managers at any level; the person once their acknowledgement
    task shows them the rating. 404 for anyone else, and for anyone inactive in the directory."""
    return await LineageService(session).lineage(cycle_id, person_id, principal)


@router.post(
    "/review-cycles/{cycle_id}/launch",
    response_model=CycleRead,
    summary="Snapshot participants, start",
    responses=problems(409, 503),
)
async def launch_cycle(cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal) -> CycleRead:
    """Idempotent: launching a launched cycle starts its workflow if it is not running yet."""
    service = CycleService(session, _settings(request))
    return CycleRead.model_validate(await service.launch_and_start(cycle_id, await _client(request)))


@router.post(
    "/review-cycles/{cycle_id}/deadlines",
    response_model=DeadlineRead,
    summary="Extend a deadline",
    responses=problems(409, 503),
)
async def extend_deadline(
    cycle_id: uuid.UUID, data: ExtendRequest, request: Request, session: SessionDep, hr: HRPrincipal
) -> DeadlineRead:
    service = CycleService(session, _settings(request))
    await service.get(cycle_id)
    if data.person_id is not None:
        await service.require_participant(cycle_id, data.person_id)
    change = ExtendDeadline(
        step=data.step,
        new_deadline=data.new_deadline,
        actor_id=str(hr.person_id),
        person_id=None if data.person_id is None else str(data.person_id),
    )
    handle = await _cycle_handle(request, cycle_id)
    result = await _deliver(request, handle.execute_update(ReviewCycleWorkflow.extend_deadline, change))
    if data.person_id is None:
        service.deadline_extended(cycle_id, result.step.value, result.deadline)
    return DeadlineRead(step=result.step, deadline=result.deadline, closes_at=result.closes_at)


@router.post(
    "/review-cycles/{cycle_id}/participants",
    response_model=Ack,
    summary="Add a participant",
    responses=problems(409, 503),
)
async def add_participant(
    cycle_id: uuid.UUID, data: AddParticipantRequest, request: Request, session: SessionDep, hr: HRPrincipal
) -> Ack:
    service = CycleService(session, _settings(request))
    return _ack(await service.add_and_tell(cycle_id, data.person_id, hr.person_id, await _client(request)))


@router.delete(
    "/review-cycles/{cycle_id}/participants/{person_id}",
    response_model=Ack,
    summary="Remove one",
    responses=problems(409, 503),
)
async def remove_participant(
    cycle_id: uuid.UUID, person_id: uuid.UUID, request: Request, session: SessionDep, hr: HRPrincipal
) -> Ack:
    await CycleService(session, _settings(request)).require_participant(cycle_id, person_id)
    handle = await _cycle_handle(request, cycle_id)
    update = RemoveParticipant(person_id=str(person_id), reason=CloseReason.removed, actor_id=str(hr.person_id))
    return _ack(await _deliver(request, handle.execute_update(ReviewCycleWorkflow.remove_participant, update)))


@router.post(
    "/review-cycles/{cycle_id}/advance",
    response_model=Ack,
    summary="Open the next phase now",
    responses=problems(409, 503),
)
async def advance_phase(
    cycle_id: uuid.UUID, data: AdvanceRequest, request: Request, session: SessionDep, hr: HRPrincipal
) -> Ack:
    await CycleService(session, _settings(request)).get(cycle_id)
    handle = await _cycle_handle(request, cycle_id)
    update = AdvancePhase(to=data.to, actor_id=str(hr.person_id))
    return _ack(await _deliver(request, handle.execute_update(ReviewCycleWorkflow.advance_phase, update)))


@router.post(
    "/review-cycles/{cycle_id}/cancel", response_model=Ack, summary="Cancel the cycle", responses=problems(409, 503)
)
async def cancel_cycle(
    cycle_id: uuid.UUID, data: CancelRequest, request: Request, session: SessionDep, hr: HRPrincipal
) -> Ack:
    await CycleService(session, _settings(request)).get(cycle_id)
    handle = await _cycle_handle(request, cycle_id)
    update = CancelCycle(actor_id=str(hr.person_id), reason=data.reason)
    return _ack(await _deliver(request, handle.execute_update(ReviewCycleWorkflow.cancel, update)))


@router.get("/review-cycles/{cycle_id}/progress", response_model=ProgressRead, summary="Progress per phase and unit")
async def cycle_progress(cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal) -> ProgressRead:
    service = CycleService(session, _settings(request))
    cycle = await service.get(cycle_id)
    steps, units = await service.progress_by_unit(cycle_id)
    workflow: CycleProgress | None = None
    if cycle.status != "draft":
        try:
            handle = await _cycle_handle(request, cycle_id)
            workflow = await asyncio.wait_for(handle.query(ReviewCycleWorkflow.progress), timeout=5)
        except (RPCError, TimeoutError, ServiceUnavailable, Exception):  # noqa: BLE001 - the inbox figures still answer
            workflow = None
    return ProgressRead(
        cycle_id=cycle_id,
        workflow=workflow,
        steps=steps,
        org_units=[UnitProgress(org_unit=unit, steps=unit_steps) for unit, unit_steps in sorted(units.items())],
    )


@router.get("/review-cycles/{cycle_id}/overdue", response_model=Page[TaskRead], summary="Overdue tasks")
async def overdue_tasks(
    cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal, page: PageDep
) -> Page[TaskRead]:
    await CycleService(session, _settings(request)).get(cycle_id)
    now = utcnow()
    rows, total = await TaskRepository.from_session(session).page(
        cycle_id=cycle_id, overdue=True, now=now, limit=page.limit, offset=page.offset
    )
    return Page(items=[task_read(row, now) for row in rows], total=total, limit=page.limit, offset=page.offset)


# --- inbox -----------------------------------------------------------------------------------


class Scope(StrEnum):
    mine = "mine"
    reports = "reports"
    all = "all"


class TaskStatusFilter(StrEnum):
    open = "open"
    overdue = "overdue"
    escalated = "escalated"
    done = "done"
    expired = "expired"
    closed = "closed"
    any = "any"


@router.get(
    "/tasks",
    response_model=Page[TaskRead],
    summary="Tasks: mine, my reports', or all (HR); open ones by default, any status with `status`",
)
async def list_tasks(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    scope: Scope = Scope.mine,
    kind: Annotated[Step | None, Query(description="Only tasks of this step.")] = None,
    cycle_id: uuid.UUID | None = None,
    overdue: bool | None = None,
    status: Annotated[
        list[TaskStatusFilter] | None,
        Query(
            description="Only tasks in these statuses (repeat the parameter); `any` for every status. "
            "Left out: the open ones (open, overdue, escalated), soonest deadline first. "
            "Given: newest deadline first, so history reads from the latest cycle back. "
            "`closed` means the review was closed early (left, removed, cancelled)."
        ),
    ] = None,
    person_id: Annotated[
        uuid.UUID | None, Query(description="Only tasks about this person (within the scope).")
    ] = None,
) -> Page[TaskRead]:
    now = utcnow()
    statuses = None if status is None else [s.value for s in status if s is not TaskStatusFilter.any]
    if status is not None and TaskStatusFilter.any in status:
        statuses = []
    rows, total = await InboxService(session).page(
        principal,
        scope=scope.value,
        step=kind,
        cycle_id=cycle_id,
        overdue=overdue,
        limit=page.limit,
        offset=page.offset,
        statuses=statuses,
        person_id=person_id,
    )
    return Page(items=[task_read(row, now) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/tasks/{task_id}", response_model=TaskForm, summary="A task with the form it needs")
async def get_task(task_id: str, session: SessionDep, principal: CurrentPrincipal) -> TaskForm:
    service = InboxService(session)
    return await service.form(await service.access(task_id, principal))


@router.put("/tasks/{task_id}/draft", response_model=TaskRead, summary="Save a draft")
async def save_draft(task_id: str, data: Answers, session: SessionDep, principal: CurrentPrincipal) -> TaskRead:
    service = InboxService(session)
    return task_read(await service.save_draft(await service.access(task_id, principal), data))


@router.post(
    "/tasks/{task_id}/submit",
    response_model=TaskRead,
    summary="Submit (completes the workflow task)",
    responses=problems(409, 503),
)
async def submit_task(
    task_id: str, data: Answers, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> TaskRead:
    """The answers stay in this database; the workflow learns only who completed which task."""
    service = SubmitService(session, _settings(request), lambda: _client(request))
    return task_read(await service.submit(task_id, data, principal))


@router.post(
    "/tasks/{task_id}/reassign",
    response_model=TaskRead,
    summary="Give a task to someone else (HR)",
    responses=problems(409, 503),
)
async def reassign_task(
    task_id: str, data: ReassignRequest, request: Request, session: SessionDep, hr: HRPrincipal
) -> TaskRead:
    service = InboxService(session)
    task = await service.reassign(task_id, data.new_assignee_id, hr, _settings(request), await _client(request))
    return task_read(task)


# --- rating disputes -------------------------------------------------------------------------


class DisputeStatus(StrEnum):
    open = "open"
    resolved = "resolved"


@router.get(
    "/disputes", response_model=Page[DisputeRead], summary="Rating disputes: HR's queue, or mine and my reports'"
)
async def list_disputes(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status: DisputeStatus | None = None,
    cycle_id: uuid.UUID | None = None,
    person_id: uuid.UUID | None = None,
    overdue: bool | None = Query(
        None, description="true: only open disputes past their due date; false: only the others."
    ),
) -> Page[DisputeRead]:
    """HR and admins see every dispute; others their own and, as managers, their reports' (oldest due first)."""
    rows, total = await DisputeService(session).page(
        principal,
        status=None if status is None else status.value,
        cycle_id=cycle_id,
        person_id=person_id,
        limit=page.limit,
        offset=page.offset,
        overdue=overdue,
    )
    items = [DisputeRead.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/disputes",
    response_model=DisputeRead,
    status_code=status.HTTP_201_CREATED,
    summary="Dispute my final rating after acknowledging it (within 30 days)",
    responses=problems(404, 409),
)
async def raise_dispute(data: DisputeRaise, session: SessionDep, principal: CurrentPrincipal) -> DisputeRead:
    """For the employee whose acknowledgement task it is, once it is done without a dispute: 409
    ``dispute_exists``, ``acknowledgement_open`` (dispute on the task) or ``dispute_window_closed``."""
    return DisputeRead.model_validate(await DisputeService(session).raise_late(data, principal))


@router.get("/disputes/{dispute_id}", response_model=DisputeRead, summary="One rating dispute")
async def get_dispute(dispute_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> DisputeRead:
    return DisputeRead.model_validate(await DisputeService(session).get(dispute_id, principal))


@router.post(
    "/disputes/{dispute_id}/resolve",
    response_model=DisputeRead,
    summary="Uphold or amend the rating (HR)",
    responses=problems(409),
)
async def resolve_dispute(
    dispute_id: uuid.UUID, data: DisputeResolve, session: SessionDep, hr: HRPrincipal
) -> DisputeRead:
    """``amended`` sets a new final rating (a new ``rating.finalized`` version); ``upheld`` keeps it."""
    return DisputeRead.model_validate(await DisputeService(session).resolve(dispute_id, data, hr))


# --- calibration (HR) ------------------------------------------------------------------------


@router.get("/review-cycles/{cycle_id}/calibration-sessions", response_model=list[SessionSummary], summary="Sessions")
async def list_sessions(
    cycle_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal
) -> list[SessionSummary]:
    await CycleService(session, _settings(request)).get(cycle_id)
    return [SessionSummary.model_validate(s) for s in await CalibrationService(session).sessions.of_cycle(cycle_id)]


@router.get("/calibration-sessions/{session_id}", response_model=SessionRead, summary="Ratings and distribution")
async def get_session(session_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> SessionRead:
    service = CalibrationService(session)
    calibration = await service.get(session_id)
    cycle = await service.cycles.get(calibration.cycle_id)
    assert cycle is not None
    rows = await service.rows(calibration)
    read = SessionRead.model_validate(calibration)
    read.rows = [service.row(row) for row in rows]
    read.distribution = service.distribution(cycle, rows)
    if any(bucket.count for bucket in read.distribution):  # nobody rated yet: nothing deviates
        read.guideline_deviation = guideline_deviation([bucket.deviation for bucket in read.distribution])
    read.adjustments = [AdjustmentRead.model_validate(a) for a in await service.sessions.adjustments(session_id)]
    return read


@router.post(
    "/calibration-sessions/{session_id}/adjustments",
    response_model=AdjustmentRead,
    status_code=status.HTTP_201_CREATED,
    summary="Change a rating, with a reason",
    responses=problems(409),
)
async def adjust_rating(
    session_id: uuid.UUID, data: AdjustmentWrite, session: SessionDep, hr: HRPrincipal
) -> AdjustmentRead:
    return AdjustmentRead.model_validate(await CalibrationService(session).adjust(session_id, data, hr.person_id))


@router.post(
    "/calibration-sessions/{session_id}/finalize",
    response_model=SessionSummary,
    summary="Finalize",
    responses=problems(409, 503),
)
async def finalize_session(
    session_id: uuid.UUID, request: Request, session: SessionDep, hr: HRPrincipal
) -> SessionSummary:
    """Publishes each final rating once; repeating it re-delivers the workflow Update only."""
    service = CalibrationService(session)
    calibration = await service.finalize_and_tell(session_id, hr.person_id, _settings(request), await _client(request))
    return SessionSummary.model_validate(calibration)


async def _active_hr(hr: HRPrincipal, session: SessionDep) -> Principal:
    # A token outlives a deactivation in the directory: the people table knows better.
    person = await session.get(Person, hr.person_id)
    if person is not None and not person.active:
        raise Forbidden("Your account is deactivated.")
    return hr


ActiveHR = Annotated[Principal, Depends(_active_hr)]


@router.get("/calibration-sessions/{session_id}/nine-box", response_model=NineBoxRead, summary="9-box")
async def nine_box(session_id: uuid.UUID, session: SessionDep, _hr: ActiveHR) -> NineBoxRead:
    """Performance (final rating) x potential, each cut into thirds of its scale; people per cell."""
    service = CalibrationService(session)
    return await service.nine_box(await service.get(session_id))


@router.get(
    "/calibration-sessions/{session_id}/raters", response_model=RatersRead, summary="Rater leniency and harshness"
)
async def raters(
    session_id: uuid.UUID,
    session: SessionDep,
    _hr: ActiveHR,
    threshold: Annotated[
        float | None, Query(gt=0, description="|leniency| that flags, in rating points; default a tenth of the scale.")
    ] = None,
) -> RatersRead:
    """Each manager's proposed mean against the calibrated mean, shrunk for small teams (empirical Bayes)."""
    service = CalibrationService(session)
    return await service.raters(await service.get(session_id), threshold)
