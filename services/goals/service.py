"""Goal rules: rights, alignment, measurement, check-ins, bulk assignment and the events each change publishes.

The service flushes, never commits (the request's session does), and writes an audit row and
an outbox event for every change. Rights (docs/goals.md):

* read: HR and admins read all goals; everyone reads public goals, their own goals and the
  goals of people who report to them (any depth). A goal the caller may not read is a 404.
* edit: admins edit all; company goals only HR and admins; department and team goals HR,
  their owner and the owner's managers; individual goals their owner and the owner's managers.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.goals import events
from services.goals.models import CheckIn, Goal, KeyResult, Milestone
from services.goals.repository import GoalFilters, GoalRepository, PeopleRepository, Viewer, uuid_text
from services.goals.rules import (
    LEVEL_RANK,
    WEIGHT_TOLERANCE,
    Direction,
    GoalDraft,
    KeyResultDraft,
    Level,
    Measure,
    MilestoneDraft,
    PeriodKind,
    ProgressSource,
    SmartIssue,
    Status,
    Unit,
    Visibility,
    classify_period,
    derive_status,
    direction_error,
    direction_for,
    goal_end,
    goal_progress,
    key_result_progress,
    parse_period,
    roll_up_arrays,
    smart_check,
)
from services.goals.schemas import (
    AuditRead,
    BulkAssign,
    BulkAssignResult,
    CheckInCreate,
    Contribution,
    GoalCreate,
    GoalDraftInput,
    GoalRead,
    GoalRef,
    GoalUpdate,
    KeyResultCreate,
    KeyResultRead,
    KeyResultUpdate,
    MilestoneCreate,
    MilestoneRead,
    MilestoneUpdate,
    PeriodInput,
    Scope,
    SmartIssueRead,
    SmartReport,
    StatusOverride,
    WeightsReport,
)
from services.goals.suggestions import CorpusGoal, DraftInput, KeyResultInput, Suggestions, provider
from shared.auth import Principal, Role
from shared.database import utcnow
from shared.errors import Forbidden, NotFound, ValidationFailed

CORPUS_LIMIT = 5000
SIMILAR_LIMIT = 5


LEVELS = {level.value: level for level in Level}
STATUSES = {status.value: status for status in Status}


def _pre_order(parents: Sequence[int | None], root: int) -> list[int]:
    """The nodes reachable from ``root``, each before its children (iterative: no recursion limit)."""
    children: list[list[int]] = [[] for _ in parents]
    for node, parent in enumerate(parents):
        if parent is not None and node != root:
            children[parent].append(node)
    order: list[int] = []
    stack = [root]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(children[node])
    return order


def today_utc() -> date:
    return datetime.now(UTC).date()


def _not_found(goal_id: uuid.UUID) -> NotFound:
    return NotFound(f"No goal with id {goal_id}.")


@dataclass(frozen=True, slots=True)
class Period:
    kind: PeriodKind | None
    start: date | None
    end: date | None


def resolve_period(data: PeriodInput, *, open_ended: bool = False) -> Period:
    """A named period (2026-Q2) or dates; names the offending field when it is wrong.

    ``open_ended`` (for filters) accepts a start or an end alone.
    """
    if data.period is not None:
        if data.period_start is not None or data.period_end is not None:
            raise ValidationFailed.field("period", "give either period or period_start/period_end, not both")
        try:
            kind, first, last = parse_period(data.period)
        except ValueError as exc:
            raise ValidationFailed.field("period", str(exc)) from None
        return Period(kind, first, last)
    start, end = data.period_start, data.period_end
    if start is not None and end is not None:
        if start > end:
            raise ValidationFailed.field("period_end", "must not be before period_start")
        return Period(classify_period(start, end), start, end)
    if (start is None) != (end is None) and not open_ended:
        missing = "period_end" if end is None else "period_start"
        raise ValidationFailed.field(missing, "a period needs both period_start and period_end")
    return Period(None, start, end)


def _key_result(data: KeyResultCreate, position: int, field: str) -> KeyResult:
    start, target = data.start_value, data.target_value
    if data.unit is Unit.boolean:
        start, target = 0.0, 1.0
    if data.unit is Unit.currency and data.currency is None:
        raise ValidationFailed.field(f"{field}.currency", "is required when unit is currency")
    direction = direction_for(start, target, data.direction)
    problem = direction_error(start, target, direction)
    if problem is not None:
        raise ValidationFailed.field(f"{field}.target_value", problem)
    current = start if data.current_value is None else data.current_value
    if data.unit is Unit.boolean and current not in (0.0, 1.0):
        raise ValidationFailed.field(f"{field}.current_value", "a yes/no key result is 0 (no) or 1 (yes)")
    return KeyResult(
        id=uuid.uuid4(),
        position=position,
        title=data.title,
        unit=data.unit.value,
        currency=data.currency if data.unit is Unit.currency else None,
        direction=direction.value,
        start_value=start,
        target_value=target,
        current_value=current,
        weight=data.weight,
    )


def _measure(kr: KeyResult) -> Measure:
    return Measure(kr.start_value, kr.target_value, kr.current_value, Direction(kr.direction), kr.weight)


def goal_draft(goal: Goal) -> GoalDraft:
    return GoalDraft(
        title=goal.title,
        level=Level(goal.level),
        description=goal.description,
        period_start=goal.period_start,
        period_end=goal.period_end,
        due_date=goal.due_date,
        aligned=goal.aligned_to_id is not None,
        weight=goal.weight,
        key_results=[
            KeyResultDraft(kr.title, Unit(kr.unit), kr.start_value, kr.target_value) for kr in goal.key_results
        ],
        milestones=[MilestoneDraft(m.title, m.due_date) for m in goal.milestones],
    )


def smart_report(issues: Sequence[SmartIssue]) -> SmartReport:
    missing = list(dict.fromkeys(issue.property for issue in issues))
    return SmartReport(
        ok=not issues,
        missing=missing,
        issues=[SmartIssueRead(property=i.property, code=i.code, message=i.message) for i in issues],
    )


def goal_status(goal: Goal, today: date) -> Status:
    override = Status(goal.status_override) if goal.status_override else None
    return derive_status(
        goal.progress,
        start=goal.period_start,
        end=goal_end(goal.period_end, goal.due_date),
        today=today,
        override=override,
    )


def to_read(goal: Goal, today: date) -> GoalRead:
    return GoalRead(
        id=goal.id,
        owner_id=goal.owner_id,
        level=Level(goal.level),
        department=goal.department,
        title=goal.title,
        description=goal.description,
        visibility=Visibility(goal.visibility),
        period_kind=PeriodKind(goal.period_kind) if goal.period_kind else None,
        period_start=goal.period_start,
        period_end=goal.period_end,
        due_date=goal.due_date,
        aligned_to_id=goal.aligned_to_id,
        assigned_from_id=goal.assigned_from_id,
        weight=goal.weight,
        progress=goal.progress,
        progress_source=ProgressSource(goal.progress_source),
        status=goal_status(goal, today),
        status_override=Status(goal.status_override) if goal.status_override else None,
        status_reason=goal.status_reason,
        key_results=[
            KeyResultRead.model_validate(kr).model_copy(update={"progress": key_result_progress(_measure(kr))})
            for kr in goal.key_results
        ],
        milestones=[MilestoneRead.model_validate(m) for m in goal.milestones],
        smart=smart_report(smart_check(goal_draft(goal))),
        version=goal.version,
        completed_at=goal.completed_at,
        created_at=goal.created_at,
        modified_at=goal.modified_at,
    )


class Access:
    """What one caller may see and change; reporting lines come from the people projection."""

    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.principal = principal
        self._people = PeopleRepository.from_session(session)
        self._reports: set[uuid.UUID] | None = None

    @property
    def me(self) -> uuid.UUID:
        return self.principal.person_id

    @property
    def is_admin(self) -> bool:
        return self.principal.has_any(Role.admin)

    @property
    def is_hr(self) -> bool:
        return self.principal.has_any(Role.hr, Role.admin)

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.me, sees_everything=self.is_hr)

    async def reports(self) -> set[uuid.UUID]:
        if self._reports is None:
            self._reports = await self._people.reports_of(self.me)
        return self._reports

    async def manages(self, person_id: uuid.UUID) -> bool:
        return person_id != self.me and person_id in await self.reports()

    async def can_read_row(self, owner_id: uuid.UUID, visibility: str) -> bool:
        if self.is_hr or visibility == Visibility.public.value or owner_id == self.me:
            return True
        return await self.manages(owner_id)

    async def can_edit(self, goal: Goal) -> bool:
        if self.is_admin:
            return True
        if goal.level == Level.company.value:
            return self.is_hr
        if goal.level != Level.individual.value and self.is_hr:
            return True
        return goal.owner_id == self.me or await self.manages(goal.owner_id)


class GoalService:
    def __init__(self, session: AsyncSession, *, today: date | None = None) -> None:
        self.session = session
        self.goals = GoalRepository.from_session(session)
        self.people = PeopleRepository.from_session(session)
        self.today = today or today_utc()

    def read_model(self, goal: Goal) -> GoalRead:
        return to_read(goal, self.today)

    # ------------------------------------------------------------------ access

    async def readable(self, goal_id: uuid.UUID, access: Access) -> Goal:
        goal = await self.goals.get(goal_id)
        if goal is None or not await access.can_read_row(goal.owner_id, goal.visibility):
            raise _not_found(goal_id)
        return goal

    async def readable_for(self, goal_id: uuid.UUID, principal: Principal) -> Goal:
        return await self.readable(goal_id, Access(self.session, principal))

    async def editable(self, goal_id: uuid.UUID, access: Access) -> Goal:
        goal = await self.readable(goal_id, access)
        if not await access.can_edit(goal):
            raise Forbidden("You may read this goal but not change it.")
        return goal

    # ------------------------------------------------------------------ create and change

    async def create(self, data: GoalCreate, principal: Principal) -> Goal:
        access = Access(self.session, principal)
        owner_id = data.owner_id or principal.person_id
        await self._check_may_create(data.level, owner_id, access)
        if data.level is Level.department and data.department is None:
            raise ValidationFailed.field("department", "is required for a department goal")
        period = resolve_period(data)
        parent = await self._check_parent(data.aligned_to_id, data.level, owner_id, None, access)
        key_results = [_key_result(kr, index, f"key_results.{index}") for index, kr in enumerate(data.key_results)]
        milestones = [self._milestone(m, f"milestones.{index}", []) for index, m in enumerate(data.milestones)]
        visibility = data.visibility
        if parent is not None and parent.visibility == Visibility.private.value:
            visibility = Visibility.private  # a goal under a private goal would tell what it is about
        goal = Goal(
            id=uuid.uuid4(),
            owner_id=owner_id,
            level=data.level.value,
            department=data.department if data.level is Level.department else None,
            title=data.title,
            description=data.description,
            visibility=visibility.value,
            period_kind=period.kind.value if period.kind else None,
            period_start=period.start,
            period_end=period.end,
            due_date=data.due_date,
            aligned_to_id=data.aligned_to_id,
            weight=data.weight,
            manual_progress=0.0,
            version=1,
            key_results=key_results,
            milestones=milestones,
        )
        self._refresh_progress(goal)
        await self.goals.add(goal)
        self.goals.record(goal.id, principal.person_id, "created", {"title": goal.title, "owner_id": owner_id})
        events.publish_created(self.session, goal)
        return goal

    async def _check_may_create(self, level: Level, owner_id: uuid.UUID, access: Access) -> None:
        if access.is_hr:
            return
        if level is Level.company:
            raise Forbidden("Only HR and admins set company goals.")
        if level is Level.department:
            raise Forbidden("Only HR and admins set department goals.")
        if level is Level.team:
            if owner_id != access.me or not access.principal.has_any(Role.manager):
                raise Forbidden("Team goals are set by HR, admins, or a manager for their own team.")
            return
        if owner_id != access.me and not await access.manages(owner_id):
            raise Forbidden("Only HR, admins and their managers may set a goal for someone else.")

    async def _check_parent(
        self,
        parent_id: uuid.UUID | None,
        level: Level,
        owner_id: uuid.UUID,
        goal_id: uuid.UUID | None,
        access: Access,
    ) -> Goal | None:
        if parent_id is None:
            return None
        field = "aligned_to_id"
        parent = await self.goals.get_plain(parent_id)
        if parent is None or not await access.can_read_row(parent.owner_id, parent.visibility):
            raise ValidationFailed.field(field, f"no goal with id {parent_id}")
        if level is Level.company:
            raise ValidationFailed.field(field, "company goals are the top of the tree and align to nothing")
        parent_level = Level(parent.level)
        if LEVEL_RANK[parent_level] > LEVEL_RANK[level]:
            raise ValidationFailed.field(field, f"a {level.value} goal cannot align to a {parent_level.value} goal")
        if parent_level is level and parent.owner_id == owner_id:
            raise ValidationFailed.field(field, "a goal aligns to a higher-level goal or to someone else's goal")
        if parent.status_override == Status.cancelled.value:
            raise ValidationFailed.field(field, "the goal is cancelled")
        if goal_id is not None and (parent_id == goal_id or goal_id in await self.goals.ancestor_ids(parent_id)):
            raise ValidationFailed.field(field, "this would make the goal align to itself (a cycle)")
        return parent

    def _milestone(self, data: MilestoneCreate, field: str, key_results: Sequence[KeyResult]) -> Milestone:
        if data.key_result_id is not None and data.key_result_id not in {kr.id for kr in key_results}:
            raise ValidationFailed.field(f"{field}.key_result_id", "is not a key result of this goal")
        return Milestone(
            id=uuid.uuid4(),
            title=data.title,
            due_date=data.due_date,
            key_result_id=data.key_result_id,
            target_value=data.target_value,
        )

    def _refresh_progress(self, goal: Goal) -> None:
        measures = [_measure(kr) for kr in goal.key_results]
        done = sum(1 for m in goal.milestones if m.completed_at is not None)
        progress, source = goal_progress(measures, done, len(goal.milestones), goal.manual_progress)
        goal.progress, goal.progress_source = progress, source.value

    def _after_change(self, goal: Goal, before: Status, actor: uuid.UUID) -> Status:
        """Keep completed_at in step with the status; publish ``completed`` when it becomes done."""
        after = goal_status(goal, self.today)
        if after is Status.done and goal.completed_at is None:
            goal.completed_at = utcnow()
        elif after is not Status.done:
            goal.completed_at = None
        if after is Status.done and before is not Status.done:
            events.publish_completed(self.session, goal)
            self.goals.record(goal.id, actor, "completed", {"progress": goal.progress})
        return after

    async def update(self, goal_id: uuid.UUID, data: GoalUpdate, principal: Principal) -> Goal:
        access = Access(self.session, principal)
        goal = await self.editable(goal_id, access)
        before = goal_status(goal, self.today)
        changes = data.model_dump(exclude_unset=True)
        for name in ("title", "visibility"):
            if name in changes and changes[name] is None:
                raise ValidationFailed.field(name, "may not be null")
        if "department" in changes and goal.level != Level.department.value:
            raise ValidationFailed.field("department", "only a department goal has a department")
        if {"period", "period_start", "period_end"} & changes.keys():
            period = resolve_period(data)
            changes.pop("period", None)
            changes.update(period_kind=period.kind.value if period.kind else None)
            changes.update(period_start=period.start, period_end=period.end)
        if "aligned_to_id" in changes:
            parent = await self._check_parent(
                changes["aligned_to_id"], Level(goal.level), goal.owner_id, goal.id, access
            )
            if parent is not None and parent.visibility == Visibility.private.value:
                changes["visibility"] = Visibility.private.value
        audit: dict[str, object] = {}
        for name, value in changes.items():
            value = value.value if isinstance(value, Visibility) else value
            if getattr(goal, name) != value:
                audit[name] = {"from": getattr(goal, name), "to": value}
                setattr(goal, name, value)
        if audit:
            goal.version += 1
            await self.session.flush()
            self.goals.record(goal.id, principal.person_id, "updated", audit)
            status = self._after_change(goal, before, principal.person_id)
            events.publish_updated(self.session, goal, list(audit), status.value)
        return goal

    async def set_status(self, goal_id: uuid.UUID, data: StatusOverride, principal: Principal) -> Goal:
        access = Access(self.session, principal)
        goal = await self.editable(goal_id, access)
        if data.status is not None and not data.reason:
            raise ValidationFailed.field("reason", "a reason is required to override the status")
        before = goal_status(goal, self.today)
        previous = (goal.status_override, goal.status_reason)
        goal.status_override = data.status.value if data.status else None
        goal.status_reason = data.reason if data.status else None
        if data.status is Status.done and goal.progress_source == ProgressSource.manual.value:
            goal.manual_progress = 100.0
            self._refresh_progress(goal)
        goal.version += 1
        await self.session.flush()
        self.goals.record(
            goal.id,
            principal.person_id,
            "status",
            {"from": previous[0], "to": goal.status_override, "reason": goal.status_reason},
        )
        status = self._after_change(goal, before, principal.person_id)
        events.publish_updated(self.session, goal, ["status"], status.value)
        return goal

    async def add_key_result(self, goal_id: uuid.UUID, data: KeyResultCreate, principal: Principal) -> Goal:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        position = max((kr.position for kr in goal.key_results), default=-1) + 1
        kr = _key_result(data, position, "key_result")
        goal.key_results.append(kr)
        return await self._measurement_changed(goal, before, principal, "key_result_added", {"title": kr.title})

    async def update_key_result(
        self, goal_id: uuid.UUID, kr_id: uuid.UUID, data: KeyResultUpdate, principal: Principal
    ) -> Goal:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        kr = next((kr for kr in goal.key_results if kr.id == kr_id), None)
        if kr is None:
            raise NotFound(f"Goal {goal_id} has no key result {kr_id}.")
        changes = {k: v for k, v in data.model_dump(exclude_unset=True).items() if v is not None}
        if kr.unit == Unit.boolean.value:
            changes.pop("start_value", None)
            changes.pop("target_value", None)
        start = changes.get("start_value", kr.start_value)
        target = changes.get("target_value", kr.target_value)
        direction = Direction(changes.get("direction", kr.direction))
        problem = direction_error(start, target, direction)
        if problem is not None:
            raise ValidationFailed.field("target_value", problem)
        audit: dict[str, object] = {}
        for name, value in changes.items():
            value = value.value if isinstance(value, Direction) else value
            if getattr(kr, name) != value:
                audit[name] = {"from": getattr(kr, name), "to": value}
                setattr(kr, name, value)
        if not audit:
            return goal
        return await self._measurement_changed(goal, before, principal, "key_result_updated", {str(kr.id): audit})

    async def add_milestone(self, goal_id: uuid.UUID, data: MilestoneCreate, principal: Principal) -> Goal:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        milestone = self._milestone(data, "milestone", goal.key_results)
        goal.milestones.append(milestone)
        audit = {"title": milestone.title, "due_date": milestone.due_date}
        return await self._measurement_changed(goal, before, principal, "milestone_added", audit)

    async def update_milestone(
        self, goal_id: uuid.UUID, milestone_id: uuid.UUID, data: MilestoneUpdate, principal: Principal
    ) -> Goal:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        milestone = next((m for m in goal.milestones if m.id == milestone_id), None)
        if milestone is None:
            raise NotFound(f"Goal {goal_id} has no milestone {milestone_id}.")
        changes = data.model_dump(exclude_unset=True)
        audit: dict[str, object] = {}
        if "done" in changes and changes.pop("done") is not None:
            done = bool(data.done)
            if done != (milestone.completed_at is not None):
                milestone.completed_at = utcnow() if done else None
                audit["done"] = done
        for name, value in changes.items():
            if value is None and name != "target_value":
                raise ValidationFailed.field(name, "may not be null")
            if getattr(milestone, name) != value:
                audit[name] = {"from": getattr(milestone, name), "to": value}
                setattr(milestone, name, value)
        if not audit:
            return goal
        return await self._measurement_changed(goal, before, principal, "milestone_updated", {str(milestone_id): audit})

    async def remove_key_result(self, goal_id: uuid.UUID, kr_id: uuid.UUID, principal: Principal) -> Goal:
        """Remove a key result: its check-ins stay in the history and its milestones stay, tied to nothing."""
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        kr = next((kr for kr in goal.key_results if kr.id == kr_id), None)
        if kr is None:
            raise NotFound(f"Goal {goal_id} has no key result {kr_id}.")
        detached = [m for m in goal.milestones if m.key_result_id == kr.id]
        # The database's ON DELETE SET NULL would do the same; the loaded milestones must agree with it.
        for milestone in detached:
            milestone.key_result_id = None
        await self.goals.detach_check_ins(kr.id)
        goal.key_results.remove(kr)
        for position, rest in enumerate(goal.key_results):
            rest.position = position
        audit = {"id": kr.id, "title": kr.title, "milestones_detached": [m.id for m in detached]}
        return await self._measurement_changed(goal, before, principal, "key_result_removed", audit)

    async def remove_milestone(self, goal_id: uuid.UUID, milestone_id: uuid.UUID, principal: Principal) -> Goal:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before = goal_status(goal, self.today)
        milestone = next((m for m in goal.milestones if m.id == milestone_id), None)
        if milestone is None:
            raise NotFound(f"Goal {goal_id} has no milestone {milestone_id}.")
        goal.milestones.remove(milestone)
        audit = {
            "id": milestone.id,
            "title": milestone.title,
            "due_date": milestone.due_date,
            "done": milestone.completed_at is not None,
        }
        return await self._measurement_changed(goal, before, principal, "milestone_removed", audit)

    async def _measurement_changed(
        self, goal: Goal, before: Status, principal: Principal, action: str, audit: dict[str, object]
    ) -> Goal:
        self._refresh_progress(goal)
        goal.version += 1
        await self.session.flush()
        self.goals.record(goal.id, principal.person_id, action, audit)
        status = self._after_change(goal, before, principal.person_id)
        events.publish_updated(self.session, goal, [action], status.value)
        return goal

    # ------------------------------------------------------------------ check-ins

    async def check_in(self, goal_id: uuid.UUID, data: CheckInCreate, principal: Principal) -> CheckIn:
        goal = await self.editable(goal_id, Access(self.session, principal))
        before_status = goal_status(goal, self.today)
        progress_before = goal.progress
        previous: float | None = None
        if data.key_result_id is not None:
            kr = next((kr for kr in goal.key_results if kr.id == data.key_result_id), None)
            if kr is None:
                raise ValidationFailed.field("key_result_id", "is not a key result of this goal")
            if data.value is None:
                raise ValidationFailed.field("value", "is required to report a key result")
            if kr.unit == Unit.boolean.value and data.value not in (0.0, 1.0):
                raise ValidationFailed.field("value", "a yes/no key result is 0 (no) or 1 (yes)")
            if not math.isfinite(data.value):
                raise ValidationFailed.field("value", "must be a finite number")
            previous, kr.current_value = kr.current_value, data.value
        elif data.value is not None:
            if goal.progress_source != ProgressSource.manual.value:
                raise ValidationFailed.field(
                    "value", f"this goal's progress comes from its {goal.progress_source.replace('_', ' ')}"
                )
            if not 0 <= data.value <= 100:
                raise ValidationFailed.field("value", "manual progress lies between 0 and 100")
            previous, goal.manual_progress = goal.manual_progress, data.value
        elif data.note is None and data.confidence is None:
            raise ValidationFailed.field("value", "a check-in reports a value, a confidence or a note")
        self._refresh_progress(goal)
        goal.version += 1
        check_in = CheckIn(
            id=uuid.uuid4(),
            goal_id=goal.id,
            key_result_id=data.key_result_id,
            author_id=principal.person_id,
            value=data.value,
            previous_value=previous,
            confidence=data.confidence,
            note=data.note,
            progress_before=progress_before,
            progress_after=goal.progress,
            created_at=utcnow(),
        )
        self.session.add(check_in)
        await self.session.flush()
        audit = {"check_in_id": check_in.id, "value": data.value, "previous_value": previous}
        self.goals.record(goal.id, principal.person_id, "check_in", audit)
        status = self._after_change(goal, before_status, principal.person_id)
        events.publish_progressed(self.session, goal, status.value, check_in.id, data.key_result_id)
        return check_in

    async def check_ins(
        self, goal_id: uuid.UUID, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[CheckIn], int]:
        await self.readable(goal_id, Access(self.session, principal))
        return await self.goals.check_ins(goal_id, limit=limit, offset=offset)

    async def audit(
        self, goal_id: uuid.UUID, principal: Principal, *, limit: int, offset: int
    ) -> tuple[list[AuditRead], int]:
        access = Access(self.session, principal)
        goal = await self.readable(goal_id, access)
        if not access.is_hr and not await access.can_edit(goal):
            raise Forbidden("The audit trail is for those who may change the goal, and HR.")
        rows, total = await self.goals.audit(goal_id, limit=limit, offset=offset)
        items = [
            AuditRead(
                id=row.id,
                actor_id=row.actor_id,
                action=row.action,
                changes=json.loads(row.changes),
                created_at=row.created_at,
            )
            for row in rows
        ]
        return items, total

    # ------------------------------------------------------------------ lists and trees

    async def search(
        self, principal: Principal, filters: GoalFilters, *, limit: int, offset: int
    ) -> tuple[list[Goal], int]:
        viewer = Access(self.session, principal).viewer
        return await self.goals.search(viewer=viewer, filters=filters, today=self.today, limit=limit, offset=offset)

    async def tree(self, goal_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
        """The goal and everything aligned under it, with roll-up progress: one query, then memory.

        Returns the JSON-ready body of ``AlignmentTree`` (plain dicts: a tree of 100,000 goals
        would spend most of its time building models). A goal the caller may not see is left
        out, and the visible goals under it hang from its nearest visible ancestor. The roll-up
        is computed over what the caller sees, so a hidden goal's progress never shows through
        a goal above it.
        """
        access = Access(self.session, principal)
        rows = await self.goals.tree_rows(goal_id)
        root_key = str(goal_id)
        ids = [uuid_text(row[0]) for row in rows]
        index = {key: number for number, key in enumerate(ids)}
        if root_key not in index:
            raise _not_found(goal_id)
        root = index[root_key]
        parents = [index.get(uuid_text(row[1])) if row[1] is not None else None for row in rows]
        owners = [uuid_text(row[2]) for row in rows]
        visible = await self._visible_numbers(rows, owners, access)
        if not visible[root]:
            raise _not_found(goal_id)
        order = _pre_order(parents, root)
        # The tree the caller sees: a visible goal hangs from its nearest visible ancestor and
        # hidden goals hang from nothing, so the roll-up never reaches them.
        holder = list(range(len(rows)))
        seen_parents: list[int | None] = [None] * len(rows)
        for number in order:
            parent = parents[number]
            attach = holder[parent] if parent is not None and number != root else None
            if visible[number]:
                seen_parents[number] = attach
            else:
                holder[number] = attach if attach is not None else number
        manual = ProgressSource.manual.value
        cancelled_value = Status.cancelled.value
        rollup, _children, _order, rules = roll_up_arrays(
            seen_parents,
            [row[6] for row in rows],
            [row[7] != manual for row in rows],
            [row[8] == cancelled_value for row in rows],
            root,
            [row[12] for row in rows],
        )
        today = self.today
        nodes: list[dict[str, Any] | None] = [None] * len(rows)
        size = 0
        for number in order:  # pre-order: a parent is placed before its children
            if not visible[number]:
                continue
            row = rows[number]
            override = STATUSES[row[8]] if row[8] else None
            status = derive_status(row[6], start=row[9], end=goal_end(row[10], row[11]), today=today, override=override)
            node: dict[str, Any] = {
                "id": ids[number],
                "owner_id": owners[number],
                "level": row[3],
                "title": row[5],
                "status": status.value,
                "progress": row[6],
                "weight": row[12],
                "rollup_progress": rollup[number],
                "rollup_rule": rules[number].value,
                "children": [],
            }
            nodes[number] = node
            size += 1
            attach_to = seen_parents[number]
            if number != root and attach_to is not None:
                holder_node = nodes[attach_to]
                assert holder_node is not None
                holder_node["children"].append(node)
        return {"root": nodes[root], "size": size}

    async def _visible_numbers(
        self, rows: Sequence[tuple[Any, ...]], owners: Sequence[str], access: Access
    ) -> list[bool]:
        if access.is_hr:
            return [True] * len(rows)
        me = str(access.me)
        public = Visibility.public.value
        needs_reports = any(row[4] != public and owner != me for row, owner in zip(rows, owners, strict=True))
        reports = {str(report) for report in await access.reports()} if needs_reports else set()
        return [row[4] == public or owner == me or owner in reports for row, owner in zip(rows, owners, strict=True)]

    async def _visible_ids(self, rows: Sequence[tuple[object, ...]], access: Access) -> set[object]:
        if access.is_hr:
            return {row[0] for row in rows}
        visible: set[object] = set()
        for row in rows:
            owner_id, visibility = row[2], row[4]
            assert isinstance(owner_id, uuid.UUID)
            if await access.can_read_row(owner_id, str(visibility)):
                visible.add(row[0])
        return visible

    async def contributions(self, owner_id: uuid.UUID, principal: Principal) -> list[Contribution]:
        """Bottom-up: each of the person's goals and the chain of goals it contributes to."""
        access = Access(self.session, principal)
        rows = await self.goals.contribution_rows(owner_id)
        by_id = {row[0]: row for row in rows}
        visible = await self._visible_ids(rows, access)

        def ref(row: tuple[object, ...]) -> GoalRef:
            return GoalRef.model_validate(
                {"id": row[0], "owner_id": row[2], "level": row[3], "title": row[5], "progress": row[6]}
            )

        out = []
        own = sorted((row for row in rows if row[2] == owner_id and row[0] in visible), key=lambda r: str(r[5]))
        for row in own:
            chain: list[GoalRef] = []
            parent_id = row[1]
            seen: set[object] = {row[0]}
            while parent_id is not None and parent_id in by_id and parent_id in visible and parent_id not in seen:
                seen.add(parent_id)
                chain.append(ref(by_id[parent_id]))
                parent_id = by_id[parent_id][1]
            out.append(Contribution(goal=ref(row), contributes_to=chain))
        return out

    # ------------------------------------------------------------------ weights

    async def weights(self, owner_id: uuid.UUID, period: Period, principal: Principal) -> WeightsReport:
        access = Access(self.session, principal)
        if not (access.is_hr or owner_id == access.me or await access.manages(owner_id)):
            raise Forbidden("Only the owner, their managers and HR see a person's goal weights.")
        if period.start is None or period.end is None:
            raise ValidationFailed.field("period", "a period (or period_start and period_end) is required")
        rows = await self.goals.scored_rows([owner_id], period.start, period.end)
        weights = [weight for _, _, weight, _ in rows]
        total = round(sum(w for w in weights if w is not None), 4)
        unweighted = sum(1 for w in weights if w is None)
        message: str | None = None
        if not rows:
            message = "No goal of this person ends within the period."
        elif unweighted == len(rows):
            message = None  # no weights at all: the goals count equally
        elif unweighted:
            message = f"{unweighted} goal(s) have no weight; the others add up to {total:g}."
        elif abs(total - 100) > WEIGHT_TOLERANCE:
            message = f"The weights add up to {total:g}, not 100."
        return WeightsReport(
            owner_id=owner_id,
            period_start=period.start,
            period_end=period.end,
            goal_count=len(rows),
            weight_total=total,
            unweighted=unweighted,
            ok=bool(rows) and message is None,
            message=message,
        )

    # ------------------------------------------------------------------ SMART and suggestions

    async def smart_for_draft(self, data: GoalDraftInput) -> SmartReport:
        period = resolve_period(data)
        key_results = [_key_result(kr, i, f"key_results.{i}") for i, kr in enumerate(data.key_results)]
        draft = GoalDraft(
            title=data.title,
            level=data.level,
            description=data.description,
            period_start=period.start,
            period_end=period.end,
            due_date=data.due_date,
            aligned=data.aligned_to_id is not None,
            weight=data.weight,
            key_results=[KeyResultDraft(k.title, Unit(k.unit), k.start_value, k.target_value) for k in key_results],
            milestones=[MilestoneDraft(m.title, m.due_date) for m in data.milestones],
        )
        return smart_report(smart_check(draft))

    async def suggest_for_goal(self, goal_id: uuid.UUID, principal: Principal) -> Suggestions:
        goal = await self.readable(goal_id, Access(self.session, principal))
        draft = DraftInput(
            title=goal.title,
            description=goal.description,
            period_start=goal.period_start,
            period_end=goal.period_end,
            due_date=goal.due_date,
            key_results=[
                KeyResultInput(kr.title, Unit(kr.unit), kr.start_value, kr.target_value, kr.id)
                for kr in goal.key_results
            ],
            exclude_id=goal.id,
        )
        return await self._suggest(draft)

    async def suggest_for_draft(self, data: GoalDraftInput) -> Suggestions:
        period = resolve_period(data)
        key_results = [_key_result(kr, i, f"key_results.{i}") for i, kr in enumerate(data.key_results)]
        draft = DraftInput(
            title=data.title,
            description=data.description,
            period_start=period.start,
            period_end=period.end,
            due_date=data.due_date,
            key_results=[KeyResultInput(k.title, Unit(k.unit), k.start_value, k.target_value) for k in key_results],
        )
        return await self._suggest(draft)

    async def _suggest(self, draft: DraftInput) -> Suggestions:
        rows = await self.goals.corpus(limit=CORPUS_LIMIT)
        corpus = [CorpusGoal(uuid.UUID(goal_id), title, uses) for goal_id, title, uses in rows]
        corpus = [goal for goal in corpus if goal.title.strip().lower() != draft.title.strip().lower()]
        return await provider().suggest(draft, corpus, today=self.today, limit=SIMILAR_LIMIT)

    # ------------------------------------------------------------------ bulk assignment

    async def bulk_assign(self, data: BulkAssign, principal: Principal) -> BulkAssignResult:
        """Copy each source goal to every member of the scope, aligned to the source; repeatable."""
        access = Access(self.session, principal)
        if data.scope is Scope.department:
            if data.department is None:
                raise ValidationFailed.field("department", "is required for scope department")
            if not access.is_hr:
                raise Forbidden("Only HR and admins assign goals to a whole department.")
        else:
            if data.manager_id is None:
                raise ValidationFailed.field("manager_id", "is required for scope team and subtree")
            if not access.is_hr and data.manager_id != access.me and not await access.manages(data.manager_id):
                raise Forbidden("Managers assign goals to their own team or subtree only.")
        sources = []
        for index, source_id in enumerate(dict.fromkeys(data.source_goal_ids)):
            source = await self.goals.get(source_id)
            if source is None or not await access.can_read_row(source.owner_id, source.visibility):
                raise ValidationFailed.field(f"source_goal_ids.{index}", f"no goal with id {source_id}")
            if source.status_override == Status.cancelled.value:
                raise ValidationFailed.field(f"source_goal_ids.{index}", "the goal is cancelled")
            sources.append(source)
        members = await self.people.members(
            manager_id=data.manager_id,
            department=data.department if data.scope is Scope.department else None,
            subtree=data.scope is Scope.subtree,
        )
        created: list[Goal] = []
        skipped = 0
        for source in sources:
            already = await self.goals.copied_to(source.id)
            for member in members:
                if member in already or member == source.owner_id:
                    skipped += 1
                    continue
                created.append(self._copy(source, member, data))
        if created:
            await self.goals.add_all(created)
        for goal in created:
            self.goals.record(goal.id, principal.person_id, "assigned", {"source_goal_id": goal.assigned_from_id})
            events.publish_created(self.session, goal)
        return BulkAssignResult(
            members=len(members), created=len(created), skipped=skipped, goal_ids=[goal.id for goal in created]
        )

    def _copy(self, source: Goal, owner_id: uuid.UUID, data: BulkAssign) -> Goal:
        private = Visibility.private.value in (source.visibility, data.visibility.value)
        key_results = [
            KeyResult(
                id=uuid.uuid4(),
                position=kr.position,
                title=kr.title,
                unit=kr.unit,
                currency=kr.currency,
                direction=kr.direction,
                start_value=kr.start_value,
                target_value=kr.target_value,
                current_value=kr.start_value,
                weight=kr.weight,
            )
            for kr in source.key_results
        ]
        goal = Goal(
            id=uuid.uuid4(),
            owner_id=owner_id,
            level=Level.individual.value,
            title=source.title,
            description=source.description,
            visibility=Visibility.private.value if private else Visibility.public.value,
            period_kind=source.period_kind,
            period_start=source.period_start,
            period_end=source.period_end,
            due_date=source.due_date,
            aligned_to_id=source.id,
            assigned_from_id=source.id,
            weight=data.weight if data.weight is not None else source.weight,
            manual_progress=0.0,
            version=1,
            key_results=key_results,
            milestones=[
                Milestone(id=uuid.uuid4(), title=m.title, due_date=m.due_date, target_value=m.target_value)
                for m in source.milestones
            ],
        )
        self._refresh_progress(goal)
        return goal
