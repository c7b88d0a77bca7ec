"""All SQL of the goals service.

Hierarchies (the alignment tree of goals, the reporting lines of the people projection) are
read with one recursive CTE each, never level by level.
"""

from __future__ import annotations

import itertools
import json
import operator
import typing
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Date,
    Float,
    Select,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    false,
    func,
    literal,
    or_,
    select,
    true,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from services.goals.models import AuditEntry, CheckIn, CycleScore, Goal, Person
from services.goals.rules import (
    AT_RISK_GAP,
    DONE_AT,
    NOT_STARTED_GRACE,
    ON_TRACK_GAP,
    Level,
    Status,
    Visibility,
)
from shared.database import insert_many

if TYPE_CHECKING:
    from services.goals.events import ComputedScore

# SQLite allows 32766 bound parameters; PostgreSQL 32767. Chunks of ids stay far below.
IN_CHUNK = 1000
CYCLE_SCORES = typing.cast(Table, CycleScore.__table__)
# What a cycle's scoring writes: every column of ``cycle_scores``, each a field of ComputedScore.
CYCLE_SCORE_COLUMNS = tuple(column.name for column in CYCLE_SCORES.columns)
# An alignment chain longer than this is a data error; the CTE stops there instead of looping.
MAX_TREE_DEPTH = 64


class days_between(FunctionElement[float]):
    """Days from the first date to the second, as a float, on SQLite and PostgreSQL."""

    type = Float()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = list(element.clauses)
    # Both sides cast: a bound date parameter has no type of its own on PostgreSQL.
    later, earlier = compiler.process(second, **kw), compiler.process(first, **kw)
    return f"CAST((CAST({later} AS DATE) - CAST({earlier} AS DATE)) AS DOUBLE PRECISION)"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: days_between, compiler: SQLCompiler, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"(julianday({compiler.process(second, **kw)}) - julianday({compiler.process(first, **kw)}))"


def goal_end_column() -> ColumnElement[date]:
    return func.coalesce(Goal.due_date, Goal.period_end)


def status_expression(today: date) -> ColumnElement[str]:
    """``rules.derive_status`` in SQL, so lists can filter on the derived status."""
    # No CAST here: SQLite would turn CAST('2026-05-16' AS DATE) into the number 2026.
    day = literal(today, Date)
    start, end = Goal.period_start, goal_end_column()
    span = days_between(start, end)
    elapsed_pct = 100.0 * days_between(start, day) / case((span < 1, 1.0), else_=span)
    return case(
        (Goal.status_override.is_not(None), Goal.status_override),
        (Goal.progress >= DONE_AT, Status.done.value),
        (and_(end.is_not(None), day > end), Status.behind.value),
        (or_(start.is_(None), end.is_(None)), case((Goal.progress > 0, Status.on_track.value), else_="not_started")),
        (day < start, Status.not_started.value),
        (and_(Goal.progress <= 0, elapsed_pct < NOT_STARTED_GRACE * 100), Status.not_started.value),
        (elapsed_pct - Goal.progress <= ON_TRACK_GAP, Status.on_track.value),
        (elapsed_pct - Goal.progress <= AT_RISK_GAP, Status.at_risk.value),
        else_=Status.behind.value,
    )


def not_cancelled() -> ColumnElement[bool]:
    return or_(Goal.status_override.is_(None), Goal.status_override != Status.cancelled.value)


def chunks(ids: Sequence[uuid.UUID], size: int = IN_CHUNK) -> Iterable[Sequence[uuid.UUID]]:
    for index in range(0, len(ids), size):
        yield ids[index : index + size]


@dataclass(frozen=True, slots=True)
class GoalFilters:
    owner_id: uuid.UUID | None = None
    level: Level | None = None
    status: Status | None = None
    aligned_to_id: uuid.UUID | None = None
    visibility: Visibility | None = None
    department: str | None = None
    period_start: date | None = None  # goals whose time overlaps [period_start, period_end]
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose goals a caller may see beyond public ones: their own, and their reports' (any depth)."""

    person_id: uuid.UUID
    sees_everything: bool


TREE_COLUMNS = (
    Goal.id,
    Goal.aligned_to_id,
    Goal.owner_id,
    Goal.level,
    Goal.visibility,
    Goal.title,
    Goal.progress,
    Goal.progress_source,
    Goal.status_override,
    Goal.period_start,
    Goal.period_end,
    Goal.due_date,
    Goal.weight,
)


# A cycle's scoring on SQLite, straight through the session's aiosqlite connection (same
# transaction): SQLAlchemy's adapter costs four hops to aiosqlite's thread per statement
# (cursor, execute, fetchall, close) and a Row and a bind conversion per value, more than
# SQLite's own work for these reads. The same statements as the Core ones of
# ``GoalRepository._scored`` and ``CycleScoreRepository.revisions/replace`` (a test compares them),
# with UUIDs in SQLite's stored form (32 hex digits) and dates as ISO text.
SQLITE_SCORED = (
    "SELECT owner_id, id, weight, progress FROM goals WHERE owner_id IN ({owners}) AND level = ? "
    "AND coalesce(due_date, period_end) >= ? AND coalesce(due_date, period_end) <= ? "
    "AND (status_override IS NULL OR status_override != ?) ORDER BY owner_id, id"
)
SQLITE_REVISIONS = "SELECT person_id, revision FROM cycle_scores WHERE cycle_id = ? AND person_id IN ({people})"
SQLITE_DELETE_SCORES = "DELETE FROM cycle_scores WHERE cycle_id = ? AND person_id IN ({people})"


def marks(count: int) -> str:
    return ", ".join("?" * count)


async def sqlite_driver(session: AsyncSession) -> Any | None:
    """The aiosqlite connection under the session's transaction on SQLite, else None.

    Flushed first, as the ORM's autoflush would before a query.
    """
    await session.flush()
    connection = await session.connection()
    if connection.dialect.name != "sqlite":
        return None
    return (await connection.get_raw_connection()).driver_connection


def uuid_text(value: object) -> str:
    """A UUID column read as text (``TREE_TEXT_COLUMNS``), in its usual dashed form, on both backends."""
    if isinstance(value, str):
        if len(value) == 32:  # SQLite stores the 32 hex digits
            return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"
        return value
    return str(value)


# The tree read skips the UUID type's per-value conversion (a third of its time at 100,000
# goals): ids come back as text and go out as text.
TREE_TEXT_COLUMNS = (
    type_coerce(Goal.id, String),
    type_coerce(Goal.aligned_to_id, String),
    type_coerce(Goal.owner_id, String),
    *TREE_COLUMNS[3:],
)


class PeopleRepository:
    """Reporting lines from the local people projection."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> PeopleRepository:
        return cls(session)

    @staticmethod
    def reports_cte(manager_id: uuid.UUID, name: str = "reports") -> CTE:
        """Everyone under ``manager_id``, any depth (UNION, so bad data with a loop still ends)."""
        tree = select(Person.id).where(Person.manager_id == manager_id).cte(name, recursive=True)
        return tree.union(select(Person.id).where(Person.manager_id == tree.c.id))

    async def reports_of(self, manager_id: uuid.UUID) -> set[uuid.UUID]:
        tree = self.reports_cte(manager_id)
        return set(await self.session.scalars(select(tree.c.id)))

    async def managers_of(self, person_id: uuid.UUID) -> set[uuid.UUID]:
        """The chain of managers above ``person_id`` (one recursive query up the tree)."""
        chain = (
            select(Person.manager_id.label("id"))
            .where(Person.id == person_id, Person.manager_id.is_not(None))
            .cte("managers", recursive=True)
        )
        chain = chain.union(select(Person.manager_id).where(Person.id == chain.c.id, Person.manager_id.is_not(None)))
        return {row for row in await self.session.scalars(select(chain.c.id)) if row is not None}

    async def members(self, *, manager_id: uuid.UUID | None, department: str | None, subtree: bool) -> list[uuid.UUID]:
        """Active people of a team (direct reports), a manager's subtree or a department."""
        query: Select[tuple[uuid.UUID]]
        if department is not None:
            query = select(Person.id).where(Person.department == department)
        elif subtree:
            assert manager_id is not None
            tree = self.reports_cte(manager_id)
            query = select(Person.id).join(tree, Person.id == tree.c.id)
        else:
            query = select(Person.id).where(Person.manager_id == manager_id)
        rows = await self.session.scalars(query.where(Person.active.is_(True)).order_by(Person.id))
        return list(rows)


class GoalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> GoalRepository:
        return cls(session)

    # ------------------------------------------------------------------ single goals

    async def get(self, goal_id: uuid.UUID, *, for_update: bool = False) -> Goal | None:
        query = (
            select(Goal)
            .where(Goal.id == goal_id)
            .options(selectinload(Goal.key_results), selectinload(Goal.milestones))
            .execution_options(populate_existing=True)
        )
        if for_update:
            query = query.with_for_update()
        goal: Goal | None = await self.session.scalar(query)
        return goal

    async def get_plain(self, goal_id: uuid.UUID) -> Goal | None:
        """The goal row alone (no key results or milestones)."""
        goal: Goal | None = await self.session.scalar(select(Goal).where(Goal.id == goal_id))
        return goal

    async def add(self, goal: Goal) -> Goal:
        self.session.add(goal)
        await self.session.flush()
        return goal

    async def add_all(self, rows: Sequence[object]) -> None:
        self.session.add_all(rows)
        await self.session.flush()

    # ------------------------------------------------------------------ lists

    def visible(self, viewer: Viewer) -> ColumnElement[bool]:
        if viewer.sees_everything:
            return true()
        reports = PeopleRepository.reports_cte(viewer.person_id, "viewer_reports")
        return or_(
            Goal.visibility == Visibility.public.value,
            Goal.owner_id == viewer.person_id,
            Goal.owner_id.in_(select(reports.c.id)),
        )

    async def search(
        self, *, viewer: Viewer, filters: GoalFilters, today: date, limit: int, offset: int
    ) -> tuple[list[Goal], int]:
        query = select(Goal).where(self.visible(viewer))
        if filters.owner_id is not None:
            query = query.where(Goal.owner_id == filters.owner_id)
        if filters.level is not None:
            query = query.where(Goal.level == filters.level.value)
        if filters.aligned_to_id is not None:
            query = query.where(Goal.aligned_to_id == filters.aligned_to_id)
        if filters.visibility is not None:
            query = query.where(Goal.visibility == filters.visibility.value)
        if filters.department is not None:
            query = query.where(Goal.department == filters.department)
        if filters.period_end is not None:
            query = query.where(or_(Goal.period_start.is_(None), Goal.period_start <= filters.period_end))
        if filters.period_start is not None:
            query = query.where(goal_end_column() >= filters.period_start)
        if filters.status is not None:
            query = query.where(status_expression(today) == filters.status.value)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.options(selectinload(Goal.key_results), selectinload(Goal.milestones))
            .order_by(Goal.created_at.desc(), Goal.id)
            .limit(limit)
            .offset(offset)
        )
        return list(rows), total

    async def statuses(self, goal_ids: Sequence[uuid.UUID], today: date) -> dict[uuid.UUID, str]:
        """The SQL-derived status of each goal (tests compare it with rules.derive_status)."""
        rows = await self.session.execute(select(Goal.id, status_expression(today)).where(Goal.id.in_(goal_ids)))
        return {goal_id: status for goal_id, status in rows.tuples()}

    # ------------------------------------------------------------------ alignment

    async def tree_rows(self, root_id: uuid.UUID) -> list[tuple[Any, ...]]:
        """The root and every goal aligned under it, any depth: one recursive query."""
        tree = (
            select(Goal.id.label("id"), literal(0).label("depth"))
            .where(Goal.id == root_id)
            .cte("alignment_tree", recursive=True)
        )
        tree = tree.union_all(
            select(Goal.id, tree.c.depth + 1)
            .join(tree, Goal.aligned_to_id == tree.c.id)
            .where(tree.c.depth < MAX_TREE_DEPTH)
        )
        rows = await self.session.execute(select(*TREE_TEXT_COLUMNS).join(tree, Goal.id == tree.c.id))
        return [tuple(row) for row in rows]

    async def ancestor_ids(self, goal_id: uuid.UUID) -> list[uuid.UUID]:
        """The goals above ``goal_id`` (nearest first), following aligned_to_id: one query."""
        chain = (
            select(Goal.aligned_to_id.label("id"), literal(1).label("depth"))
            .where(Goal.id == goal_id, Goal.aligned_to_id.is_not(None))
            .cte("ancestors", recursive=True)
        )
        chain = chain.union_all(
            select(Goal.aligned_to_id, chain.c.depth + 1)
            .join(chain, Goal.id == chain.c.id)
            .where(Goal.aligned_to_id.is_not(None), chain.c.depth < MAX_TREE_DEPTH)
        )
        rows = await self.session.execute(select(chain.c.id).order_by(chain.c.depth))
        return [row for row in rows.scalars() if row is not None]

    async def contribution_rows(self, owner_id: uuid.UUID) -> list[tuple[Any, ...]]:
        """The owner's goals and every goal above them: one recursive query up the tree."""
        chain = (
            select(Goal.id.label("id"), Goal.aligned_to_id.label("parent"), literal(0).label("depth"))
            .where(Goal.owner_id == owner_id)
            .cte("contributions", recursive=True)
        )
        chain = chain.union_all(
            select(Goal.id, Goal.aligned_to_id, chain.c.depth + 1)
            .join(chain, Goal.id == chain.c.parent)
            .where(chain.c.depth < MAX_TREE_DEPTH)
        )
        ids = select(chain.c.id).distinct().subquery()
        rows = await self.session.execute(select(*TREE_COLUMNS).join(ids, Goal.id == ids.c.id))
        return [tuple(row) for row in rows]

    # ------------------------------------------------------------------ bulk assignment

    async def copied_to(self, source_id: uuid.UUID) -> set[uuid.UUID]:
        """Owners who already hold a copy of ``source_id``."""
        return set(await self.session.scalars(select(Goal.owner_id).where(Goal.assigned_from_id == source_id)))

    # ------------------------------------------------------------------ weights and scoring

    async def scored_rows(
        self, owner_ids: Sequence[uuid.UUID], period_start: date, period_end: date
    ) -> list[tuple[uuid.UUID, uuid.UUID, float | None, float]]:
        """``(owner_id, goal_id, weight, progress)`` of the individual goals a cycle scores."""
        columns = (Goal.owner_id, Goal.id, Goal.weight, Goal.progress)
        return [tuple(row) for row in await self._scored(columns, owner_ids, period_start, period_end)]

    async def scored_per_owner(
        self, owner_ids: Sequence[uuid.UUID], period_start: date, period_end: date
    ) -> list[Sequence[tuple[str, float | None, float]]]:
        """Each owner's scored goals as ``(goal id as dashed text, weight, progress)``, in id order,
        in the order of ``owner_ids`` (an empty tuple for an owner with none).

        A cycle's scoring reads tens of thousands of rows and writes the goal ids back out as
        text, so they are read as text; owners are matched by their stored form (32 hex digits
        on SQLite, a UUID on PostgreSQL) instead of converting each row.
        """
        driver = await sqlite_driver(self.session)
        grouped: dict[object, list[tuple[str, float | None, float]]] = {}
        if driver is None:
            columns = (type_coerce(Goal.owner_id, String), type_coerce(Goal.id, String), Goal.weight, Goal.progress)
            rows = await self._scored(columns, owner_ids, period_start, period_end)
            # Rows come ordered by owner: one group per owner.
            for owner_key, group in itertools.groupby(rows, operator.itemgetter(0)):
                grouped[str(owner_key)] = [(uuid_text(g), weight, progress) for _, g, weight, progress in group]
            return [grouped.get(str(owner), ()) for owner in owner_ids]
        keys = [owner.hex for owner in owner_ids]
        for start in range(0, len(keys), IN_CHUNK):
            part = keys[start : start + IN_CHUNK]
            parameters = [*part, Level.individual.value, period_start.isoformat(), period_end.isoformat()]
            parameters.append(Status.cancelled.value)
            rows = await driver.execute_fetchall(SQLITE_SCORED.format(owners=marks(len(part))), parameters)
            for owner_key, group in itertools.groupby(rows, operator.itemgetter(0)):
                # uuid_text inline: SQLite's ids are always the 32 hex digits.
                grouped[owner_key] = [
                    (f"{g[:8]}-{g[8:12]}-{g[12:16]}-{g[16:20]}-{g[20:]}", weight, progress)
                    for _, g, weight, progress in group
                ]
        return [grouped.get(key, ()) for key in keys]

    async def _scored(
        self, columns: Sequence[Any], owner_ids: Sequence[uuid.UUID], period_start: date, period_end: date
    ) -> list[Any]:
        end = goal_end_column()
        # Core, not the ORM: these are plain column tuples and the ORM's row loading cost
        # more than the query. Flushed first, as the ORM's autoflush would.
        await self.session.flush()
        connection = await self.session.connection()
        out: list[Any] = []
        for part in chunks(owner_ids):
            rows = await connection.execute(
                select(*columns)
                .where(
                    Goal.owner_id.in_(part),
                    Goal.level == Level.individual.value,
                    end >= period_start,
                    end <= period_end,
                    not_cancelled(),
                )
                .order_by(Goal.owner_id, Goal.id)
            )
            out.extend(rows.all())
        return out

    # ------------------------------------------------------------------ suggestions corpus

    async def corpus(self, *, limit: int) -> list[tuple[str, str, int]]:
        """``(one goal id, title, uses)`` of public goals, one row per title, most used first."""
        rows = await self.session.execute(
            select(func.min(cast(Goal.id, String(36))), Goal.title, func.count())
            .where(Goal.visibility == Visibility.public.value, not_cancelled())
            .group_by(Goal.title)
            .order_by(func.count().desc(), Goal.title)
            .limit(limit)
        )
        return [(str(goal_id), title, int(uses)) for goal_id, title, uses in rows.tuples()]

    # ------------------------------------------------------------------ history

    async def check_ins(self, goal_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[CheckIn], int]:
        query = select(CheckIn).where(CheckIn.goal_id == goal_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(CheckIn.created_at.desc(), CheckIn.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def audit(self, goal_id: uuid.UUID, *, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
        query = select(AuditEntry).where(AuditEntry.goal_id == goal_id)
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(
            query.order_by(AuditEntry.created_at.desc(), AuditEntry.id).limit(limit).offset(offset)
        )
        return list(rows), total

    async def detach_check_ins(self, key_result_id: uuid.UUID) -> None:
        """The key result's check-ins stay in the history, reporting no key result."""
        # What ON DELETE SET NULL does as well; stated here so check-ins this session holds agree.
        await self.session.execute(
            update(CheckIn).where(CheckIn.key_result_id == key_result_id).values(key_result_id=None)
        )

    def record(self, goal_id: uuid.UUID, actor_id: uuid.UUID, action: str, changes: dict[str, Any]) -> None:
        self.session.add(
            AuditEntry(goal_id=goal_id, actor_id=actor_id, action=action, changes=json.dumps(changes, default=str))
        )


class CycleScoreRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @classmethod
    def from_session(cls, session: AsyncSession) -> CycleScoreRepository:
        return cls(session)

    async def revisions(self, cycle_id: uuid.UUID, person_ids: Sequence[uuid.UUID]) -> list[int]:
        """Each person's stored revision of their score in ``cycle_id``, 0 for none, in ``person_ids`` order."""
        found: dict[object, int] = {}
        driver = await sqlite_driver(self.session)
        if driver is not None:
            keys = [person.hex for person in person_ids]
            for start in range(0, len(keys), IN_CHUNK):
                part = keys[start : start + IN_CHUNK]
                rows = await driver.execute_fetchall(
                    SQLITE_REVISIONS.format(people=marks(len(part))), [cycle_id.hex, *part]
                )
                found.update(rows)
            return [found.get(key, 0) for key in keys]
        connection = await self.session.connection()  # Core: plain tuples, no ORM row loading
        for ids in chunks(person_ids):
            result = await connection.execute(
                select(CycleScore.person_id, CycleScore.revision).where(
                    CycleScore.cycle_id == cycle_id, CycleScore.person_id.in_(ids)
                )
            )
            found.update({person_id: revision for person_id, revision in result.tuples()})
        return [found.get(person, 0) for person in person_ids]

    async def replace(self, cycle_id: uuid.UUID, scores: Sequence[ComputedScore]) -> None:
        """Delete the participants' previous scores of this cycle and insert the new ones (set-based)."""
        people = [score.person_id for score in scores]
        driver = await sqlite_driver(self.session)
        for part in chunks(people):
            if driver is None:
                await self.session.execute(
                    delete(CycleScore).where(CycleScore.cycle_id == cycle_id, CycleScore.person_id.in_(part))
                )
            else:
                parameters = [cycle_id.hex, *[person.hex for person in part]]
                await driver.execute_fetchall(SQLITE_DELETE_SCORES.format(people=marks(len(part))), parameters)
        rows = list(map(operator.attrgetter(*CYCLE_SCORE_COLUMNS), scores))
        await insert_many(self.session, CYCLE_SCORES, CYCLE_SCORE_COLUMNS, rows)

    async def page(
        self, cycle_id: uuid.UUID, *, limit: int, offset: int, person_ids: Sequence[uuid.UUID] | None = None
    ) -> tuple[list[CycleScore], int]:
        query = select(CycleScore).where(CycleScore.cycle_id == cycle_id)
        if person_ids is not None:
            query = query.where(CycleScore.person_id.in_(person_ids) if person_ids else false())
        total = await self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = await self.session.scalars(query.order_by(CycleScore.person_id).limit(limit).offset(offset))
        return list(rows), total
