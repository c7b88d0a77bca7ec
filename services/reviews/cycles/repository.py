"""All SQL of review cycles, the task inbox and calibration."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, insert, literal, not_, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from services.reviews.models import (
    ActivityEffect,
    CalibrationAdjustment,
    CalibrationSession,
    CycleParticipant,
    Person,
    RatingDispute,
    ReviewCycle,
    ReviewTask,
    path_range,
)
from shared.database import utcnow

UNASSIGNED_UNIT = "unassigned"
OPEN_STATUSES = ("open", "overdue", "escalated")


def selection(filters: dict[str, Any], manager_paths: Sequence[str]) -> ColumnElement[bool]:
    """The WHERE clause of a participant selection: one set-based condition, no per-person query."""
    criteria: list[ColumnElement[bool]] = [Person.active.is_(True)]
    for key, column in (
        ("departments", Person.department),
        ("organizations", Person.organization),
        ("divisions", Person.division),
        ("locations", Person.location),
    ):
        values = filters.get(key)
        if values is not None:
            criteria.append(column.in_(values) if values else false())
    if filters.get("hired_before") is not None:
        # Strictly before; a person whose hire date is unknown does not qualify.
        hired_before = date.fromisoformat(str(filters["hired_before"]))
        criteria.append(and_(Person.hire_date.is_not(None), Person.hire_date < hired_before))
    if filters.get("manager_subtrees") is not None:
        ranges = [and_(Person.path > low, Person.path < high) for low, high in map(path_range, manager_paths)]
        criteria.append(or_(*ranges) if ranges else false())
    chosen: ColumnElement[bool] = and_(*criteria)
    include = [uuid.UUID(str(value)) for value in filters.get("include") or []]
    if include:
        chosen = or_(chosen, and_(Person.id.in_(include), Person.active.is_(True)))
    exclude = [uuid.UUID(str(value)) for value in filters.get("exclude") or []]
    if exclude:
        chosen = and_(chosen, Person.id.not_in(exclude))
    return chosen


class CycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CycleRepository:
        return cls(session)

    async def get(self, cycle_id: uuid.UUID, *, for_update: bool = False) -> ReviewCycle | None:
        return await self.session.get(ReviewCycle, cycle_id, with_for_update=for_update)

    async def add(self, cycle: ReviewCycle) -> ReviewCycle:
        self.session.add(cycle)
        await self.session.flush()
        return cycle

    async def page(self, *, status: str | None, limit: int, offset: int) -> tuple[list[ReviewCycle], int]:
        query = select(ReviewCycle)
        if status is not None:
            query = query.where(ReviewCycle.status == status)
        total = int(await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = await self.session.scalars(
            query.order_by(ReviewCycle.created_at.desc(), ReviewCycle.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def manager_paths(self, manager_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await self.session.execute(select(Person.id, Person.path).where(Person.id.in_(list(manager_ids))))
        return {row[0]: row[1] for row in rows.all()}

    def _snapshot_select(self, cycle_id: uuid.UUID, where: ColumnElement[bool]) -> Select[Any]:
        return select(
            literal(cycle_id).label("cycle_id"),
            Person.id,
            Person.manager_id,
            func.coalesce(Person.department, UNASSIGNED_UNIT),
            literal(0),
            literal(0),
            func.now(),
        ).where(where)

    async def snapshot(self, cycle_id: uuid.UUID, where: ColumnElement[bool]) -> int:
        """Copy the selected people into the cycle in one INSERT ... SELECT; returns how many."""
        columns = [
            CycleParticipant.cycle_id,
            CycleParticipant.person_id,
            CycleParticipant.manager_id,
            CycleParticipant.org_unit,
            CycleParticipant.goal_score_revision,
            CycleParticipant.peer_score_revision,
            CycleParticipant.rating_version,
            CycleParticipant.added_at,
        ]
        source = select(
            literal(cycle_id, type_=CycleParticipant.cycle_id.type),
            Person.id,
            Person.manager_id,
            func.coalesce(Person.department, UNASSIGNED_UNIT),
            literal(0),
            literal(0),
            literal(0),
            literal(datetime.now().astimezone(), type_=CycleParticipant.added_at.type),
        ).where(where)
        await self.session.execute(insert(CycleParticipant).from_select(columns, source))
        return int(
            await self.session.scalar(
                select(func.count()).select_from(CycleParticipant).where(CycleParticipant.cycle_id == cycle_id)
            )
            or 0
        )

    async def count_selected(self, where: ColumnElement[bool]) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Person).where(where)) or 0)

    async def participant(
        self, cycle_id: uuid.UUID, person_id: uuid.UUID, *, for_update: bool = False
    ) -> CycleParticipant | None:
        return await self.session.get(CycleParticipant, (cycle_id, person_id), with_for_update=for_update)

    async def add_participant(self, participant: CycleParticipant) -> None:
        self.session.add(participant)
        await self.session.flush()

    async def participants_page(
        self, cycle_id: uuid.UUID, *, after: uuid.UUID | None, size: int, current_only: bool = True
    ) -> list[CycleParticipant]:
        """Keyset by person id: the same ``after`` always gives the same page."""
        query = select(CycleParticipant).where(CycleParticipant.cycle_id == cycle_id)
        if current_only:
            query = query.where(
                or_(CycleParticipant.closed_reason.is_(None), CycleParticipant.closed_reason == "cancelled")
            )
        if after is not None:
            query = query.where(CycleParticipant.person_id > after)
        rows = await self.session.scalars(query.order_by(CycleParticipant.person_id).limit(size))
        return list(rows)

    async def participants(
        self, cycle_id: uuid.UUID, *, org_unit: str | None = None, limit: int | None = None, offset: int = 0
    ) -> tuple[list[CycleParticipant], int]:
        query = select(CycleParticipant).where(CycleParticipant.cycle_id == cycle_id)
        if org_unit is not None:
            query = query.where(CycleParticipant.org_unit == org_unit)
        total = int(await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        query = query.order_by(CycleParticipant.org_unit, CycleParticipant.person_id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return list(await self.session.scalars(query)), total

    async def open_participations(self, person_id: uuid.UUID) -> list[CycleParticipant]:
        rows = await self.session.scalars(
            select(CycleParticipant)
            .join(ReviewCycle, ReviewCycle.id == CycleParticipant.cycle_id)
            .where(
                CycleParticipant.person_id == person_id,
                CycleParticipant.closed_reason.is_(None),
                ReviewCycle.status == "launched",
            )
        )
        return list(rows)

    async def managed_by(self, manager_id: uuid.UUID) -> list[tuple[CycleParticipant, uuid.UUID]]:
        """Open participations of launched cycles whose manager this is, with each cycle's HR owner."""
        rows = await self.session.execute(
            select(CycleParticipant, ReviewCycle.hr_owner_id)
            .join(ReviewCycle, ReviewCycle.id == CycleParticipant.cycle_id)
            .where(
                CycleParticipant.manager_id == manager_id,
                CycleParticipant.closed_reason.is_(None),
                ReviewCycle.status == "launched",
            )
            .order_by(CycleParticipant.cycle_id, CycleParticipant.person_id)
        )
        return [(participant, hr_owner) for participant, hr_owner in rows.tuples()]

    async def activity_counts(self, cycle_id: uuid.UUID) -> dict[str, int]:
        """Counts of what the asynchronous steps after launch have written (participants still in the cycle)."""
        current = and_(CycleParticipant.cycle_id == cycle_id, CycleParticipant.closed_reason.is_(None))
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(CycleParticipant.goal_score_revision > 0),
                    func.count().filter(CycleParticipant.peer_score_revision > 0),
                    func.count().filter(CycleParticipant.score.is_not(None)),
                    func.count().filter(CycleParticipant.rating_version > 0),
                ).where(current)
            )
        ).one()
        sessions = (
            await self.session.execute(
                select(func.count(), func.count().filter(CalibrationSession.status == "final")).where(
                    CalibrationSession.cycle_id == cycle_id
                )
            )
        ).one()
        names = ("participants", "goal_scores", "peer_scores", "scored", "ratings_published")
        return {
            **dict(zip(names, (int(value) for value in row), strict=True)),
            "calibration_sessions": int(sessions[0]),
            "calibration_sessions_final": int(sessions[1]),
        }

    async def org_units(self, cycle_id: uuid.UUID) -> list[str]:
        rows = await self.session.scalars(
            select(CycleParticipant.org_unit)
            .where(CycleParticipant.cycle_id == cycle_id, CycleParticipant.closed_reason.is_(None))
            .distinct()
            .order_by(CycleParticipant.org_unit)
        )
        return list(rows)

    async def set_goal_score(
        self,
        cycle_id: uuid.UUID,
        person_id: uuid.UUID,
        score: float | None,
        revision: int,
        goals: list[dict[str, object]] | None = None,
    ) -> bool:
        """True when this revision is newer than the one held (and so was stored)."""
        result = await self.session.execute(
            update(CycleParticipant)
            .where(
                CycleParticipant.cycle_id == cycle_id,
                CycleParticipant.person_id == person_id,
                CycleParticipant.goal_score_revision < revision,
            )
            .values(goal_score=score, goal_score_revision=revision, goal_inputs=goals)
        )
        return bool(getattr(result, "rowcount", 0))

    async def set_peer_score(
        self, cycle_id: uuid.UUID, person_id: uuid.UUID, score: float | None, rater_count: int, revision: int
    ) -> bool:
        """True when this revision is newer than the one held (and so was stored)."""
        result = await self.session.execute(
            update(CycleParticipant)
            .where(
                CycleParticipant.cycle_id == cycle_id,
                CycleParticipant.person_id == person_id,
                CycleParticipant.peer_score_revision < revision,
            )
            .values(peer_score=score, peer_rater_count=rater_count, peer_score_revision=revision)
        )
        return bool(getattr(result, "rowcount", 0))


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> TaskRepository:
        return cls(session)

    async def get(self, task_id: str, *, for_update: bool = False) -> ReviewTask | None:
        return await self.session.get(ReviewTask, task_id, with_for_update=for_update)

    async def locked(self, task_id: str) -> ReviewTask | None:
        """The task, its row held until the transaction ends; the first statement of its transaction.

        SQLite has no row locks, and a transaction that read before it writes fails when another
        writer committed meanwhile: a write that changes nothing takes SQLite's one write lock first
        (waiting for it, as long as the busy timeout lets it)."""
        connection = await self.session.connection()
        if connection.dialect.name == "sqlite":
            await connection.execute(text("UPDATE review_tasks SET id = id WHERE id = :id"), {"id": task_id})
        return await self.session.get(ReviewTask, task_id, with_for_update=True)

    async def add(self, task: ReviewTask) -> bool:
        """Insert the task; False when another attempt inserted it first (nothing changes)."""
        try:
            async with self.session.begin_nested():
                self.session.add(task)
                await self.session.flush()
        except IntegrityError:
            return False
        return True

    async def of_person(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> list[ReviewTask]:
        rows = await self.session.scalars(
            select(ReviewTask)
            .where(ReviewTask.cycle_id == cycle_id, ReviewTask.person_id == person_id)
            .order_by(ReviewTask.created_at)
        )
        return list(rows)

    async def open_assigned_to(self, assignee_id: uuid.UUID) -> list[tuple[ReviewTask, uuid.UUID]]:
        """Open tasks of launched cycles in this person's inbox, about someone else, with the cycle's HR owner."""
        rows = await self.session.execute(
            select(ReviewTask, ReviewCycle.hr_owner_id)
            .join(ReviewCycle, ReviewCycle.id == ReviewTask.cycle_id)
            .where(
                ReviewTask.assignee_id == assignee_id,
                ReviewTask.person_id != assignee_id,
                ReviewTask.status.in_(OPEN_STATUSES),
                ReviewCycle.status == "launched",
            )
            .order_by(ReviewTask.cycle_id, ReviewTask.id)
        )
        return [(task, hr_owner) for task, hr_owner in rows.tuples()]

    async def mark_done(self, task_id: str, actor_id: uuid.UUID | None, at: datetime) -> bool:
        """Done, unless something else finished it first; True if this call did it."""
        result = await self.session.execute(
            update(ReviewTask)
            .where(ReviewTask.id == task_id, ReviewTask.status.in_(OPEN_STATUSES))
            .values(status="done", completed_by=actor_id, completed_at=at)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1

    async def bulk_written_due_elsewhere(self, task_ids: Sequence[str], due_at: datetime) -> list[ReviewTask]:
        """Open tasks among these still as the bulk launch wrote them (revision 1) but due at another time."""
        rows = await self.session.scalars(
            select(ReviewTask)
            .where(
                ReviewTask.id.in_(list(task_ids)),
                ReviewTask.revision == 1,
                ReviewTask.status.in_(OPEN_STATUSES),
                ReviewTask.due_at != due_at,
            )
            .with_for_update()
        )
        return list(rows)

    async def existing_ids(self, task_ids: Sequence[str]) -> set[str]:
        rows = await self.session.scalars(select(ReviewTask.id).where(ReviewTask.id.in_(list(task_ids))))
        return set(rows)

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Many new tasks in one multi-row insert (the launch writes thousands)."""
        if rows:
            await self.session.execute(insert(ReviewTask), list(rows))

    async def close_open_of_cycle(self, cycle_id: uuid.UUID) -> int:
        result = await self.session.execute(
            update(ReviewTask)
            .where(ReviewTask.cycle_id == cycle_id, ReviewTask.status.in_(OPEN_STATUSES))
            .values(status="closed")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def close_open(self, cycle_id: uuid.UUID, person_id: uuid.UUID) -> int:
        result = await self.session.execute(
            update(ReviewTask)
            .where(
                ReviewTask.cycle_id == cycle_id,
                ReviewTask.person_id == person_id,
                ReviewTask.status.in_(OPEN_STATUSES),
            )
            .values(status="closed")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def _filtered(
        self,
        *,
        assignee_id: uuid.UUID | None,
        person_ids: ColumnElement[bool] | None,
        step: str | None,
        cycle_id: uuid.UUID | None,
        overdue: bool | None,
        open_only: bool,
        now: datetime,
    ) -> Select[tuple[ReviewTask]]:
        query = select(ReviewTask)
        if assignee_id is not None:
            query = query.where(ReviewTask.assignee_id == assignee_id)
        if person_ids is not None:
            query = query.where(person_ids)
        if step is not None:
            query = query.where(ReviewTask.step == step)
        if cycle_id is not None:
            query = query.where(ReviewTask.cycle_id == cycle_id)
        if open_only or overdue is not None:
            query = query.where(ReviewTask.status.in_(OPEN_STATUSES))
        if overdue is True:
            query = query.where(ReviewTask.due_at < now)
        elif overdue is False:
            query = query.where(ReviewTask.due_at >= now)
        return query

    async def page(
        self,
        *,
        assignee_id: uuid.UUID | None = None,
        person_ids: ColumnElement[bool] | None = None,
        step: str | None = None,
        cycle_id: uuid.UUID | None = None,
        overdue: bool | None = None,
        open_only: bool = True,
        now: datetime,
        limit: int,
        offset: int,
    ) -> tuple[list[ReviewTask], int]:
        query = self._filtered(
            assignee_id=assignee_id,
            person_ids=person_ids,
            step=step,
            cycle_id=cycle_id,
            overdue=overdue,
            open_only=open_only,
            now=now,
        )
        return await self._counted_page(query, (ReviewTask.due_at, ReviewTask.id), limit, offset)

    async def search(
        self,
        *,
        assignee_id: uuid.UUID | None = None,
        person_ids: ColumnElement[bool] | None = None,
        person_id: uuid.UUID | None = None,
        step: str | None = None,
        cycle_id: uuid.UUID | None = None,
        statuses: Sequence[str] | None = None,
        overdue: bool | None = None,
        now: datetime,
        limit: int,
        offset: int,
    ) -> tuple[list[ReviewTask], int]:
        """Tasks in any status (``statuses`` None: every one), newest deadline first: the history view."""
        query = self._filtered(
            assignee_id=assignee_id,
            person_ids=person_ids,
            step=step,
            cycle_id=cycle_id,
            overdue=overdue,
            open_only=False,
            now=now,
        )
        if person_id is not None:
            query = query.where(ReviewTask.person_id == person_id)
        if statuses is not None:
            query = query.where(ReviewTask.status.in_(list(statuses)))
        return await self._counted_page(query, (ReviewTask.due_at.desc(), ReviewTask.id), limit, offset)

    async def _counted_page(
        self, query: Select[tuple[ReviewTask]], order: tuple[Any, ...], limit: int, offset: int
    ) -> tuple[list[ReviewTask], int]:
        total = int(await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0)
        rows = await self.session.scalars(query.order_by(*order).limit(limit).offset(offset))
        return list(rows), total

    async def created_per_step(self, cycle_id: uuid.UUID) -> dict[str, int]:
        """step -> tasks created so far about the participants still in the cycle (any status)."""
        rows = await self.session.execute(
            select(ReviewTask.step, func.count())
            .join(
                CycleParticipant,
                and_(
                    CycleParticipant.cycle_id == ReviewTask.cycle_id,
                    CycleParticipant.person_id == ReviewTask.person_id,
                ),
            )
            .where(ReviewTask.cycle_id == cycle_id, CycleParticipant.closed_reason.is_(None))
            .group_by(ReviewTask.step)
        )
        return {step: int(count) for step, count in rows.tuples()}

    async def statuses_of(
        self, cycle_id: uuid.UUID, person_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, str]]:
        """person -> step -> status of these participants' tasks in one cycle (one query)."""
        rows = await self.session.execute(
            select(ReviewTask.person_id, ReviewTask.step, ReviewTask.status).where(
                ReviewTask.cycle_id == cycle_id, ReviewTask.person_id.in_(list(person_ids))
            )
        )
        found: dict[uuid.UUID, dict[str, str]] = {}
        for person_id, step, status in rows.tuples():
            found.setdefault(person_id, {})[step] = status
        return found

    async def counts(self, cycle_id: uuid.UUID, now: datetime) -> list[tuple[str, str, str, bool, int]]:
        """(org unit, step, status, past due, tasks) of a cycle, one grouped query."""
        late = ReviewTask.due_at < now
        query = (
            select(CycleParticipant.org_unit, ReviewTask.step, ReviewTask.status, late, func.count())
            .join(
                CycleParticipant,
                and_(
                    CycleParticipant.cycle_id == ReviewTask.cycle_id,
                    CycleParticipant.person_id == ReviewTask.person_id,
                ),
            )
            .where(ReviewTask.cycle_id == cycle_id)
            .group_by(CycleParticipant.org_unit, ReviewTask.step, ReviewTask.status, late)
        )
        rows = (await self.session.execute(query)).all()
        return [(row[0], row[1], row[2], bool(row[3]), int(row[4])) for row in rows]


class EffectRepository:
    """Idempotency keys of applied effects."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> EffectRepository:
        return cls(session)

    async def claim(self, key: str) -> bool:
        """True the first time ``key`` is claimed (in this transaction), False on a repeat."""
        if await self.session.get(ActivityEffect, key) is not None:
            return False
        try:
            async with self.session.begin_nested():
                self.session.add(ActivityEffect(key=key))
                await self.session.flush()
        except IntegrityError:
            return False
        return True


class CalibrationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CalibrationRepository:
        return cls(session)

    async def get(self, session_id: uuid.UUID, *, for_update: bool = False) -> CalibrationSession | None:
        return await self.session.get(CalibrationSession, session_id, with_for_update=for_update)

    async def of_cycle(self, cycle_id: uuid.UUID) -> list[CalibrationSession]:
        rows = await self.session.scalars(
            select(CalibrationSession)
            .where(CalibrationSession.cycle_id == cycle_id)
            .order_by(CalibrationSession.org_unit)
        )
        return list(rows)

    async def add(self, calibration: CalibrationSession) -> None:
        self.session.add(calibration)
        await self.session.flush()

    async def add_adjustment(self, adjustment: CalibrationAdjustment) -> None:
        self.session.add(adjustment)
        await self.session.flush()

    async def adjustments(self, session_id: uuid.UUID) -> list[CalibrationAdjustment]:
        rows = await self.session.scalars(
            select(CalibrationAdjustment)
            .where(CalibrationAdjustment.session_id == session_id)
            .order_by(CalibrationAdjustment.created_at, CalibrationAdjustment.id)
        )
        return list(rows)

    async def adjusted(self, session_id: uuid.UUID, person_id: uuid.UUID, kind: str) -> bool:
        """Whether HR set this person's rating of ``kind`` in the session."""
        found = await self.session.scalar(
            select(CalibrationAdjustment.id)
            .where(
                CalibrationAdjustment.session_id == session_id,
                CalibrationAdjustment.person_id == person_id,
                CalibrationAdjustment.kind == kind,
            )
            .limit(1)
        )
        return found is not None

    async def all_final(self, cycle_id: uuid.UUID) -> bool:
        open_count = await self.session.scalar(
            select(func.count())
            .select_from(CalibrationSession)
            .where(CalibrationSession.cycle_id == cycle_id, CalibrationSession.status != "final")
        )
        return not open_count


class DisputeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> DisputeRepository:
        return cls(session)

    async def get(self, dispute_id: uuid.UUID, *, for_update: bool = False) -> RatingDispute | None:
        return await self.session.get(RatingDispute, dispute_id, with_for_update=for_update)

    async def of_task(self, task_id: str) -> RatingDispute | None:
        found: RatingDispute | None = await self.session.scalar(
            select(RatingDispute).where(RatingDispute.task_id == task_id)
        )
        return found

    async def add(self, dispute: RatingDispute) -> RatingDispute:
        self.session.add(dispute)
        await self.session.flush()
        return dispute

    async def page(
        self,
        *,
        person_ids: Sequence[uuid.UUID] | None,
        status: str | None,
        cycle_id: uuid.UUID | None,
        person_id: uuid.UUID | None,
        limit: int,
        offset: int,
        overdue: bool | None = None,
        now: datetime | None = None,
    ) -> tuple[list[RatingDispute], int]:
        """Oldest open first; ``person_ids`` None means everyone's (HR).

        ``overdue`` True: open and past ``due_at`` at ``now``; False: the others (resolved or not due yet).
        """
        query = select(RatingDispute)
        if overdue is not None:
            late = and_(RatingDispute.status == "open", RatingDispute.due_at <= (now or utcnow()))
            query = query.where(late if overdue else not_(late))
        if person_ids is not None:
            query = query.where(RatingDispute.person_id.in_(list(person_ids)))
        if status is not None:
            query = query.where(RatingDispute.status == status)
        if cycle_id is not None:
            query = query.where(RatingDispute.cycle_id == cycle_id)
        if person_id is not None:
            query = query.where(RatingDispute.person_id == person_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(RatingDispute.status, RatingDispute.due_at, RatingDispute.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def due_for_reminder(self, now: datetime, before: datetime, *, limit: int) -> list[uuid.UUID]:
        """Open, unreminded disputes due after ``now`` and by ``before``; rows another replica holds are skipped.

        One already past due is escalated instead: a reminder after the fact would say nothing new.
        """
        return await self._open_where(
            RatingDispute.reminded_at.is_(None), RatingDispute.due_at > now, before=before, limit=limit
        )

    async def due_for_escalation(self, now: datetime, again_after: timedelta | None, *, limit: int) -> list[uuid.UUID]:
        """Open disputes past due, never escalated or (with ``again_after``) last escalated that long ago."""
        return await self._open_where(self._escalation_due(now, again_after), before=now, limit=limit)

    @staticmethod
    def _escalation_due(now: datetime, again_after: timedelta | None) -> ColumnElement[bool]:
        never = RatingDispute.escalated_at.is_(None)
        return never if again_after is None else or_(never, RatingDispute.escalated_at <= now - again_after)

    async def _open_where(self, *conditions: ColumnElement[bool], before: datetime, limit: int) -> list[uuid.UUID]:
        rows = await self.session.scalars(
            select(RatingDispute.id)
            .where(RatingDispute.status == "open", RatingDispute.due_at <= before, *conditions)
            .order_by(RatingDispute.due_at, RatingDispute.id)
            .limit(limit)
            # PostgreSQL: a replica sweeping at once takes other rows; SQLite ignores it (one writer).
            .with_for_update(skip_locked=True)
        )
        return list(rows)

    async def mark_reminded(self, dispute_id: uuid.UUID, now: datetime) -> RatingDispute | None:
        """Set ``reminded_at`` if still open and unset; the dispute when this call set it, else None."""
        return await self._mark(dispute_id, RatingDispute.reminded_at, now)

    async def mark_escalated(
        self, dispute_id: uuid.UUID, now: datetime, again_after: timedelta | None
    ) -> RatingDispute | None:
        """Count one more escalation if it is still due; the dispute when this call counted it, else None."""
        # The due condition is the guard: once a racing sweep set escalated_at to now, it no longer holds.
        marked = await self.session.execute(
            update(RatingDispute)
            .where(
                RatingDispute.id == dispute_id,
                RatingDispute.status == "open",
                self._escalation_due(now, again_after),
            )
            .values(escalated_at=now, escalations=RatingDispute.escalations + 1)
            .execution_options(synchronize_session=False)
        )
        if int(getattr(marked, "rowcount", 0) or 0) != 1:
            return None
        return await self.session.get(RatingDispute, dispute_id, populate_existing=True)

    async def _mark(
        self, dispute_id: uuid.UUID, column: InstrumentedAttribute[datetime | None], now: datetime
    ) -> RatingDispute | None:
        # The guard is the WHERE, not the earlier SELECT: on PostgreSQL a racing UPDATE waits for
        # the first to commit and then matches nothing; on SQLite writers are serialised.
        marked = await self.session.execute(
            update(RatingDispute)
            .where(RatingDispute.id == dispute_id, RatingDispute.status == "open", column.is_(None))
            .values({column: now})
            .execution_options(synchronize_session=False)
        )
        if int(getattr(marked, "rowcount", 0) or 0) != 1:
            return None
        return await self.session.get(RatingDispute, dispute_id, populate_existing=True)
