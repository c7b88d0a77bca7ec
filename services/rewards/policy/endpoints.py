"""HR settings of the rewards service and the worker categories pay reports group by."""

from __future__ import annotations

from fastapi import APIRouter, status

from services.rewards.access import ActiveHR
from services.rewards.policy.schemas import PolicyRead, PolicyUpdate, WorkerCategoryCreate, WorkerCategoryRead
from services.rewards.policy.service import PolicyService
from shared.database import SessionDep
from shared.pagination import Page, PageDep

router = APIRouter(tags=["rewards policy"])


async def _read(service: PolicyService) -> PolicyRead:
    policy, stored = await service.current(), await service.stored()
    return PolicyRead(
        min_cell_size=policy.min_cell_size,
        equity_flag_pct=policy.equity_flag_pct,
        equity_controls=list(policy.equity_controls),
        budget_mode=policy.budget_mode,
        impact_attributes=list(policy.impact_attributes),
        updated_by=stored.updated_by if stored else None,
        modified_at=(stored.modified_at or stored.created_at) if stored else None,
    )


@router.get("/rewards-policy", response_model=PolicyRead, summary="Report suppression and pay-equity settings")
async def get_policy(session: SessionDep, _hr: ActiveHR) -> PolicyRead:
    return await _read(PolicyService(session))


@router.patch("/rewards-policy", response_model=PolicyRead, summary="Change the rewards settings")
async def update_policy(data: PolicyUpdate, session: SessionDep, hr: ActiveHR) -> PolicyRead:
    service = PolicyService(session)
    await service.update(data, hr.person_id)
    return await _read(service)


@router.post(
    "/worker-categories",
    response_model=WorkerCategoryRead,
    status_code=status.HTTP_201_CREATED,
    summary="Define a category of worker (same work or work of equal value)",
)
async def create_worker_category(data: WorkerCategoryCreate, session: SessionDep, hr: ActiveHR) -> WorkerCategoryRead:
    return WorkerCategoryRead.model_validate(await PolicyService(session).add_category(data, hr.person_id))


@router.get("/worker-categories", response_model=Page[WorkerCategoryRead], summary="Categories of worker")
async def list_worker_categories(session: SessionDep, _hr: ActiveHR, page: PageDep) -> Page[WorkerCategoryRead]:
    rows, total = await PolicyService(session).policies.categories(limit=page.limit, offset=page.offset)
    return Page(
        items=[WorkerCategoryRead.model_validate(row) for row in rows],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
