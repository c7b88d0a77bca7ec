"""HTTP routes of the goals service."""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from services.goals.assist import AssistRead, AssistRequest, GoalAssist
from services.goals.events import ComputedScore
from services.goals.models import CycleScore, LLMAudit
from services.goals.repository import CycleScoreRepository, GoalFilters
from services.goals.rules import Level, ScoreResult, Status, Visibility, smart_check, weight_error_message
from services.goals.schemas import (
    PERIOD_PATTERN,
    AlignmentTree,
    AuditRead,
    BulkAssign,
    BulkAssignResult,
    CheckInCreate,
    CheckInRead,
    Contribution,
    CycleScoreRead,
    CycleScoreRequest,
    GoalCreate,
    GoalDraftInput,
    GoalRead,
    GoalUpdate,
    KeyResultCreate,
    KeyResultUpdate,
    MilestoneCreate,
    MilestoneUpdate,
    PeriodInput,
    SmartReport,
    StatusOverride,
    SuggestionsRead,
    WeightsReport,
)
from services.goals.scoring import CycleScoring
from services.goals.service import Access, GoalService, goal_draft, resolve_period, smart_report, today_utc
from shared.auth import CurrentPrincipal, HRPrincipal
from shared.cycles import ScoreError
from shared.database import SessionDep
from shared.errors import ValidationFailed
from shared.llm import AuditEntryRead, audit_page, chat_model
from shared.pagination import Page, PageDep
from shared.settings import Settings


def today() -> date:
    """Today's date (UTC); tests override this dependency to pin the clock."""
    return today_utc()


TodayDep = Annotated[date, Depends(today)]

router = APIRouter(prefix="/goals", tags=["goals"])
cycles_router = APIRouter(prefix="/cycles", tags=["cycle scores"])


# ---------------------------------------------------------------------------- collection


@router.post("", response_model=GoalRead, status_code=status.HTTP_201_CREATED, summary="Set a goal")
async def create_goal(data: GoalCreate, session: SessionDep, principal: CurrentPrincipal, day: TodayDep) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.create(data, principal))


@router.get("", response_model=Page[GoalRead], summary="Goals the caller may see, newest first")
async def list_goals(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    day: TodayDep,
    owner_id: Annotated[uuid.UUID | None, Query(description="Only this person's goals.")] = None,
    level: Annotated[Level | None, Query(description="company, department, team or individual.")] = None,
    status_: Annotated[Status | None, Query(alias="status", description="Only goals with this status.")] = None,
    aligned_to: Annotated[uuid.UUID | None, Query(description="Only goals aligned directly to this goal.")] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
    department: Annotated[str | None, Query(description="Only department goals of this department.")] = None,
    period: Annotated[
        str | None, Query(description="Goals whose time overlaps 2026, 2026-H1 or 2026-Q3.", pattern=PERIOD_PATTERN)
    ] = None,
    period_start: Annotated[date | None, Query(description="Goals whose time overlaps from this date...")] = None,
    period_end: Annotated[date | None, Query(description="...to this date.")] = None,
) -> Page[GoalRead]:
    span = resolve_period(PeriodInput(period=period, period_start=period_start, period_end=period_end), open_ended=True)
    filters = GoalFilters(
        owner_id=owner_id,
        level=level,
        status=status_,
        aligned_to_id=aligned_to,
        visibility=visibility,
        department=department,
        period_start=span.start,
        period_end=span.end,
    )
    service = GoalService(session, today=day)
    rows, total = await service.search(principal, filters, limit=page.limit, offset=page.offset)
    return Page(items=[service.read_model(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/smart-check", response_model=SmartReport, summary="SMART check of a draft goal (nothing is saved)")
async def check_draft(data: GoalDraftInput, session: SessionDep, _principal: CurrentPrincipal) -> SmartReport:
    return await GoalService(session).smart_for_draft(data)


@router.post("/suggestions", response_model=SuggestionsRead, summary="Milestones, key dates and similar goals")
async def suggest_for_draft(
    data: GoalDraftInput, session: SessionDep, _principal: CurrentPrincipal, day: TodayDep
) -> SuggestionsRead:
    return SuggestionsRead.model_validate(await GoalService(session, today=day).suggest_for_draft(data))


@router.post("/assist", response_model=AssistRead, summary="Writing help: a SMART rewrite, key results, parents")
async def assist(
    data: AssistRequest, request: Request, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> AssistRead:
    """A language model's SMART rewrite when one is configured, else (or when it fails) the local suggester."""
    settings: Settings = request.app.state.settings
    span = resolve_period(data)
    viewer = Access(session, principal).viewer
    model = chat_model(request.app.state, settings)
    return await GoalAssist(session, today=day).assist(
        data, principal, viewer, span.start, span.end, model, settings.llm_goal_assist
    )


@router.get("/assist/audit", response_model=Page[AuditEntryRead], summary="Your writing-help requests, newest first")
async def assist_audit(session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[AuditEntryRead]:
    """What was sent to the model for you, and what it answered. Only your own requests, whatever your role."""
    items, total = await audit_page(session, LLMAudit, principal.person_id, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/bulk-assign", response_model=BulkAssignResult, summary="Give goals to a team, subtree or department")
async def bulk_assign(data: BulkAssign, session: SessionDep, principal: CurrentPrincipal) -> BulkAssignResult:
    return await GoalService(session).bulk_assign(data, principal)


@router.get("/weights", response_model=WeightsReport, summary="Do a person's goal weights add up to 100?")
async def weights(
    session: SessionDep,
    principal: CurrentPrincipal,
    owner_id: uuid.UUID,
    period: Annotated[str | None, Query(description="2026, 2026-H1 or 2026-Q3.", pattern=PERIOD_PATTERN)] = None,
    period_start: date | None = None,
    period_end: date | None = None,
) -> WeightsReport:
    span = resolve_period(PeriodInput(period=period, period_start=period_start, period_end=period_end))
    return await GoalService(session).weights(owner_id, span, principal)


@router.get("/contributions", response_model=list[Contribution], summary="A person's goals and what they contribute to")
async def contributions(session: SessionDep, principal: CurrentPrincipal, owner_id: uuid.UUID) -> list[Contribution]:
    return await GoalService(session).contributions(owner_id, principal)


# ---------------------------------------------------------------------------- one goal


@router.get("/{goal_id}", response_model=GoalRead, summary="One goal")
async def get_goal(goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, day: TodayDep) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.readable_for(goal_id, principal))


@router.patch("/{goal_id}", response_model=GoalRead, summary="Change a goal")
async def update_goal(
    goal_id: uuid.UUID, data: GoalUpdate, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.update(goal_id, data, principal))


@router.put("/{goal_id}/status", response_model=GoalRead, summary="Override the derived status (with a reason)")
async def override_status(
    goal_id: uuid.UUID, data: StatusOverride, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.set_status(goal_id, data, principal))


@router.post(
    "/{goal_id}/key-results", response_model=GoalRead, status_code=status.HTTP_201_CREATED, summary="Add a key result"
)
async def add_key_result(
    goal_id: uuid.UUID, data: KeyResultCreate, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.add_key_result(goal_id, data, principal))


@router.patch("/{goal_id}/key-results/{key_result_id}", response_model=GoalRead, summary="Change a key result")
async def update_key_result(
    goal_id: uuid.UUID,
    key_result_id: uuid.UUID,
    data: KeyResultUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
    day: TodayDep,
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.update_key_result(goal_id, key_result_id, data, principal))


@router.delete("/{goal_id}/key-results/{key_result_id}", response_model=GoalRead, summary="Remove a key result")
async def remove_key_result(
    goal_id: uuid.UUID, key_result_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    """Its check-ins stay in the history without it; milestones tied to it stay, tied to no key result."""
    service = GoalService(session, today=day)
    return service.read_model(await service.remove_key_result(goal_id, key_result_id, principal))


@router.post(
    "/{goal_id}/milestones", response_model=GoalRead, status_code=status.HTTP_201_CREATED, summary="Add a milestone"
)
async def add_milestone(
    goal_id: uuid.UUID, data: MilestoneCreate, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.add_milestone(goal_id, data, principal))


@router.patch("/{goal_id}/milestones/{milestone_id}", response_model=GoalRead, summary="Change or complete a milestone")
async def update_milestone(
    goal_id: uuid.UUID,
    milestone_id: uuid.UUID,
    data: MilestoneUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
    day: TodayDep,
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.update_milestone(goal_id, milestone_id, data, principal))


@router.delete("/{goal_id}/milestones/{milestone_id}", response_model=GoalRead, summary="Remove a milestone")
async def remove_milestone(
    goal_id: uuid.UUID, milestone_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> GoalRead:
    service = GoalService(session, today=day)
    return service.read_model(await service.remove_milestone(goal_id, milestone_id, principal))


@router.post(
    "/{goal_id}/check-ins", response_model=CheckInRead, status_code=status.HTTP_201_CREATED, summary="Report progress"
)
async def check_in(
    goal_id: uuid.UUID, data: CheckInCreate, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> CheckInRead:
    return CheckInRead.model_validate(await GoalService(session, today=day).check_in(goal_id, data, principal))


@router.get("/{goal_id}/check-ins", response_model=Page[CheckInRead], summary="Progress history, newest first")
async def list_check_ins(
    goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep
) -> Page[CheckInRead]:
    rows, total = await GoalService(session).check_ins(goal_id, principal, limit=page.limit, offset=page.offset)
    items = [CheckInRead.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{goal_id}/audit", response_model=Page[AuditRead], summary="Who changed what, and when")
async def audit(goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, page: PageDep) -> Page[AuditRead]:
    items, total = await GoalService(session).audit(goal_id, principal, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{goal_id}/smart", response_model=SmartReport, summary="Which SMART properties the goal misses")
async def smart(goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal) -> SmartReport:
    goal = await GoalService(session).readable_for(goal_id, principal)
    return smart_report(smart_check(goal_draft(goal)))


@router.get("/{goal_id}/suggestions", response_model=SuggestionsRead, summary="Suggestions for a stored goal")
async def suggest_for_goal(
    goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, day: TodayDep
) -> SuggestionsRead:
    return SuggestionsRead.model_validate(await GoalService(session, today=day).suggest_for_goal(goal_id, principal))


@router.get("/{goal_id}/tree", response_model=AlignmentTree, summary="Everything aligned under a goal, rolled up")
async def tree(goal_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal, day: TodayDep) -> Response:
    # Built as plain JSON: validating a model of 100,000 nodes would cost more than the read.
    body = await GoalService(session, today=day).tree(goal_id, principal)
    return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")


# ---------------------------------------------------------------------------- cycle scores


def _score_read(score: CycleScore | ComputedScore) -> CycleScoreRead:
    read = CycleScoreRead.model_validate(score)
    error = ScoreError(score.error) if score.error else None
    result = ScoreResult(score.score, score.goal_count, score.weights_ok, score.weight_total, error)
    return read.model_copy(update={"message": weight_error_message(result)})


@cycles_router.post("/{cycle_id}/scores", response_model=list[CycleScoreRead], summary="Score a cycle's participants")
async def compute_scores(
    cycle_id: uuid.UUID, data: CycleScoreRequest, session: SessionDep, _hr: HRPrincipal
) -> list[CycleScoreRead]:
    if data.period_start > data.period_end:
        raise ValidationFailed.field("period_end", "must not be before period_start")
    scores = await CycleScoring(session).compute(cycle_id, data.period_start, data.period_end, data.participant_ids)
    return [_score_read(score) for score in scores]


@cycles_router.get("/{cycle_id}/scores", response_model=Page[CycleScoreRead], summary="A cycle's computed scores")
async def list_scores(
    cycle_id: uuid.UUID,
    session: SessionDep,
    _hr: HRPrincipal,
    page: PageDep,
    person_id: Annotated[list[uuid.UUID] | None, Query(description="Only these participants.")] = None,
) -> Page[CycleScoreRead]:
    rows, total = await CycleScoreRepository.from_session(session).page(
        cycle_id, limit=page.limit, offset=page.offset, person_ids=person_id
    )
    return Page(items=[_score_read(row) for row in rows], total=total, limit=page.limit, offset=page.offset)
