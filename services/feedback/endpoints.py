"""HTTP routes of the feedback service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.feedback.schemas import PraiseCreate, PraiseRead
from services.feedback.service import PraiseService
from shared.auth import CurrentPrincipal
from shared.database import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/praise", tags=["praise"])


@router.post("", response_model=PraiseRead, status_code=status.HTTP_201_CREATED, summary="Praise someone")
async def give_praise(data: PraiseCreate, session: SessionDep, principal: CurrentPrincipal) -> PraiseRead:
    praise = await PraiseService(session).give(data, principal)
    return PraiseRead.model_validate(praise)


@router.get("", response_model=Page[PraiseRead], summary="The praise wall, newest first")
async def list_praise(
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    receiver_id: Annotated[uuid.UUID | None, Query(description="Only praise this person received.")] = None,
) -> Page[PraiseRead]:
    rows, total = await PraiseService(session).praise.list(
        limit=page.limit, offset=page.offset, receiver_id=receiver_id
    )
    return Page(
        items=[PraiseRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
