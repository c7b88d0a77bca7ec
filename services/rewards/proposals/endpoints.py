"""Pay-approval routes: managers edit and submit, HR approves per unit, employees read statements."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from services.rewards.access import ActiveHR, ActivePrincipal
from services.rewards.proposals.schemas import (
    ApproveResult,
    BudgetOverrideUpdate,
    CycleBudgetTotals,
    CycleRead,
    CycleUpdate,
    ManagerBudget,
    ProposalEdited,
    ProposalRead,
    ProposalUpdate,
    RefreshResult,
    ReportScope,
    ReturnRequest,
    ReturnResult,
    Statement,
    StatementHistory,
    SubmitResult,
    UnitSummary,
)
from services.rewards.proposals.service import ProposalService, budget_read
from services.rewards.schemas import Currency, OrgUnit
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.calibration import ProposalStatus
from shared.database import SessionDep
from shared.errors import Forbidden
from shared.openapi import problems
from shared.pagination import Page, PageDep

router = APIRouter(tags=["pay approval"])

ManagerQuery = Annotated[
    str | None,
    Query(description="'me' for your own reports; HR may give a manager's id or leave it out for everyone."),
]
ScopeQuery = Annotated[ReportScope, Query(description="direct reports only, or everyone below (all levels).")]
ReportingQuery = Annotated[
    Currency | None,
    Query(description="Also total every currency's figures in this one, beside them (exchange rates of rates_on)."),
]
RatesOnQuery = Annotated[date | None, Query(description="The exchange rates in force on this day; default today.")]


@router.get("/cycles/{cycle_id}", response_model=CycleRead, summary="A cycle's pay policy and progress")
async def get_cycle(cycle_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> CycleRead:
    """404 until the first final rating (or the pay-approval opening) of the cycle arrives."""
    service = ProposalService(session)
    cycle, units, approved = await service.cycle(cycle_id)
    counts, latest = await service.proposals.arrivals(cycle_id)
    return CycleRead.model_validate(cycle).model_copy(
        update={
            "org_units": units,
            "approved_org_units": approved,
            "ratings_received": sum(counts.values()),
            "proposal_counts": counts,
            "last_rating_at": latest,
        }
    )


@router.patch("/cycles/{cycle_id}", response_model=CycleRead, summary="Set a cycle's budget and due dates")
async def update_cycle(cycle_id: uuid.UUID, data: CycleUpdate, session: SessionDep, _hr: HRPrincipal) -> CycleRead:
    service = ProposalService(session)
    await service.update_cycle(cycle_id, data)
    cycle, units, approved = await service.cycle(cycle_id)
    return CycleRead.model_validate(cycle).model_copy(update={"org_units": units, "approved_org_units": approved})


@router.post(
    "/cycles/{cycle_id}/proposals/refresh",
    response_model=RefreshResult,
    summary="Recompute proposals that need data",
)
async def refresh_proposals(cycle_id: uuid.UUID, session: SessionDep, _hr: HRPrincipal) -> RefreshResult:
    return await ProposalService(session).refresh(cycle_id)


@router.get("/cycles/{cycle_id}/proposals", response_model=Page[ProposalRead], summary="Pay proposals of a cycle")
async def list_proposals(
    cycle_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    manager: ManagerQuery = None,
    scope: ScopeQuery = ReportScope.direct,
    org_unit: Annotated[OrgUnit | None, Query(description="Only this organisation unit.")] = None,
    status: Annotated[ProposalStatus | None, Query(description="Only this status.")] = None,
) -> Page[ProposalRead]:
    service = ProposalService(session)
    view = service.manager_view(principal, manager, scope is ReportScope.all)
    items, total = await service.page(
        cycle_id, view, limit=page.limit, offset=page.offset, org_unit=org_unit, status=status
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/proposals/{proposal_id}", response_model=ProposalRead, summary="One pay proposal")
async def get_proposal(proposal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> ProposalRead:
    service = ProposalService(session)
    return await service.read(await service.get(proposal_id, principal))


@router.patch(
    "/proposals/{proposal_id}",
    response_model=ProposalEdited,
    summary="Change a draft's increase",
    responses=problems(409),
)
async def edit_proposal(
    proposal_id: uuid.UUID, data: ProposalUpdate, session: SessionDep, principal: CurrentPrincipal
) -> ProposalEdited:
    service = ProposalService(session)
    edited = await service.edit(proposal_id, data, principal)
    currency = edited.proposal.currency or ""
    unit = edited.scope == "org_unit"
    return ProposalEdited(
        proposal=await service.read(edited.proposal),
        budget_pct=edited.pools.merit_pct if unit else None,
        budget=budget_read(edited.pools.of("merit", currency)),
        bonus_budget_pct=edited.pools.bonus_pct if unit else None,
        bonus_budget=budget_read(edited.pools.of("bonus", currency)),
        budget_scope="org_unit" if unit else "own_reports",
        warnings=edited.warnings,
    )


@router.get(
    "/cycles/{cycle_id}/budget",
    response_model=ManagerBudget,
    summary="Merit and bonus budgets over your own reports (all levels)",
)
async def manager_budget(
    cycle_id: uuid.UUID, session: SessionDep, principal: ActivePrincipal, manager: ManagerQuery = "me"
) -> ManagerBudget:
    service = ProposalService(session)
    view = service.manager_view(principal, manager, True)
    if view is None:
        raise Forbidden("A budget view needs a manager: manager=me, or (HR) a manager's id.")
    return await service.manager_budget(cycle_id, view.manager_id)


@router.put(
    "/cycles/{cycle_id}/org-units/{org_unit}/budget",
    response_model=UnitSummary,
    summary="Set an organisation unit's own merit and bonus pools: percentages, or fixed amounts per currency",
    responses=problems(409),
)
async def override_unit_budget(
    cycle_id: uuid.UUID, org_unit: str, data: BudgetOverrideUpdate, session: SessionDep, hr: ActiveHR
) -> UnitSummary:
    service = ProposalService(session)
    await service.set_override(cycle_id, org_unit, data, hr.person_id)
    return await service.summary(cycle_id, org_unit)


@router.post(
    "/cycles/{cycle_id}/proposals/submit",
    response_model=SubmitResult,
    summary="Submit every draft proposal of your reports",
)
async def submit_proposals(
    cycle_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    manager: ManagerQuery = "me",
    scope: ScopeQuery = ReportScope.direct,
) -> SubmitResult:
    service = ProposalService(session)
    view = service.manager_view(principal, manager, scope is ReportScope.all)
    if view is None:
        raise Forbidden("Submitting needs a manager: manager=me, or (HR) a manager's id.")
    return await service.submit(cycle_id, view, principal.person_id)


@router.get(
    "/cycles/{cycle_id}/org-units/{org_unit}/summary",
    response_model=UnitSummary,
    summary="An organisation unit's proposals, payroll and budget",
)
async def unit_summary(
    cycle_id: uuid.UUID,
    org_unit: str,
    session: SessionDep,
    _hr: HRPrincipal,
    reporting_currency: ReportingQuery = None,
    rates_on: RatesOnQuery = None,
) -> UnitSummary:
    return await ProposalService(session).summary(cycle_id, org_unit, reporting_currency, rates_on)


@router.get(
    "/cycles/{cycle_id}/budget-totals",
    response_model=CycleBudgetTotals,
    summary="A cycle's merit and bonus pools and spend over all units, per currency and in a reporting currency",
)
async def budget_totals(
    cycle_id: uuid.UUID,
    session: SessionDep,
    _hr: ActiveHR,
    reporting_currency: ReportingQuery = None,
    rates_on: RatesOnQuery = None,
) -> CycleBudgetTotals:
    return await ProposalService(session).budget_totals(cycle_id, reporting_currency, rates_on)


@router.post(
    "/cycles/{cycle_id}/org-units/{org_unit}/approve",
    response_model=ApproveResult,
    summary="Approve every (submitted) proposal of an organisation unit",
    responses=problems(409),
)
async def approve_unit(cycle_id: uuid.UUID, org_unit: str, session: SessionDep, hr: HRPrincipal) -> ApproveResult:
    return await ProposalService(session).approve_unit(cycle_id, org_unit, hr.person_id)


@router.post(
    "/cycles/{cycle_id}/org-units/{org_unit}/reject",
    response_model=ReturnResult,
    summary="Return submitted proposals of a unit to their managers, with a reason",
    responses=problems(409),
)
async def reject_unit(
    cycle_id: uuid.UUID, org_unit: str, data: ReturnRequest, session: SessionDep, hr: HRPrincipal
) -> ReturnResult:
    return await ProposalService(session).return_unit(cycle_id, org_unit, data, hr.person_id)


@router.get("/me/statements", response_model=StatementHistory, summary="Your total-reward statements, newest first")
async def my_statements(session: SessionDep, principal: ActivePrincipal) -> StatementHistory:
    return await ProposalService(session).statements(principal.person_id)


@router.get("/me/statements/{cycle_id}", response_model=Statement, summary="Your approved pay outcome of a cycle")
async def my_statement(cycle_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> Statement:
    return await ProposalService(session).statement(cycle_id, principal.person_id)
