"""Routes of the review configuration: rating scales and review templates.

HR and admins write; every signed-in person may read (reviews show the scales and
templates to the people answering them). Score previews are for HR and admins.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from services.reviews.models import RatingScale, ReviewTemplate
from services.reviews.templates.schemas import (
    RatingScaleRead,
    RatingScaleWrite,
    ScorePreviewRequest,
    TemplateRead,
    TemplateStatus,
    TemplateSummary,
    TemplateWrite,
)
from services.reviews.templates.scoring import ScoreRecord
from services.reviews.templates.service import RatingScaleService, TemplateService, read
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.database import SessionDep
from shared.openapi import problems
from shared.pagination import Page, PageDep

router = APIRouter(tags=["review configuration"])

Search = Annotated[str | None, Query(max_length=200, description="Only names containing this text (any case).")]


def _scale(scale: RatingScale) -> RatingScaleRead:
    return RatingScaleRead.model_validate(scale)


def _summary(template: ReviewTemplate) -> TemplateSummary:
    return TemplateSummary(
        id=template.id,
        family_id=template.family_id,
        version=template.version,
        name=template.name,
        status=TemplateStatus(template.status),
        created_at=template.created_at,
        published_at=template.published_at,
    )


# Rating scales


@router.post(
    "/rating-scales", response_model=RatingScaleRead, status_code=status.HTTP_201_CREATED, summary="Add a rating scale"
)
async def create_scale(data: RatingScaleWrite, session: SessionDep, hr: HRPrincipal) -> RatingScaleRead:
    return _scale(await RatingScaleService(session).create(data, hr.person_id))


@router.get("/rating-scales", response_model=Page[RatingScaleRead], summary="The rating scales")
async def list_scales(
    session: SessionDep, _principal: CurrentPrincipal, page: PageDep, q: Search = None
) -> Page[RatingScaleRead]:
    rows, total = await RatingScaleService(session).scales.page(limit=page.limit, offset=page.offset, search=q)
    return Page(items=[_scale(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/rating-scales/{scale_id}", response_model=RatingScaleRead, summary="One rating scale")
async def get_scale(scale_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> RatingScaleRead:
    return _scale(await RatingScaleService(session).get(scale_id))


@router.put(
    "/rating-scales/{scale_id}",
    response_model=RatingScaleRead,
    summary="Change a rating scale",
    description="The points of a scale a published template uses cannot change (409); its name and description can.",
    responses=problems(409),
)
async def update_scale(
    scale_id: uuid.UUID, data: RatingScaleWrite, session: SessionDep, _hr: HRPrincipal
) -> RatingScaleRead:
    return _scale(await RatingScaleService(session).update(scale_id, data))


@router.delete(
    "/rating-scales/{scale_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a rating scale no template uses",
    responses=problems(409),
)
async def delete_scale(scale_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> None:
    await RatingScaleService(session).delete(scale_id)


# Templates


@router.post(
    "/templates", response_model=TemplateRead, status_code=status.HTTP_201_CREATED, summary="Add a draft template"
)
async def create_template(data: TemplateWrite, session: SessionDep, hr: HRPrincipal) -> TemplateRead:
    return read(await TemplateService(session).create(data, hr.person_id))


@router.get("/templates", response_model=Page[TemplateSummary], summary="Review templates (every version)")
async def list_templates(
    session: SessionDep,
    _principal: CurrentPrincipal,
    page: PageDep,
    status_: Annotated[TemplateStatus | None, Query(alias="status", description="Only versions in this state.")] = None,
    q: Search = None,
    family_id: Annotated[uuid.UUID | None, Query(description="Only the versions of this template.")] = None,
) -> Page[TemplateSummary]:
    rows, total = await TemplateService(session).templates.page(
        limit=page.limit,
        offset=page.offset,
        status=status_.value if status_ else None,
        search=q,
        family_id=family_id,
    )
    return Page(items=[_summary(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/templates/{template_id}", response_model=TemplateRead, summary="One template version")
async def get_template(template_id: uuid.UUID, session: SessionDep, _principal: CurrentPrincipal) -> TemplateRead:
    return read(await TemplateService(session).get(template_id))


@router.put("/templates/{template_id}", response_model=TemplateRead, summary="Change a draft", responses=problems(409))
async def update_template(
    template_id: uuid.UUID, data: TemplateWrite, session: SessionDep, _hr: HRPrincipal
) -> TemplateRead:
    return read(await TemplateService(session).update(template_id, data))


@router.delete(
    "/templates/{template_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a draft",
    responses=problems(409),
)
async def delete_template(template_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> None:
    await TemplateService(session).delete(template_id)


@router.post(
    "/templates/{template_id}/publish",
    response_model=TemplateRead,
    summary="Publish a draft (it is frozen from then on)",
    description="Archives the previously published version of the same template.",
    responses=problems(409),
)
async def publish_template(template_id: uuid.UUID, session: SessionDep, hr: HRPrincipal) -> TemplateRead:
    return read(await TemplateService(session).publish(template_id, hr.person_id))


@router.post(
    "/templates/{template_id}/archive",
    response_model=TemplateRead,
    summary="Archive a published version",
    responses=problems(409),
)
async def archive_template(template_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> TemplateRead:
    return read(await TemplateService(session).archive(template_id))


@router.post(
    "/templates/{template_id}/versions",
    response_model=TemplateRead,
    status_code=status.HTTP_201_CREATED,
    summary="Start a new draft version from this one",
    responses=problems(409),
)
async def new_template_version(template_id: uuid.UUID, session: SessionDep, hr: HRPrincipal) -> TemplateRead:
    return read(await TemplateService(session).new_version(template_id, hr.person_id))


@router.post(
    "/templates/{template_id}/score-preview",
    response_model=ScoreRecord,
    summary="Score sample inputs with this template (nothing is stored)",
)
async def score_preview(
    template_id: uuid.UUID, data: ScorePreviewRequest, session: SessionDep, _hr: HRPrincipal
) -> ScoreRecord:
    return await TemplateService(session).preview(template_id, data)
