"""Upward feedback routes."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from services.feedback.keyring import KeyringDep
from services.feedback.upward.cycles import CyclePulses
from services.feedback.upward.schemas import (
    ManagerResult,
    OrgUnitResult,
    PulseCreate,
    PulseExtend,
    PulseRead,
    ReleasedResult,
    UpwardAnswerCreate,
    UpwardAnswered,
    UpwardInboxItem,
)
from services.feedback.upward.service import UpwardService
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.database import SessionDep
from shared.openapi import problems
from shared.pagination import Page, PageDep

upward_router = APIRouter(prefix="/upward-feedback", tags=["upward feedback"])

NOT_OPEN = problems(409, s409="The pulse is no longer open (`pulse_closed` or `pulse_cancelled`).")


def _service(request: Request, session: SessionDep, keyring: KeyringDep | None = None) -> UpwardService:
    return UpwardService(session, keyring, min_raters=request.app.state.settings.feedback_peer_min_raters)


@upward_router.post("", response_model=PulseRead, status_code=status.HTTP_201_CREATED, summary="Open upward feedback")
async def create_pulse(data: PulseCreate, request: Request, session: SessionDep, hr: HRPrincipal) -> PulseRead:
    return PulseRead.model_validate(await _service(request, session).create(data, hr))


@upward_router.get(
    "",
    response_model=Page[PulseRead],
    summary="Every upward feedback, newest first (HR; never an answer or a count)",
)
async def list_pulses(
    request: Request,
    session: SessionDep,
    _hr: HRPrincipal,
    page: PageDep,
    status_filter: Annotated[
        Literal["open", "closed", "cancelled"] | None, Query(alias="status", description="Only this status.")
    ] = None,
    cycle_id: Annotated[uuid.UUID | None, Query(description="Only the pulses of this review cycle.")] = None,
) -> Page[PulseRead]:
    pulses, total = await _service(request, session).listed(
        status=status_filter, cycle_id=cycle_id, limit=page.limit, offset=page.offset
    )
    items = [PulseRead.model_validate(pulse) for pulse in pulses]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@upward_router.get(
    "/inbox", response_model=list[UpwardInboxItem], summary="Open upward feedback you may answer, soonest first"
)
async def upward_inbox(
    request: Request, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> list[UpwardInboxItem]:
    min_raters = request.app.state.settings.feedback_peer_min_raters
    return await CyclePulses(session, min_raters=min_raters).inbox(principal, keyring)


@upward_router.get(
    "/results",
    response_model=Page[ReleasedResult],
    summary="Your released results as a manager, newest first (never a pulse below k)",
)
async def my_released_results(
    request: Request, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[ReleasedResult]:
    items, total = await _service(request, session).released_to(principal, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@upward_router.get("/{pulse_id}", response_model=PulseRead, summary="One upward feedback (never its answers)")
async def read_pulse(pulse_id: uuid.UUID, request: Request, session: SessionDep, _: CurrentPrincipal) -> PulseRead:
    return PulseRead.model_validate(await _service(request, session).get(pulse_id))


@upward_router.post(
    "/{pulse_id}/answers",
    response_model=UpwardAnswered,
    status_code=status.HTTP_201_CREATED,
    summary="Rate and comment on your manager, once",
    responses=problems(409, s409="`no_manager`, `too_late` (closed or cancelled) or `task_done` (answered already)."),
)
async def answer_pulse(
    pulse_id: uuid.UUID,
    data: UpwardAnswerCreate,
    request: Request,
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
) -> UpwardAnswered:
    await CyclePulses(session).check_answerer(pulse_id, principal)
    return await _service(request, session, keyring).answer(pulse_id, data, principal)


@upward_router.post("/{pulse_id}/close", response_model=PulseRead, summary="Close and release (HR; once)")
async def close_pulse(
    pulse_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal, keyring: KeyringDep
) -> PulseRead:
    return PulseRead.model_validate(await _service(request, session, keyring).close(pulse_id))


@upward_router.post(
    "/{pulse_id}/extend",
    response_model=PulseRead,
    summary="Move an open pulse's closing time later (HR)",
    responses=NOT_OPEN,
)
async def extend_pulse(
    pulse_id: uuid.UUID, data: PulseExtend, request: Request, session: SessionDep, _hr: HRPrincipal
) -> PulseRead:
    """For low participation or a cycle whose deadlines moved: the pulse takes answers until the new time.
    Never earlier than announced (422 naming `closes_at`); a closed pulse is 409 `pulse_closed`, a
    cancelled one 409 `pulse_cancelled`."""
    return PulseRead.model_validate(await _service(request, session).extend(pulse_id, data))


@upward_router.post(
    "/{pulse_id}/cancel",
    response_model=PulseRead,
    summary="End an open pulse without any release (HR)",
    responses=NOT_OPEN,
)
async def cancel_pulse(pulse_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal) -> PulseRead:
    """Nothing is ever released for it: its answers are deleted with their comments' keys and the ratings'
    tally key. Only an open pulse: a closed one keeps what it released (409 `pulse_closed`), a cancelled
    one was cancelled already (409 `pulse_cancelled`)."""
    return PulseRead.model_validate(await _service(request, session).cancel(pulse_id))


@upward_router.get(
    "/{pulse_id}/results/me", response_model=ManagerResult, summary="Your aggregate as a manager, at k or more"
)
async def my_upward_result(
    pulse_id: uuid.UUID, request: Request, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> ManagerResult:
    return await _service(request, session, keyring).mine(pulse_id, principal)


@upward_router.get(
    "/{pulse_id}/results/org-units",
    response_model=list[OrgUnitResult],
    summary="Aggregates per org unit over the managers released at k (HR)",
)
async def org_unit_results(
    pulse_id: uuid.UUID, request: Request, session: SessionDep, _hr: HRPrincipal
) -> list[OrgUnitResult]:
    return await _service(request, session).org_units(pulse_id)
