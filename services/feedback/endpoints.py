"""HTTP routes of the feedback service."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.feedback.keyring import KeyringDep
from services.feedback.schemas import (
    CompanyValueCreate,
    CompanyValueRead,
    CompanyValueUpdate,
    CompetencyCreate,
    CompetencyRead,
    CompetencyUpdate,
    FeedbackAnswer,
    FeedbackGive,
    FeedbackGiven,
    FeedbackRead,
    FeedbackRequestCreate,
    FeedbackRequestRead,
    FeedbackShareRead,
    InboxEntry,
    PeerAggregateRead,
    PeerRatingGive,
    PeerRatingRead,
    PraiseCreate,
    PraiseRead,
)
from services.feedback.service import (
    CompanyValueService,
    CompetencyService,
    FeedbackRequestService,
    FeedbackService,
    PeerRatingService,
    PraiseService,
    erase_person,
)
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.database import SessionDep
from shared.openapi import problems
from shared.pagination import Page, PageDep, PageParams
from shared.settings import Settings

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
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    response: Response,
) -> PeerRatingRead:
    rating, created = await PeerRatingService(session, keyring).rate(cycle_id, receiver_id, data.rating, principal)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return rating


@peer_router.delete("/{receiver_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Withdraw your rating")
async def withdraw_peer_rating(
    cycle_id: uuid.UUID, receiver_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> None:
    await PeerRatingService(session, keyring).withdraw(cycle_id, receiver_id, principal)


@peer_router.get(
    "",
    response_model=Page[PeerRatingRead],
    summary="The ratings you gave in this cycle (nobody can list anyone else's)",
)
async def list_given_peer_ratings(
    cycle_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal, page: PageDep
) -> Page[PeerRatingRead]:
    rows, total = await PeerRatingService(session, keyring).given(
        cycle_id, principal, limit=page.limit, offset=page.offset
    )
    return Page(items=rows, total=total, limit=page.limit, offset=page.offset)


@peer_router.get(
    "/aggregate/me",
    response_model=PeerAggregateRead,
    summary="Your own peer aggregate, once the cycle's ratings have closed",
)
async def my_peer_aggregate(cycle_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> PeerAggregateRead:
    return PeerAggregateRead.model_validate(await PeerRatingService(session).my_aggregate(cycle_id, principal))


# --- company values and competencies (HR keeps each list; everyone reads it to pick one) ---------

values_router = APIRouter(prefix="/company-values", tags=["company values"])
IncludeArchived = Annotated[bool, Query(description="Also archived entries.")]


@values_router.get("", response_model=Page[CompanyValueRead], summary="The company values, by name")
async def list_company_values(
    session: SessionDep, _principal: CurrentPrincipal, page: PageDep, include_archived: IncludeArchived = False
) -> Page[CompanyValueRead]:
    rows, total = await CompanyValueService(session).entries.list(
        limit=page.limit, offset=page.offset, include_archived=include_archived
    )
    return Page(
        items=[CompanyValueRead.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@values_router.post(
    "",
    response_model=CompanyValueRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a company value (HR)",
    responses=problems(409),
)
async def create_company_value(data: CompanyValueCreate, session: SessionDep, _hr: HRPrincipal) -> CompanyValueRead:
    return CompanyValueRead.model_validate(await CompanyValueService(session).create(data))


@values_router.get("/{value_id}", response_model=CompanyValueRead, summary="One company value")
async def get_company_value(value_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> CompanyValueRead:
    return CompanyValueRead.model_validate(await CompanyValueService(session).get(value_id))


@values_router.patch(
    "/{value_id}", response_model=CompanyValueRead, summary="Rename, describe or archive (HR)", responses=problems(409)
)
async def update_company_value(
    value_id: uuid.UUID, data: CompanyValueUpdate, session: SessionDep, _hr: HRPrincipal
) -> CompanyValueRead:
    return CompanyValueRead.model_validate(await CompanyValueService(session).update(value_id, data))


@values_router.delete(
    "/{value_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Archive a company value (HR); it stays readable"
)
async def archive_company_value(value_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> None:
    await CompanyValueService(session).archive(value_id)


competencies_router = APIRouter(prefix="/competencies", tags=["competencies"])


@competencies_router.get("", response_model=Page[CompetencyRead], summary="The competencies, by name")
async def list_competencies(
    session: SessionDep, _principal: CurrentPrincipal, page: PageDep, include_archived: IncludeArchived = False
) -> Page[CompetencyRead]:
    rows, total = await CompetencyService(session).entries.list(
        limit=page.limit, offset=page.offset, include_archived=include_archived
    )
    return Page(
        items=[CompetencyRead.model_validate(row) for row in rows], total=total, limit=page.limit, offset=page.offset
    )


@competencies_router.post(
    "",
    response_model=CompetencyRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a competency (HR)",
    responses=problems(409),
)
async def create_competency(data: CompetencyCreate, session: SessionDep, _hr: HRPrincipal) -> CompetencyRead:
    return CompetencyRead.model_validate(await CompetencyService(session).create(data))


@competencies_router.get("/{competency_id}", response_model=CompetencyRead, summary="One competency")
async def get_competency(competency_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> CompetencyRead:
    return CompetencyRead.model_validate(await CompetencyService(session).get(competency_id))


@competencies_router.patch(
    "/{competency_id}",
    response_model=CompetencyRead,
    summary="Rename, describe or archive (HR)",
    responses=problems(409),
)
async def update_competency(
    competency_id: uuid.UUID, data: CompetencyUpdate, session: SessionDep, _hr: HRPrincipal
) -> CompetencyRead:
    return CompetencyRead.model_validate(await CompetencyService(session).update(competency_id, data))


@competencies_router.delete(
    "/{competency_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Archive a competency (HR); it stays readable"
)
async def archive_competency(competency_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> None:
    await CompetencyService(session).archive(competency_id)


# --- written feedback -----------------------------------------------------------------------------

feedback_router = APIRouter(prefix="/feedback", tags=["written feedback"])


def _page(items: list[FeedbackRead], total: int, page: PageParams) -> Page[FeedbackRead]:
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@feedback_router.post(
    "",
    response_model=FeedbackGiven,
    status_code=status.HTTP_201_CREATED,
    summary="Give written feedback to one or more colleagues (one private item each)",
)
async def give_feedback(
    data: FeedbackGive, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> FeedbackGiven:
    return FeedbackGiven(items=await FeedbackService(session, keyring).give(data, principal))


AboutCompetency = Annotated[uuid.UUID | None, Query(description="Only feedback about this competency.")]


@feedback_router.get("/received", response_model=Page[FeedbackRead], summary="Feedback you received, newest first")
async def received_feedback(
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    page: PageDep,
    competency_id: AboutCompetency = None,
) -> Page[FeedbackRead]:
    items, total = await FeedbackService(session, keyring).received(
        principal, limit=page.limit, offset=page.offset, competency_id=competency_id
    )
    return _page(items, total, page)


@feedback_router.get("/given", response_model=Page[FeedbackRead], summary="Feedback you gave, newest first")
async def given_feedback(
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    page: PageDep,
    competency_id: AboutCompetency = None,
) -> Page[FeedbackRead]:
    items, total = await FeedbackService(session, keyring).given(
        principal, limit=page.limit, offset=page.offset, competency_id=competency_id
    )
    return _page(items, total, page)


@feedback_router.get(
    "/shared-with-me",
    response_model=Page[FeedbackRead],
    summary="Feedback your reports chose to share with you (while they share it)",
)
async def shared_feedback(
    session: SessionDep,
    keyring: KeyringDep,
    principal: CurrentPrincipal,
    page: PageDep,
    competency_id: AboutCompetency = None,
) -> Page[FeedbackRead]:
    items, total = await FeedbackService(session, keyring).shared_with_me(
        principal, limit=page.limit, offset=page.offset, competency_id=competency_id
    )
    return _page(items, total, page)


@feedback_router.get(
    "/{item_id}", response_model=FeedbackRead, summary="One item: its giver, receiver or shared manager"
)
async def read_feedback(
    item_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> FeedbackRead:
    return await FeedbackService(session, keyring).read(item_id, principal)


@feedback_router.post(
    "/{item_id}/share",
    response_model=FeedbackShareRead,
    status_code=status.HTTP_201_CREATED,
    summary="Share feedback you received with your manager (receiver only; revocable)",
    responses=problems(409),
)
async def share_feedback(
    item_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> FeedbackShareRead:
    return FeedbackShareRead.model_validate(await FeedbackService(session, keyring).share(item_id, principal))


@feedback_router.delete(
    "/{item_id}/share", status_code=status.HTTP_204_NO_CONTENT, summary="Stop sharing it with your manager"
)
async def unshare_feedback(
    item_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, principal: CurrentPrincipal
) -> None:
    await FeedbackService(session, keyring).unshare(item_id, principal)


# --- feedback requests ----------------------------------------------------------------------------

requests_router = APIRouter(prefix="/feedback-requests", tags=["feedback requests"])


def _requests(request: Request, session: SessionDep, keyring: KeyringDep) -> FeedbackRequestService:
    settings: Settings = request.app.state.settings
    return FeedbackRequestService(session, keyring, max_recipients=settings.feedback_max_request_recipients)


RequestsDep = Annotated[FeedbackRequestService, Depends(_requests)]


@requests_router.post(
    "",
    response_model=FeedbackRequestRead,
    status_code=status.HTTP_201_CREATED,
    summary="Ask colleagues for feedback on yourself",
)
async def request_feedback(
    data: FeedbackRequestCreate, service: RequestsDep, principal: CurrentPrincipal
) -> FeedbackRequestRead:
    return await service.create(data, principal)


@requests_router.get("", response_model=Page[FeedbackRequestRead], summary="The requests you sent, newest first")
async def sent_requests(service: RequestsDep, principal: CurrentPrincipal, page: PageDep) -> Page[FeedbackRequestRead]:
    items, total = await service.sent(principal, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@requests_router.get("/inbox", response_model=Page[InboxEntry], summary="Requests asking you, soonest due first")
async def request_inbox(
    service: RequestsDep,
    principal: CurrentPrincipal,
    page: PageDep,
    status_filter: Annotated[
        Literal["open", "answered", "declined"] | None, Query(alias="status", description="Only this status.")
    ] = None,
) -> Page[InboxEntry]:
    items, total = await service.inbox(principal, status=status_filter, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@requests_router.post(
    "/{request_id}/answer",
    response_model=FeedbackRead,
    status_code=status.HTTP_201_CREATED,
    summary="Answer a request asking you (written feedback to the requester)",
    responses=problems(409),
)
async def answer_request(
    request_id: uuid.UUID, data: FeedbackAnswer, service: RequestsDep, principal: CurrentPrincipal
) -> FeedbackRead:
    return await service.answer(request_id, data, principal)


@requests_router.post(
    "/{request_id}/decline", response_model=InboxEntry, summary="Decline a request asking you", responses=problems(409)
)
async def decline_request(request_id: uuid.UUID, service: RequestsDep, principal: CurrentPrincipal) -> InboxEntry:
    return await service.decline(request_id, principal)


# --- erasure (crypto-shredding) -------------------------------------------------------------------

privacy_router = APIRouter(prefix="/feedback-privacy", tags=["feedback privacy"])


@privacy_router.post(
    "/erasures/{person_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase a person's feedback keys (HR): what only they could read becomes unreadable",
)
async def erase_person_keys(person_id: uuid.UUID, session: SessionDep, keyring: KeyringDep, _hr: HRPrincipal) -> None:
    await erase_person(session, keyring, person_id)
