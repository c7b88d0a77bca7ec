"""Upward feedback routes."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

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
from shared.pagination import Page, PageDep

upward_router = APIRouter(prefix="/upward-feedback", tags=["upward feedback"])


def _service(request: Request, session: SessionDep, keyring: KeyringDep | None = None) -> UpwardService:
    return UpwardService(session, keyring, min_raters=request.app.state.settings.feedback_peer_min_raters)


@upward_router.post("", response_model=PulseRead, status_code=status.HTTP_201_CREATED, summary="Open upward feedback")
async def create_pulse(data: PulseCreate, request: Request, session: SessionDep, hr: HRPrincipal) -> PulseRead:
    return PulseRead.model_validate(await _service(request, session).create(data, hr))


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
    "/{pulse_id}/extend", response_model=PulseRead, summary="Move an open pulse's closing time later (HR)"
)
async def extend_pulse(
    pulse_id: uuid.UUID, data: PulseExtend, request: Request, session: SessionDep, _hr: HRPrincipal
) -> PulseRead:
    """For low participation or a cycle whose deadlines moved: the pulse takes answers until the new time.
    Never earlier than announced (422 naming `closes_at`); a closed pulse is 409 `pulse_closed`."""
    return PulseRead.model_validate(await _service(request, session).extend(pulse_id, data))


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
