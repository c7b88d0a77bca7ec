"""HTTP routes of the feedback service."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.feedback.schemas import (
    PeerAggregateRead,
    PeerRatingGive,
    PeerRatingRead,
    PraiseCreate,
    PraiseRead,
)
from services.feedback.service import PeerRatingService, PraiseService
from shared.auth import CurrentPrincipal
from shared.database import SessionDep
from shared.openapi import problems
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


peer_router = APIRouter(prefix="/review-cycles/{cycle_id}/peer-ratings", tags=["peer ratings"])


@peer_router.put(
    "/{receiver_id}",
    response_model=PeerRatingRead,
    summary="Rate a colleague in a review cycle (or change your rating)",
    responses={201: {"description": "A new rating"}, 200: {"description": "Your rating, changed"}, **problems(409)},
)
async def rate_peer(
    cycle_id: uuid.UUID,
    receiver_id: uuid.UUID,
    data: PeerRatingGive,
    session: SessionDep,
    principal: CurrentPrincipal,
    response: Response,
) -> PeerRatingRead:
    rating, created = await PeerRatingService(session).rate(cycle_id, receiver_id, data.rating, principal)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return PeerRatingRead.model_validate(rating)


@peer_router.delete("/{receiver_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw your rating")
async def withdraw_peer_rating(
    cycle_id: uuid.UUID, receiver_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> None:
    await PeerRatingService(session).withdraw(cycle_id, receiver_id, principal)


@peer_router.get(
    "",
    response_model=Page[PeerRatingRead],
    summary="The ratings you gave in this cycle (nobody can list anyone else's)",
)
async def list_given_peer_ratings(
    cycle_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[PeerRatingRead]:
    rows, total = await PeerRatingService(session).given(cycle_id, principal, limit=page.limit, offset=page.offset)
    return Page(
        items=[PeerRatingRead.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@peer_router.get(
    "/aggregate/me",
    response_model=PeerAggregateRead,
    summary="Your own peer aggregate, once the cycle's ratings have closed",
)
async def my_peer_aggregate(cycle_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> PeerAggregateRead:
    return PeerAggregateRead.model_validate(await PeerRatingService(session).my_aggregate(cycle_id, principal))
