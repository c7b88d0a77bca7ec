"""Pay band routes (HR/admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.rewards.bands.schemas import PayBandCreate, PayBandRead
from services.rewards.bands.service import PayBandService
from services.rewards.schemas import Currency
from shared.auth import HRPrincipal
from shared.database import SessionDep
from shared.openapi import problems
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/pay-bands", tags=["pay bands"])


@router.post(
    "",
    response_model=PayBandRead,
    status_code=status.HTTP_201_CREATED,
    summary="Add a pay band",
    responses=problems(409),
)
async def create_pay_band(data: PayBandCreate, session: SessionDep, _hr: HRPrincipal) -> PayBandRead:
    band = await PayBandService(session).create(data)
    return PayBandRead.model_validate(band)


@router.get("", response_model=Page[PayBandRead], summary="Pay bands by currency and grade")
async def list_pay_bands(
    session: SessionDep,
    _hr: HRPrincipal,
    page: PageDep,
    currency: Annotated[Currency | None, Query(description="Only this ISO 4217 currency.")] = None,
) -> Page[PayBandRead]:
    rows, total = await PayBandService(session).bands.list(limit=page.limit, offset=page.offset, currency=currency)
    return Page(
        items=[PayBandRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
