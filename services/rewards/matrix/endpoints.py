"""Merit matrix routes (HR/admin only): the default matrix and one per cycle."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from services.rewards.matrix.schemas import MeritMatrixRead, MeritMatrixWrite
from services.rewards.matrix.service import MeritMatrixService, read
from shared.auth import HRPrincipal
from shared.database import SessionDep
from shared.openapi import problems

router = APIRouter(tags=["merit matrix"])


async def _put(
    cycle_id: uuid.UUID | None, data: MeritMatrixWrite, session: SessionDep, hr: HRPrincipal, response: Response
) -> MeritMatrixRead:
    matrix, created = await MeritMatrixService(session).put(cycle_id, data, hr.person_id)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return read(matrix)


@router.get(
    "/merit-matrices/default",
    response_model=MeritMatrixRead,
    summary="The default merit matrix",
    responses=problems(404),
)
async def get_default_matrix(session: SessionDep, _hr: HRPrincipal) -> MeritMatrixRead:
    return read(await MeritMatrixService(session).get(None))


@router.put("/merit-matrices/default", response_model=MeritMatrixRead, summary="Set the default merit matrix")
async def put_default_matrix(
    data: MeritMatrixWrite, session: SessionDep, hr: HRPrincipal, response: Response
) -> MeritMatrixRead:
    return await _put(None, data, session, hr, response)


@router.get("/cycles/{cycle_id}/merit-matrix", response_model=MeritMatrixRead, summary="A cycle's merit matrix")
async def get_cycle_matrix(cycle_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> MeritMatrixRead:
    return read(await MeritMatrixService(session).get(cycle_id))


@router.put("/cycles/{cycle_id}/merit-matrix", response_model=MeritMatrixRead, summary="Set a cycle's merit matrix")
async def put_cycle_matrix(
    cycle_id: uuid.UUID, data: MeritMatrixWrite, session: SessionDep, hr: HRPrincipal, response: Response
) -> MeritMatrixRead:
    return await _put(cycle_id, data, session, hr, response)


@router.delete(
    "/cycles/{cycle_id}/merit-matrix",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Drop a cycle's matrix (the default applies again)",
)
async def delete_cycle_matrix(cycle_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> None:
    await MeritMatrixService(session).delete(cycle_id)
