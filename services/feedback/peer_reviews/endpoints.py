"""360 routes: the approved peer's review and answer, the subject's released result."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, status

from services.feedback.keyring import KeyringDep
from services.feedback.peer_reviews.schemas import PeerReviewAnswer, PeerReviewAnswered, PeerReviewRead, PeerRoundResult
from services.feedback.peer_reviews.service import PeerReviewService
from shared.auth import CurrentPrincipal
from shared.database import SessionDep

peer_reviews_router = APIRouter(prefix="/peer-reviews", tags=["360 peer reviews"])
peer_results_router = APIRouter(prefix="/review-cycles/{cycle_id}/peer-reviews", tags=["360 peer reviews"])


def _service(request: Request, session: SessionDep, keyring: KeyringDep | None = None) -> PeerReviewService:
    return PeerReviewService(session, keyring, min_raters=request.app.state.settings.feedback_peer_min_raters)


@peer_reviews_router.get(
    "/{task_id}", response_model=PeerReviewRead, summary="Your peer review task: whom, the questions, until when"
)
async def read_peer_review(
    task_id: str, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> PeerReviewRead:
    return await _service(request, session).task(task_id, principal)


@peer_reviews_router.post(
    "/{task_id}/answer",
    response_model=PeerReviewAnswered,
    status_code=status.HTTP_201_CREATED,
    summary="Answer your peer review (approved peers only; the text is encrypted for the person reviewed)",
)
async def answer_peer_review(
    task_id: str,
    data: PeerReviewAnswer,
    request: Request,
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
) -> PeerReviewAnswered:
    return await _service(request, session, keyring).answer(task_id, data, principal)


@peer_results_router.get(
    "/me",
    response_model=PeerRoundResult,
    summary="Your 360 result once its round closed: aggregate and comments without names, only at k or more",
)
async def my_peer_result(
    cycle_id: uuid.UUID, request: Request, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> PeerRoundResult:
    return await _service(request, session, keyring).my_result(cycle_id, principal)
