"""HTTP routes of review drafts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Request

from services.reviews.drafts.schemas import DraftRead, DraftRequest, SummaryRead, SummaryRequest
from services.reviews.drafts.service import DraftService, YearSummaryService
from services.reviews.models import LLMAudit
from shared.auth import CurrentPrincipal
from shared.database import SessionDep
from shared.llm import AuditEntryRead, audit_page, chat_model
from shared.openapi import problems
from shared.pagination import Page, PageDep
from shared.settings import Settings

router = APIRouter(tags=["review drafts"])


@router.post(
    "/tasks/{task_id}/draft/generate",
    response_model=DraftRead,
    summary="A first draft, every sentence sourced",
    responses=problems(409),
)
async def generate_draft(
    task_id: str,
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    data: Annotated[DraftRequest | None, Body()] = None,
) -> DraftRead:
    """For the writer of an open self-assessment or manager review. Nothing is saved on the task: edit the
    answers, then save them with ``PUT /tasks/{id}/draft``. The task's form records that a draft was generated.

    The body is optional: ``attested_sources`` are the bundles of ``GET /goals/draft-sources`` and ``GET
    /feedback/draft-sources`` about the task's person, fetched with your own token. Each is verified (signature,
    issuer, expiry, you as reader, the task's person as subject); a bad one is a 422 naming it."""
    settings: Settings = request.app.state.settings
    model = chat_model(request.app.state, settings)
    bundles = data.attested_sources if data is not None else []
    return await DraftService(session).generate(
        task_id,
        principal,
        model,
        settings.llm_review_drafts,
        keys=request.app.state.source_verify_keys,
        bundles=bundles,
    )


@router.get("/review-drafts/audit", response_model=Page[AuditEntryRead], summary="Your draft requests, newest first")
async def draft_audit(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[AuditEntryRead]:
    """What was sent to the model for you, and what it answered. Only your own requests, whatever your role."""
    items, total = await audit_page(session, LLMAudit, principal.person_id, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/people/{person_id}/year-summary", response_model=SummaryRead, summary="A manager's summary of a report's year"
)
async def year_summary(
    person_id: uuid.UUID, data: SummaryRequest, request: Request, session: SessionDep, principal: CurrentPrincipal
) -> SummaryRead:
    """For the person's managers (any level above them): the review cycles that ended in the year, each
    sentence citing its source, and the verified ``attested_sources`` about the person (as for a task's draft).
    Nothing is saved but the audit entry."""
    settings: Settings = request.app.state.settings
    model = chat_model(request.app.state, settings)
    return await YearSummaryService(session).summarise(
        person_id,
        data.year,
        principal,
        model,
        settings.llm_review_drafts,
        keys=request.app.state.source_verify_keys,
        bundles=data.attested_sources,
    )
