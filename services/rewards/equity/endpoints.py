"""Pay-equity analysis, remediation proposals and the EU Art. 9 report: HR and admins only."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.rewards.access import ActiveHR
from services.rewards.equity.schemas import (
    Art9ReportRead,
    PayEquityRead,
    RemediationRead,
    RemediationRequest,
    ReportFormat,
)
from services.rewards.equity.service import EquityService, art9_csv
from services.rewards.policy.schemas import Control
from services.rewards.schemas import Currency
from shared.database import SessionDep

router = APIRouter(tags=["pay equity"])

DateQuery = Annotated[date | None, Query(description="Records in force on this date; default today (UTC).")]
CurrencyQuery = Annotated[
    Currency | None,
    Query(description="Only records in this currency; required when there are several and no reporting_currency."),
]
ReportingQuery = Annotated[
    Currency | None,
    Query(
        description="Convert every record into this currency at the exchange rates in force on the reference "
        "date (a currency without one: 422 naming it)."
    ),
]


@router.get(
    "/pay-transparency/art9-report",
    response_model=Art9ReportRead,
    summary="EU Pay Transparency Directive Art. 9 indicators (JSON or CSV)",
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def art9_report(
    session: SessionDep,
    _hr: ActiveHR,
    reference_date: DateQuery = None,
    currency: CurrencyQuery = None,
    reporting_currency: ReportingQuery = None,
    format: Annotated[ReportFormat, Query(description="json (default) or csv.")] = ReportFormat.json,
) -> Art9ReportRead | Response:
    report = await EquityService(session).art9(reference_date, currency, reporting_currency)
    if format is ReportFormat.csv:
        name = f"art9-report-{report.reference_date.isoformat()}-{report.currency}.csv"
        return Response(
            art9_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return report


@router.get("/pay-equity", response_model=PayEquityRead, summary="Unadjusted and adjusted gender pay gap")
async def pay_equity(
    session: SessionDep,
    _hr: ActiveHR,
    reference_date: DateQuery = None,
    currency: CurrencyQuery = None,
    controls: Annotated[
        list[Control] | None, Query(description="Controls of the regression; default the policy's.")
    ] = None,
    reporting_currency: ReportingQuery = None,
) -> PayEquityRead:
    return await EquityService(session).pay_equity(reference_date, currency, controls, reporting_currency)


@router.post(
    "/pay-equity/remediation",
    response_model=RemediationRead,
    summary="The smallest raises that close each flagged unexplained gap, within a budget",
)
async def remediation(data: RemediationRequest, session: SessionDep, _hr: ActiveHR) -> RemediationRead:
    return await EquityService(session).remediation(data)
