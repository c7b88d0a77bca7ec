"""Draft sources: a person's goals, key results, milestones and check-ins, as the caller may read them, signed.

A review draft is written in the reviews service, which holds only goal ids and progress. The
writer's client fetches this bundle with the writer's own token and passes it on; reviews
checks its attestation (``shared.attestation``). What is in it follows the goals' read rule
(``service.Access``): public goals, the caller's own, their reports' (any depth), all for HR
and admins; a private goal the caller may not read, and its check-ins, are left out.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.goals.endpoints import TodayDep
from services.goals.models import CheckIn, Goal
from services.goals.repository import GoalFilters, GoalRepository
from services.goals.service import Access, goal_status
from shared.attestation import MAX_ITEMS, SourceBundle, SourceItem, SourceItemKind, sign_bundle
from shared.auth import CurrentPrincipal, Principal
from shared.database import SessionDep
from shared.errors import ValidationFailed

ISSUER = "goals"
MAX_GOALS = 40
NOTE_LENGTH = 600


def _day(value: date | None) -> str:
    return value.isoformat() if value is not None else "open"


def _number(value: float) -> str:
    return f"{value:g}"


class DraftSourceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DraftSourceRepository:
        return cls(session)

    async def check_ins(
        self, goal_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None, *, limit: int
    ) -> list[CheckIn]:
        """The goals' check-ins in ``[start, end)``, oldest first."""
        if not goal_ids:
            return []
        query = select(CheckIn).where(CheckIn.goal_id.in_(goal_ids))
        if start is not None:
            query = query.where(CheckIn.created_at >= start)
        if end is not None:
            query = query.where(CheckIn.created_at < end)
        rows = await self.session.scalars(query.order_by(CheckIn.created_at, CheckIn.id).limit(limit))
        return list(rows)


class GoalDraftSources:
    def __init__(self, session: AsyncSession, *, today: date) -> None:
        self.session = session
        self.today = today
        self.goals = GoalRepository.from_session(session)
        self.repo = DraftSourceRepository.from_session(session)

    async def items(
        self, person_id: uuid.UUID, principal: Principal, start: date | None, end: date | None
    ) -> list[SourceItem]:
        viewer = Access(self.session, principal).viewer
        filters = GoalFilters(owner_id=person_id, period_start=start, period_end=end)
        goals, _ = await self.goals.search(viewer=viewer, filters=filters, today=self.today, limit=MAX_GOALS, offset=0)
        goals.sort(key=lambda goal: (goal.period_start or date.min, goal.title, goal.id))
        items: list[SourceItem] = []
        titles: dict[uuid.UUID, str] = {}
        for goal in goals:
            titles[goal.id] = goal.title
            items.extend(self._goal_items(goal))
        since = datetime.combine(start, time.min, UTC) if start is not None else None
        until = datetime.combine(end + timedelta(days=1), time.min, UTC) if end is not None else None
        room = max(0, MAX_ITEMS - len(items))
        for check_in in await self.repo.check_ins(list(titles), since, until, limit=room):
            items.append(self._check_in_item(check_in, titles[check_in.goal_id]))
        return items[:MAX_ITEMS]

    def _goal_items(self, goal: Goal) -> list[SourceItem]:
        status = goal_status(goal, self.today).value.replace("_", " ")
        weight = "" if goal.weight is None else f", weight {_number(goal.weight)}"
        text = (
            f"Goal '{goal.title}' ({goal.level}, {_day(goal.period_start)} to {_day(goal.due_date or goal.period_end)}"
            f"{weight}): {_number(goal.progress)} % done, {status}."
        )
        if goal.description:
            text += f" Description: {goal.description[:NOTE_LENGTH]}"
        items = [SourceItem(id=f"goals:goal:{goal.id}", kind=SourceItemKind.goal, text=text, date=_iso(goal))]
        for kr in goal.key_results:
            unit = kr.currency if kr.unit == "currency" and kr.currency else kr.unit
            text = (
                f"Key result of '{goal.title}': {kr.title}: from {_number(kr.start_value)} to "
                f"{_number(kr.target_value)} {unit}, now {_number(kr.current_value)}."
            )
            items.append(SourceItem(id=f"goals:key-result:{kr.id}", kind=SourceItemKind.key_result, text=text))
        for milestone in goal.milestones:
            done = f"done on {milestone.completed_at.date().isoformat()}" if milestone.completed_at else "not done yet"
            text = f"Milestone of '{goal.title}': {milestone.title}, due {milestone.due_date.isoformat()}, {done}."
            items.append(
                SourceItem(
                    id=f"goals:milestone:{milestone.id}",
                    kind=SourceItemKind.milestone,
                    text=text,
                    date=milestone.due_date.isoformat(),
                )
            )
        return items

    @staticmethod
    def _check_in_item(check_in: CheckIn, title: str) -> SourceItem:
        day = check_in.created_at.date().isoformat()
        text = (
            f"Check-in on '{title}' on {day}: progress {_number(check_in.progress_before)} % to "
            f"{_number(check_in.progress_after)} %"
        )
        if check_in.value is not None:
            text += f" (value {_number(check_in.value)})"
        if check_in.confidence is not None:
            text += f", confidence {check_in.confidence}"
        text += "."
        if check_in.note:
            text += f" Note: {check_in.note[:NOTE_LENGTH]}"
        return SourceItem(id=f"goals:check-in:{check_in.id}", kind=SourceItemKind.goal_check_in, text=text, date=day)


def _iso(goal: Goal) -> str | None:
    return goal.period_start.isoformat() if goal.period_start is not None else None


router = APIRouter(prefix="/goals", tags=["goals"])


@router.get(
    "/draft-sources",
    response_model=SourceBundle,
    summary="A person's goals and check-ins you may read, signed for your review draft",
)
async def draft_sources(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    day: TodayDep,
    person_id: Annotated[uuid.UUID, Query(description="Whose goals: the person the draft is about.")],
    period_start: Annotated[date | None, Query(description="Goals whose time overlaps from this date...")] = None,
    period_end: Annotated[date | None, Query(description="...to this date (check-ins up to its end).")] = None,
) -> SourceBundle:
    """Goals (title, description, progress, status), key results (start, target, current), milestones and
    check-ins with their notes, of the goals you may read; private goals you may not read are left out. Pass
    the answer unchanged to the reviews service's draft routes within 15 minutes: it is bound to you and to
    the person, and signed."""
    if period_start is not None and period_end is not None and period_start > period_end:
        raise ValidationFailed.field("period_end", "must not be before period_start")
    items = await GoalDraftSources(session, today=day).items(person_id, principal, period_start, period_end)
    return sign_bundle(
        request.app.state.source_signing_key,
        issuer=ISSUER,
        reader_id=principal.person_id,
        subject_id=person_id,
        items=items,
        now=datetime.now(UTC),
    )
