"""HR's exchange rates: set, correct, list, and the rate in force on a date. HR and admins (active) only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from services.rewards.access import ActiveHR
from services.rewards.exchange_rates.reference_file import MAX_BYTES, MAX_RATES, parse_reference_rates
from services.rewards.exchange_rates.schemas import (
    ExchangeRateChangeRead,
    ExchangeRateRead,
    ExchangeRateWrite,
    RatesInForceRead,
    ReferenceImportRead,
)
from services.rewards.exchange_rates.service import ExchangeRateService, change_read, rate_read
from services.rewards.schemas import Currency
from shared.database import SessionDep, utcnow
from shared.errors import ValidationFailed
from shared.limits import upload_route
from shared.openapi import problems
from shared.pagination import Page, PageDep

router = APIRouter(prefix="/exchange-rates", tags=["exchange rates"])

CurrencyPath = Annotated[Currency, Path(description="ISO 4217 code of the currency the rate values.")]
EffectivePath = Annotated[date, Path(description="The rate is in force from this day until the next one.")]
OnQuery = Annotated[date | None, Query(description="Default today (UTC).")]


@router.get("/in-force", response_model=RatesInForceRead, summary="Each currency's rate in force on a date")
async def rates_in_force(session: SessionDep, _hr: ActiveHR, on: OnQuery = None) -> RatesInForceRead:
    return await ExchangeRateService(session).in_force(on or utcnow().date())


@router.get("", response_model=Page[ExchangeRateRead], summary="Stored exchange rates, newest first")
async def list_rates(
    session: SessionDep,
    _hr: ActiveHR,
    page: PageDep,
    currency: Annotated[Currency | None, Query(description="Only this currency's rates.")] = None,
) -> Page[ExchangeRateRead]:
    rows, total = await ExchangeRateService(session).rates.page(currency=currency, limit=page.limit, offset=page.offset)
    return Page(items=[rate_read(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/reference-rates",
    response_model=ReferenceImportRead,
    summary="Import the ECB's reference rates (eurofxref.csv or eurofxref-hist.csv), all or nothing",
    responses=problems(422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": f"The ECB's CSV: a Date column, then one column per currency (1 EUR = value); at most "
            f"{MAX_RATES} rates and {MAX_BYTES} bytes.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **upload_route(MAX_BYTES),
    },
)
async def import_reference_rates(
    request: Request,
    session: SessionDep,
    hr: ActiveHR,
    dry_run: Annotated[bool, Query(description="Check the file and report, store nothing.")] = False,
) -> ReferenceImportRead:
    """Each rate as a PUT would set it (a day's rate replaced keeps the old one in /changes), against EUR."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in ("text/csv", "application/csv"):
        raise ValidationFailed.field("content-type", "send the ECB's file as text/csv")
    found = parse_reference_rates(await request.body())
    return await ExchangeRateService(session).import_reference(found, hr.person_id, dry_run=dry_run)


@router.get(
    "/changes",
    response_model=Page[ExchangeRateChangeRead],
    summary="Replaced and removed rates as they stood, newest change first",
)
async def list_changes(
    session: SessionDep,
    _hr: ActiveHR,
    page: PageDep,
    currency: Annotated[Currency | None, Query(description="Only this currency's.")] = None,
    effective_date: Annotated[date | None, Query(description="Only the rate of this day.")] = None,
) -> Page[ExchangeRateChangeRead]:
    """A PUT over an existing day's rate, or a DELETE, keeps the value it ends here first."""
    rows, total = await ExchangeRateService(session).rates.changes(
        currency=currency, effective_date=effective_date, limit=page.limit, offset=page.offset
    )
    return Page(items=[change_read(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{currency}", response_model=ExchangeRateRead, summary="A currency's rate in force on a date")
async def rate_on(currency: CurrencyPath, session: SessionDep, _hr: ActiveHR, on: OnQuery = None) -> ExchangeRateRead:
    """404 when none is effective on or before the date."""
    return rate_read(await ExchangeRateService(session).rate_on(currency, on or utcnow().date()))


@router.put(
    "/{currency}/{effective_date}",
    response_model=ExchangeRateRead,
    summary="Set a currency's rate from a date on (201 created, 200 replaced)",
)
async def put_rate(
    currency: CurrencyPath,
    effective_date: EffectivePath,
    data: ExchangeRateWrite,
    session: SessionDep,
    hr: ActiveHR,
    response: Response,
) -> ExchangeRateRead:
    row, created = await ExchangeRateService(session).put(currency, effective_date, data, hr.person_id)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return rate_read(row)


@router.delete("/{currency}/{effective_date}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove a mistaken rate")
async def delete_rate(currency: CurrencyPath, effective_date: EffectivePath, session: SessionDep, hr: ActiveHR) -> None:
    await ExchangeRateService(session).delete(currency, effective_date, hr.person_id)
